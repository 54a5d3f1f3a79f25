// Audit (auditor and admin): GET /v1/audit with filters, the chain's verification status, export.

import { api, endpointExists, firstExisting, listData } from "../api.js";
import { download, field, fill, formatTime, h, notAvailable, pageHeader, recordTable } from "../dom.js";

function toCsv(rows) {
  const columns = [...new Set(rows.flatMap(row => Object.keys(row)))];
  const cell = value => {
    const text = value !== null && typeof value === "object" ? JSON.stringify(value) : String(value ?? "");
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(","), ...rows.map(row => columns.map(name => cell(row[name])).join(","))].join("\n") + "\n";
}

export async function render(main) {
  fill(main, ...pageHeader("Audit", "Security-relevant events of this tenant, hash-chained and signed."));
  if (!(await endpointExists("/v1/audit"))) {
    main.append(notAvailable("The audit log", "GET /v1/audit"));
    return;
  }
  const action = h("input", { type: "text", name: "action", placeholder: "e.g. key.created" });
  const actor = h("input", { type: "text", name: "actor", placeholder: "key id or prefix" });
  const since = h("input", { type: "date", name: "since" });
  const until = h("input", { type: "date", name: "until" });
  const filters = h("form", { class: "card filters", role: "search", "aria-label": "Filter audit records" },
    h("div", { class: "field-row" }, field("Action", action).wrap, field("Actor", actor).wrap, field("From", since).wrap, field("To", until).wrap),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Filter")));
  const chain = h("p", { class: "badge chain", role: "status" }, "Chain: checking…");
  const exports = h("div", { class: "actions" });
  const table = h("div");
  main.append(filters, chain, exports, table);
  let rows = [];

  async function showChain(body) {
    let status = body && (body.chain || body.verification);
    if (!status) {
      const path = await firstExisting(["/v1/audit/verify", "/v1/audit/verification"]);
      status = path ? await api(path).catch(error => ({ error: error.message })) : null;
    }
    if (!status) { chain.textContent = "Chain verification is not available on this server."; chain.dataset.state = "unavailable"; return; }
    const ok = status.ok ?? status.valid ?? status.intact ?? (Array.isArray(status.problems) ? status.problems.length === 0 : undefined);
    chain.dataset.state = ok === true ? "verified" : ok === false ? "broken" : "unknown";
    chain.textContent = ok === true ? "Chain: verified intact" : ok === false
      ? `Chain: problems found (${(status.problems || []).map(problem => `${problem.problem ?? problem.kind} at seq ${problem.seq}`).join(", ") || status.error || "see details"})`
      : `Chain: ${JSON.stringify(status)}`;
  }

  async function load() {
    const query = new URLSearchParams({ limit: "200" });
    if (action.value) query.set("action", action.value);
    if (since.value) query.set("since", String(Math.floor(new Date(`${since.value}T00:00:00`) / 1000)));
    if (until.value) query.set("until", String(Math.floor(new Date(`${until.value}T23:59:59`) / 1000)));
    const body = await api(`/v1/audit?${query}`);
    // the server filters by action and time; the actor filter runs here
    rows = listData(body).filter(row => !actor.value || String(row.actor || "").includes(actor.value));
    fill(table, rows.length ? recordTable("Audit records", rows, [
      ["Seq", row => row.seq ?? row.id],
      ["Time", row => (typeof row.time === "string" ? row.time : formatTime(row.time ?? row.created_at))],
      ["Target", row => row.target ?? ""],
      ["Actor", row => row.actor],
      ["Action", row => row.action ?? row.type],
      ["Details", row => row.details ?? row.data ?? ""],
    ]) : h("p", {}, "No records match."));
    fill(exports,
      h("button", { type: "button", onclick: () => exportRows("jsonl") }, "Export JSONL"),
      h("button", { type: "button", onclick: () => exportRows("csv") }, "Export CSV"));
    await showChain(body);
  }

  function exportRows(format) {
    const text = format === "csv" ? toCsv(rows) : rows.map(row => JSON.stringify(row)).join("\n") + "\n";
    const url = URL.createObjectURL(new Blob([text], { type: format === "csv" ? "text/csv" : "application/x-ndjson" }));
    download(url, `gesso-audit.${format}`);
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  filters.addEventListener("submit", event => { event.preventDefault(); load(); });
  await load();
}
