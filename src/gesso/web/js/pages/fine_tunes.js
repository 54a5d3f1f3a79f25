// Fine-tunes: OpenAI's /v1/fine_tuning/jobs with Gesso's pause/resume/approve. Start one from a
// dataset, watch loss and checkpoint samples by polling events, control it, try the result.

import { api, authorisedObjectUrl, endpointExists, endpointMissing, listData } from "../api.js";
import { field, fill, formatTime, h, notAvailable, pageHeader, recordTable, toast } from "../dom.js";
import { lossChart } from "../loss_chart.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const POLL_MS = 2000;
const APPROVALS_PATH = "/v1/organization/models";

/** {step, loss} points from metric events and checkpoints, latest value per step. */
export function lossPoints(events, checkpoints) {
  const byStep = new Map();
  for (const event of events) {
    const data = event.data || {};
    const step = data.step ?? data.step_number;
    const loss = data.train_loss ?? data.loss;
    if (typeof step === "number" && typeof loss === "number") byStep.set(step, loss);
  }
  for (const checkpoint of checkpoints) {
    const metrics = checkpoint.metrics || {};
    if (typeof metrics.train_loss === "number" && !byStep.has(checkpoint.step_number)) byStep.set(checkpoint.step_number, metrics.train_loss);
  }
  return [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([step, loss]) => ({ step, loss }));
}

/** Sample-image addresses in events and checkpoints (any "...sample...url" string field). */
function samplePaths(objects) {
  const found = [];
  const visit = (value, name = "") => {
    if (typeof value === "string" && /sample/i.test(name) && (value.startsWith("/") || value.startsWith(location.origin))) found.push(value);
    else if (Array.isArray(value)) value.forEach(item => visit(item, name));
    else if (value && typeof value === "object") Object.entries(value).forEach(([key, item]) => visit(item, key));
  };
  objects.forEach(object => visit(object));
  return [...new Set(found)];
}

export async function render(main, session, params) {
  fill(main, ...pageHeader("Fine-tunes", "Teach a base model your own images with a LoRA adapter."));
  if (!(await endpointExists("/v1/fine_tuning/jobs"))) {
    main.append(notAvailable("Fine-tuning", "/v1/fine_tuning/jobs"));
    return;
  }
  const canWrite = session.can("images:create");
  const isAdmin = session.me.role === "admin";
  const detail = h("section", { class: "card job-detail", "aria-labelledby": "job-title", hidden: true });
  const listBody = h("div");
  let timer = null;
  let stopped = false;
  let selected = params.get("job");
  const sampleUrls = new Map();

  if (canWrite) main.append(await startForm());
  main.append(h("section", { "aria-labelledby": "jobs-title" }, h("h2", { id: "jobs-title" }, "Fine-tuning jobs"), listBody), detail);

  async function startForm() {
    const files = (await endpointExists("/v1/files")) ? listData(await api("/v1/files?purpose=fine-tune")) : [];
    const models = listData(await api("/v1/models")).map(model => model.id);
    const file = h("select", { name: "training_file", required: true }, files.map(item => h("option", { value: item.id }, item.filename || item.id)));
    const model = h("select", { name: "model" }, models.map(id => h("option", { value: id }, id)));
    const suffix = h("input", { type: "text", name: "suffix", maxlength: "40", pattern: "[a-z0-9-]*", placeholder: "e.g. acme" });
    const epochs = h("input", { type: "number", name: "n_epochs", min: "1", max: "1000", placeholder: "auto" });
    const batch = h("input", { type: "number", name: "batch_size", min: "1", max: "64", placeholder: "auto" });
    const lr = h("input", { type: "number", name: "learning_rate_multiplier", min: "0.01", max: "10", step: "0.01", placeholder: "auto" });
    const fields = [field("Dataset", file), field("Base model", model), field("Suffix", suffix, "Part of the new model's name."),
      field("Epochs", epochs), field("Batch size", batch), field("Learning-rate multiplier", lr)];
    const error = h("p", { class: "field-error", role: "alert" });
    const form = h("form", { class: "card", "aria-label": "Start a fine-tune" },
      h("h2", {}, "Start a fine-tune"),
      files.length ? null : h("p", { class: "hint" }, "Upload a dataset first (Datasets page)."),
      h("div", { class: "field-row" }, fields.map(item => item.wrap)),
      h("p", { class: "hint" }, "Empty hyperparameters use the server's defaults."),
      error,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", disabled: !files.length }, "Start fine-tune")));
    form.addEventListener("submit", async event => {
      event.preventDefault();
      error.textContent = "";
      const hyperparameters = {};
      if (epochs.value) hyperparameters.n_epochs = Number(epochs.value);
      if (batch.value) hyperparameters.batch_size = Number(batch.value);
      if (lr.value) hyperparameters.learning_rate_multiplier = Number(lr.value);
      const body = { training_file: file.value, model: model.value };
      if (suffix.value) body.suffix = suffix.value;
      if (Object.keys(hyperparameters).length) body.hyperparameters = hyperparameters;
      try {
        const job = await api("/v1/fine_tuning/jobs", { json: body });
        toast(`Started ${job.id}.`);
        selected = job.id;
        await refresh();
      } catch (failure) {
        error.textContent = `Could not start: ${failure.message}`;
      }
    });
    return form;
  }

  async function control(job, action) {
    try {
      await api(`/v1/fine_tuning/jobs/${encodeURIComponent(job.id)}/${action}`, { method: "POST" });
      toast(`${action} sent for ${job.id}.`);
    } catch (error) {
      toast(endpointMissing(error) ? `${action} is not available on this server.` : `Could not ${action}: ${error.message}`);
    }
    await refresh();
  }

  /** The model's approval state from the admin's model list ("approved", "pending", ...), or null. */
  async function approvalOf(modelId) {
    if (!(await endpointExists(APPROVALS_PATH))) return null;
    const entry = listData(await api(APPROVALS_PATH).catch(() => ({ data: [] }))).find(model => model.id === modelId);
    return entry ? entry.approval : null;
  }

  async function approve(job) {
    try {
      await api(`${APPROVALS_PATH}/${encodeURIComponent(job.fine_tuned_model)}/approve`, { method: "POST" });
      toast(`Approved ${job.fine_tuned_model}.`);
    } catch (error) {
      toast(`Could not approve: ${error.message}`);
    }
    await refresh();
  }

  async function showJob(id) {
    const job = await api(`/v1/fine_tuning/jobs/${encodeURIComponent(id)}`);
    const events = listData(await api(`/v1/fine_tuning/jobs/${encodeURIComponent(id)}/events?limit=100`).catch(() => ({ data: [] })));
    const checkpoints = listData(await api(`/v1/fine_tuning/jobs/${encodeURIComponent(id)}/checkpoints?limit=100`).catch(() => ({ data: [] })));
    const samples = h("div", { class: "samples" });
    for (const path of samplePaths([...checkpoints, ...events]).slice(-4)) {
      if (!sampleUrls.has(path)) sampleUrls.set(path, await authorisedObjectUrl(path).catch(() => null));
      if (sampleUrls.get(path)) samples.append(h("img", { src: sampleUrls.get(path), alt: `Checkpoint samples (${path.split("/").slice(-2).join("/")})` }));
    }
    const running = !TERMINAL.has(job.status);
    const buttons = [];
    if (canWrite && running && job.status !== "paused") buttons.push(h("button", { type: "button", onclick: () => control(job, "pause") }, "Pause"));
    if (canWrite && job.status === "paused") buttons.push(h("button", { type: "button", onclick: () => control(job, "resume") }, "Resume"));
    if (canWrite && running) buttons.push(h("button", { type: "button", class: "danger", onclick: () => control(job, "cancel") }, "Cancel fine-tune"));
    const approval = isAdmin && job.fine_tuned_model ? await approvalOf(job.fine_tuned_model) : null;
    if (approval && approval !== "approved" && job.status === "succeeded") {
      buttons.push(h("button", { type: "button", onclick: () => approve(job) }, "Approve"));
    }
    if (job.fine_tuned_model && job.status === "succeeded" && session.can("images:create")) {
      buttons.push(h("a", { class: "button", href: `#/create?model=${encodeURIComponent(job.fine_tuned_model)}` }, "Try it"));
    }
    fill(detail,
      h("h2", { id: "job-title" }, `Job ${job.id}`),
      h("dl", { class: "params" },
        [["Status", job.status], ["Base model", job.model], ["New model", job.fine_tuned_model || "—"],
          ["Approval", approval], ["Dataset", job.training_file], ["Created", formatTime(job.created_at)], ["Finished", formatTime(job.finished_at)],
          ["Error", job.error && job.error.message]].filter(([, value]) => value).map(([name, value]) => [h("dt", {}, name), h("dd", { dataset: { field: name.toLowerCase() } }, value)])),
      h("div", { class: "actions" }, buttons),
      h("h3", {}, "Loss"), lossChart(lossPoints(events, checkpoints)),
      h("h3", {}, "Checkpoint samples"), samples.children.length ? samples : h("p", { class: "hint" }, "No samples yet."),
      h("details", {}, h("summary", {}, `Events (${events.length})`),
        h("ol", { class: "events" }, events.map(event => h("li", {}, `${formatTime(event.created_at)} ${event.level || ""} ${event.message || event.type || ""}`)))));
    detail.hidden = false;
    return job;
  }

  async function refresh() {
    const jobs = listData(await api("/v1/fine_tuning/jobs?limit=50"));
    fill(listBody, jobs.length ? recordTable("Fine-tuning jobs", jobs, [
      ["Job", job => h("button", { type: "button", class: "link", onclick: () => { selected = job.id; refresh(); } }, job.id)],
      ["Status", job => job.status],
      ["Base", job => job.model],
      ["New model", job => job.fine_tuned_model || ""],
      ["Created", job => formatTime(job.created_at)],
    ]) : h("p", {}, "No fine-tunes yet."));
    clearTimeout(timer);
    if (!selected) return;
    const job = await showJob(selected).catch(error => {
      fill(detail, h("p", { class: "notice error", role: "alert" }, `Could not load job ${selected}: ${error.message}`));
      detail.hidden = false;
      return null;
    });
    if (!stopped && job && !TERMINAL.has(job.status)) timer = setTimeout(refresh, POLL_MS);
  }

  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
