// Datasets: fine-tune uploads through OpenAI's /v1/files (purpose "fine-tune"): upload a zip,
// read the validation report row by row, preview images and captions, delete with a cascade warning.

import { api, ApiError, authorisedObjectUrl, endpointExists, listData } from "../api.js";
import { confirmDialog, field, fill, formatBytes, formatTime, h, notAvailable, pageHeader, recordTable, toast } from "../dom.js";

/** Rows of a validation report, wherever the server put them. */
export function reportRows(object) {
  if (!object || typeof object !== "object") return [];
  for (const name of ["problems", "rows", "bad_rows", "errors", "details"]) {
    if (Array.isArray(object[name]) && object[name].length && typeof object[name][0] === "object") return object[name];
  }
  for (const name of ["error", "validation", "report"]) {
    const rows = reportRows(object[name]);
    if (rows.length) return rows;
  }
  return [];
}

/** A same-origin address as a path (the key is only ever sent to this server), or null. */
function sameOriginPath(address) {
  if (typeof address !== "string" || !address) return null;
  const url = new URL(address, location.origin);
  return url.origin === location.origin ? url.pathname + url.search : null;
}

function reportTable(caption, rows) {
  return recordTable(caption, rows, [
    ["Line", row => row.line ?? row.row ?? row.index ?? ""],
    ["File", row => row.file_name ?? row.file ?? row.path ?? row.image ?? ""],
    ["Problem / caption", row => row.reason ?? row.problem ?? row.message ?? row.text ?? row.caption ?? ""],
  ]);
}

export async function render(main, session) {
  fill(main, ...pageHeader("Datasets", "Images and captions for fine-tuning, uploaded as a zip, tar or JSONL file."));
  if (!(await endpointExists("/v1/files"))) {
    main.append(notAvailable("Dataset upload", "/v1/files"));
    return;
  }
  const canWrite = session.can("images:create");
  const report = h("section", { class: "card report", "aria-labelledby": "report-title", hidden: true });
  const listing = h("section", { "aria-labelledby": "datasets-title" }, h("h2", { id: "datasets-title" }, "Uploaded datasets"));
  const listBody = h("div");
  listing.append(listBody);

  if (canWrite) {
    const fileInput = h("input", { type: "file", name: "file", required: true, accept: ".zip,.tar,.tgz,.gz,.bz2,.xz,.jsonl" });
    const upload = field("Dataset file", fileInput, "A zip or tar of images with metadata.jsonl ({\"file_name\", \"text\"} per line), or JSONL.");
    const button = h("button", { type: "submit", class: "primary" }, "Upload dataset");
    const form = h("form", { class: "card", "aria-label": "Upload a dataset" }, upload.wrap, h("div", { class: "actions" }, button));
    form.addEventListener("submit", async event => {
      event.preventDefault();
      upload.error.textContent = "";
      if (!fileInput.files.length) { upload.error.textContent = "Choose a file first."; return; }
      const body = new FormData();
      body.append("purpose", "fine-tune");
      body.append("file", fileInput.files[0]);
      button.disabled = true;
      try {
        const file = await api("/v1/files", { form: body });
        toast(`Uploaded ${file.filename || file.id}.`);
        form.reset();
        await refresh();
        await showDetails(file.id);
      } catch (error) {
        upload.error.textContent = `Upload refused: ${error.message}`;
        showReport("Upload refused", error.message, reportRows(error instanceof ApiError ? error.body : null));
      } finally {
        button.disabled = false;
      }
    });
    main.append(form);
  }
  main.append(report, listing);

  function showReport(title, message, rows, extra = []) {
    fill(report,
      h("h2", { id: "report-title", tabindex: "-1" }, title),
      message ? h("p", { class: "report-message" }, message) : null,
      rows.length ? reportTable(`${title}: rows`, rows) : null,
      extra);
    report.hidden = false;
    report.querySelector("h2").focus();
  }

  async function showDetails(id) {
    const file = await api(`/v1/files/${encodeURIComponent(id)}`);
    const extra = [];
    const preview = sameOriginPath(file.preview_url) || `/v1/files/${encodeURIComponent(file.id)}/preview`;
    try {
      extra.push(h("img", { class: "preview", alt: `Preview of the first images of ${file.filename}`, src: await authorisedObjectUrl(preview) }));
    } catch { /* this server has no previews */ }
    const facts = Object.entries(file).filter(([, value]) => value === null || typeof value !== "object");
    extra.unshift(h("dl", { class: "params" }, facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value ?? ""))])));
    showReport(`Dataset ${file.filename || file.id}`, "", reportRows(file), extra);
  }

  async function derivedJobs(fileId) {
    if (!(await endpointExists("/v1/fine_tuning/jobs"))) return [];
    const jobs = listData(await api("/v1/fine_tuning/jobs?limit=100"));
    return jobs.filter(job => job.training_file === fileId || job.validation_file === fileId);
  }

  async function remove(file) {
    const derived = await derivedJobs(file.id);
    const body = derived.length
      ? h("div", {},
        h("p", { class: "warning" }, `${derived.length} fine-tune${derived.length === 1 ? "" : "s"} derive from this dataset; deleting it may remove or orphan them:`),
        h("ul", {}, derived.map(job => h("li", {}, `${job.fine_tuned_model || job.id} (${job.status})`))))
      : h("p", {}, "No fine-tunes derive from this dataset.");
    if (!(await confirmDialog(`Delete ${file.filename || file.id}?`, body, "Delete dataset"))) return;
    const path = `/v1/files/${encodeURIComponent(file.id)}`;
    try {
      await api(path, { method: "DELETE" });
      toast(`Deleted ${file.filename || file.id}.`);
      report.hidden = true;
    } catch (error) {
      if (error.status !== 409) { toast(`Could not delete: ${error.message}`); return; }
      // models were trained on it: the server asks for an explicit cascade
      const cascade = h("div", {}, h("p", { class: "warning" }, error.message),
        h("p", {}, "Deleting the dataset and everything derived from it cannot be undone."));
      if (!(await confirmDialog(`Also delete what derives from ${file.filename || file.id}?`, cascade, "Delete dataset and derived models"))) return;
      try {
        await api(`${path}?cascade=true`, { method: "DELETE" });
        toast(`Deleted ${file.filename || file.id} and its derived models.`);
        report.hidden = true;
      } catch (failure) { toast(`Could not delete: ${failure.message}`); }
    }
    await refresh();
  }

  async function refresh() {
    const files = listData(await api("/v1/files?purpose=fine-tune"));
    if (!files.length) { fill(listBody, h("p", {}, "No datasets yet.")); return; }
    fill(listBody, recordTable("Datasets", files, [
      ["Name", file => file.filename],
      ["Size", file => formatBytes(file.bytes)],
      ["Images", file => file.image_count ?? file.images ?? ""],
      ["Status", file => file.status ?? ""],
      ["Uploaded", file => formatTime(file.created_at)],
      ["", file => h("div", { class: "actions" },
        h("button", { type: "button", "aria-label": `Details of ${file.filename}`, onclick: () => showDetails(file.id) }, "Details"),
        canWrite ? h("button", { type: "button", class: "danger", "aria-label": `Delete ${file.filename}`, onclick: () => remove(file) }, "Delete") : null)],
    ]));
  }

  await refresh();
}
