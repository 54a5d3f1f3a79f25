// Admin: API keys (create, revoke, secret shown once), tenant policy, usage per key. Built
// against the key-management endpoints where the server has them; each part says when it has not.

import { api, endpointMissing, firstExisting, listData } from "../api.js";
import { confirmDialog, field, fill, formatTime, h, notAvailable, pageHeader, recordTable, toast } from "../dom.js";

const KEY_PATHS = ["/v1/organization/api_keys", "/v1/keys", "/v1/api_keys"];
const POLICY_PATHS = ["/v1/organization/settings", "/v1/tenant/policy", "/v1/tenant/settings", "/v1/policy", "/v1/settings"];
const USAGE_PATHS = ["/v1/organization/usage", "/v1/usage"];
const ROLES = ["developer", "viewer", "auditor", "admin"];

export async function render(main, session) {
  fill(main, ...pageHeader("Admin", `Keys and policy of tenant ${session.me.tenant.name}.`));
  const [keysPath, policyPath, usagePath] = await Promise.all([firstExisting(KEY_PATHS), firstExisting(POLICY_PATHS), firstExisting(USAGE_PATHS)]);
  main.append(await keysSection(keysPath), await policySection(policyPath), await usageSection(usagePath));
}

async function keysSection(path) {
  const section = h("section", { class: "card", "aria-labelledby": "keys-title" }, h("h2", { id: "keys-title" }, "API keys"));
  if (!path) { section.append(notAvailable("Key management", "/v1/keys")); return section; }
  const name = h("input", { type: "text", name: "key-name", maxlength: "100", required: true });
  const role = h("select", { name: "key-role" }, ROLES.map(value => h("option", { value }, value)));
  const shown = h("div", { class: "secret", role: "status" });
  const list = h("div");
  const form = h("form", { "aria-label": "Create a key" },
    h("div", { class: "field-row" }, field("Name", name).wrap, field("Role", role).wrap),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create key")));
  form.addEventListener("submit", async event => {
    event.preventDefault();
    try {
      const created = await api(path, { json: { name: name.value, role: role.value } });
      const secret = created.secret || created.key || created.value || created.api_key;
      fill(shown, h("p", {}, "Copy this key now; it will not be shown again:"), h("code", { class: "secret-value" }, secret || JSON.stringify(created)));
      form.reset();
      await refresh();
    } catch (error) { toast(`Could not create the key: ${error.message}`); }
  });

  async function revoke(key) {
    if (!(await confirmDialog(`Revoke ${key.name || key.prefix || key.id}?`, h("p", {}, "Requests with this key will fail at once."), "Revoke key"))) return;
    try {
      await api(`${path}/${encodeURIComponent(key.id)}`, { method: "DELETE" });
    } catch (error) {
      if (!endpointMissing(error)) { toast(`Could not revoke: ${error.message}`); return; }
      await api(`${path}/${encodeURIComponent(key.id)}/revoke`, { method: "POST" }).catch(failure => toast(`Could not revoke: ${failure.message}`));
    }
    await refresh();
  }

  async function refresh() {
    const keys = listData(await api(path));
    fill(list, recordTable("Keys", keys, [
      ["Name", key => key.name], ["Prefix", key => key.prefix], ["Role", key => key.role],
      ["Created", key => formatTime(key.created_at)], ["Revoked", key => formatTime(key.revoked_at)],
      ["", key => key.revoked_at ? "" : h("button", { type: "button", class: "danger", "aria-label": `Revoke ${key.name || key.prefix}`, onclick: () => revoke(key) }, "Revoke")],
    ]));
  }
  section.append(form, shown, list);
  await refresh();
  return section;
}

async function policySection(path) {
  const section = h("section", { class: "card", "aria-labelledby": "policy-title" }, h("h2", { id: "policy-title" }, "Tenant policy"));
  if (!path) { section.append(notAvailable("Tenant policy", "/v1/tenant/policy")); return section; }
  const policy = await api(path);
  // the server's names win; the alternatives are older spellings of the same settings
  const name = (...names) => names.find(candidate => candidate in policy) || names[0];
  const names = {
    retention: name("image_retention_days", "retention_days"),
    jobRetention: name("job_retention_days"),
    prompts: name("prompt_mode", "prompt_storage"),
    blocked: name("blocked_terms"),
    approval: name("model_approval_required", "approval_required"),
  };
  const days = value => (value === null || value === undefined ? "" : String(value));
  const retention = h("input", { type: "number", min: "0", step: "any", name: names.retention, value: days(policy[names.retention]) });
  const jobRetention = h("input", { type: "number", min: "0", step: "any", name: names.jobRetention, value: days(policy[names.jobRetention]) });
  const prompts = h("select", { name: names.prompts }, ["store", "hash"].map(value => h("option", { value, selected: policy[names.prompts] === value }, value === "store" ? "store prompts" : "keep only a hash")));
  const blocked = h("textarea", { name: names.blocked, rows: "4" }, (policy[names.blocked] || []).join("\n"));
  const approval = h("input", { type: "checkbox", id: "approval-required", name: names.approval, checked: Boolean(policy[names.approval]) });
  const error = h("p", { class: "field-error", role: "alert" });
  const form = h("form", { "aria-label": "Tenant policy" },
    h("div", { class: "field-row" },
      field("Image retention (days; empty keeps them)", retention).wrap,
      field("Job retention (days; empty keeps them)", jobRetention).wrap,
      field("Prompt storage", prompts).wrap),
    field("Blocked terms (one per line)", blocked).wrap,
    h("div", { class: "field checkbox" }, approval, h("label", { for: approval.id }, "Fine-tuned models need an admin's approval")),
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save policy")));
  form.addEventListener("submit", async event => {
    event.preventDefault();
    error.textContent = "";
    const number = input => (input.value === "" ? null : Number(input.value));
    const body = {
      [names.retention]: number(retention),
      [names.jobRetention]: number(jobRetention),
      [names.prompts]: prompts.value,
      [names.blocked]: blocked.value.split("\n").map(term => term.trim()).filter(Boolean),
      [names.approval]: approval.checked,
    };
    for (const key of Object.keys(body)) if (!(key in policy)) delete body[key]; // send only what the server knows
    for (const method of ["PATCH", "PUT", "POST"]) {
      try { await api(path, { method, json: body }); toast("Policy saved."); return; } catch (failure) {
        if (!endpointMissing(failure)) { error.textContent = `Could not save: ${failure.message}`; return; }
      }
    }
    error.textContent = "Saving the policy is not available on this server.";
  });
  section.append(form);
  return section;
}

async function usageSection(path) {
  const section = h("section", { class: "card", "aria-labelledby": "usage-title" }, h("h2", { id: "usage-title" }, "Usage per key"));
  if (!path) { section.append(notAvailable("Usage reporting", "/v1/usage")); return section; }
  const body = await api(path);
  const rows = listData(body);
  // per key: `/v1/organization/usage`'s `data`; per day and key: its `daily`
  const names = new Map(rows.map(row => [row.api_key_id, row.name || row.prefix]));
  section.append(rows.length ? recordTable("Usage per key", rows, [
    ["Name", row => row.name], ["Prefix", row => row.prefix], ["Role", row => row.role],
    ["Images", row => row.images], ["Requests", row => row.requests], ["Last image", row => formatTime(row.last_image_at)],
  ]) : h("p", {}, "No usage yet."));
  if (body.daily?.length) section.append(recordTable("Images per day", body.daily, [
    ["Day (UTC)", row => row.date], ["Key", row => names.get(row.api_key_id) || row.api_key_id], ["Images", row => row.images],
  ]));
  return section;
}
