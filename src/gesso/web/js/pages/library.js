// Library: this tenant's generated images (GET /v1/images), searchable and filterable, each with
// its parameters and a provenance badge from POST /v1/provenance/verify where the server has it.

import { api, ApiError, endpointExists, endpointMissing, listData } from "../api.js";
import { field, fill, formatTime, h, pageHeader } from "../dom.js";

const PAGE_SIZE = 24;
const VERIFY_PATH = "/v1/provenance/verify";

function dayStart(dateText) { return Math.floor(new Date(`${dateText}T00:00:00`).getTime() / 1000); }
function dayEnd(dateText) { return dayStart(dateText) + 86399; }

export async function render(main, session) {
  const models = listData(await api("/v1/models")).map(model => model.id);
  const q = h("input", { type: "search", name: "q", placeholder: "words in the prompt" });
  const model = h("select", { name: "model" }, h("option", { value: "" }, "Any model"), models.map(id => h("option", { value: id }, id)));
  const since = h("input", { type: "date", name: "since" });
  const until = h("input", { type: "date", name: "until" });
  const filters = h("form", { class: "card filters", role: "search", "aria-label": "Filter images" },
    h("div", { class: "field-row" },
      field("Search prompts", q).wrap, field("Model", model).wrap, field("From", since).wrap, field("To", until).wrap),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Search")));
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const provenanceNote = h("p", { class: "hint" });
  const grid = h("ul", { class: "library-grid", "aria-label": "Images" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  fill(main, ...pageHeader("Library", "Images made with this tenant's keys."), filters, status, provenanceNote, grid, more);

  let verifier = { available: undefined, field: "file" };
  let cursor = null;

  async function load(append) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (q.value.trim()) query.set("q", q.value.trim());
    if (model.value) query.set("model", model.value);
    if (since.value) query.set("since", String(dayStart(since.value)));
    if (until.value) query.set("until", String(dayEnd(until.value)));
    if (append && cursor) query.set("after", cursor);
    status.textContent = "Loading…";
    let page;
    try {
      page = await api(`/v1/images?${query}`);
    } catch (error) {
      status.textContent = endpointMissing(error) ? "The image library is not available on this server (no GET /v1/images endpoint)." : `Could not load images: ${error.message}`;
      return;
    }
    const items = page.data.map(card);
    if (append) grid.append(...items); else fill(grid, items);
    cursor = page.last_id;
    more.hidden = !page.has_more;
    const shown = grid.children.length;
    status.textContent = shown ? `${shown} image${shown === 1 ? "" : "s"}${page.has_more ? " (more available)" : ""}.` : "No images match.";
    verifyAll(page.data, items);
  }

  function card(image) {
    const badge = h("span", { class: "badge", dataset: { provenance: "pending" } }, "Provenance: checking…");
    const params = [
      ["Model", image.model], ["Seed", image.seed], ["Steps", image.steps], ["Guidance", image.guidance_scale],
      ["Size", image.size], ["Kind", image.kind], ["Made", formatTime(image.created_at)],
    ];
    if (image.negative_prompt) params.splice(1, 0, ["Negative", image.negative_prompt]);
    return h("li", { class: "library-item", dataset: { imageId: image.id } },
      h("figure", {},
        h("img", { src: image.url, alt: image.prompt || "generated image", loading: "lazy", width: "256", height: "256" }),
        h("figcaption", { class: "prompt" }, image.prompt || (image.kind === "variation" ? "(a variation: no prompt)" : "(no prompt stored)"))),
      h("dl", { class: "params" }, params.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value ?? "")])),
      h("div", { class: "actions" },
        badge,
        h("a", { href: image.url, download: `gesso-${image.seed}.png`, class: "button" }, "Download")));
  }

  async function verifyOne(image, item) {
    const badge = item.querySelector(".badge");
    const bytes = await (await fetch(image.url)).blob();
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const form = new FormData();
      form.append(verifier.field, bytes, `${image.id}.png`);
      try {
        const result = await api(VERIFY_PATH, { form });
        verifier.available = true;
        const ok = [result.verified, result.valid, result.intact, result.made_by_gesso].some(value => value === true)
          || ["verified", "valid", "intact", "ok"].includes(String(result.status || "").toLowerCase());
        badge.dataset.provenance = ok ? "verified" : "unverified";
        badge.textContent = ok ? "Provenance: verified" : "Provenance: not verified";
        badge.title = JSON.stringify(result);
        return;
      } catch (error) {
        if (endpointMissing(error)) { verifier.available = false; throw error; }
        // the server names the upload field it expected: use that name once
        if (error instanceof ApiError && error.status === 400 && error.param && error.param !== verifier.field && attempt === 0) {
          verifier.field = error.param;
          continue;
        }
        badge.dataset.provenance = "error";
        badge.textContent = "Provenance: check failed";
        badge.title = error.message;
        return;
      }
    }
  }

  async function verifyAll(images, items) {
    if (verifier.available === undefined && !(await endpointExists(VERIFY_PATH, "post"))) verifier.available = false;
    for (let index = 0; index < images.length; index += 1) {
      if (verifier.available === false) break;
      try { await verifyOne(images[index], items[index]); } catch { break; }
    }
    if (verifier.available === false) {
      provenanceNote.textContent = "Provenance verification is not available on this server (no POST /v1/provenance/verify endpoint).";
      for (const badge of grid.querySelectorAll(".badge[data-provenance=pending]")) {
        badge.dataset.provenance = "unavailable";
        badge.textContent = "Provenance: not available";
      }
    }
  }

  filters.addEventListener("submit", event => { event.preventDefault(); cursor = null; load(false); });
  more.addEventListener("click", () => load(true));
  await load(false);
}
