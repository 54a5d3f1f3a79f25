// Create: prompt and parameters -> streamed generation with partial previews -> results grid
// with download, copy-seed and "use as input" (masked edit or variations).

import { api, ApiError, listData } from "../api.js";
import { download, field, fill, h, pageHeader, toast } from "../dom.js";
import { maskPainter } from "../mask_painter.js";
import { readServerSentEvents } from "../sse.js";

const SIZES = ["auto", "32x32", "64x64", "128x128", "256x256", "512x512"];

function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0] % 2 ** 31;
}

// fetch() of a data: URL is refused by the page's connect-src policy, so decode it here
function dataUrlBlob(src) {
  const [head, base64] = src.split(",");
  const bytes = Uint8Array.from(atob(base64), char => char.charCodeAt(0));
  return new Blob([bytes], { type: head.slice(5).split(";")[0] });
}

function numberInput(attrs) {
  return h("input", { type: "number", inputmode: "numeric", ...attrs });
}

export async function render(main, session, params) {
  const models = listData(await api("/v1/models")).map(model => model.id);
  const wanted = params.get("model");

  const inputs = {
    prompt: h("textarea", { name: "prompt", rows: "3", required: true, maxlength: "1000" }),
    negative_prompt: h("textarea", { name: "negative_prompt", rows: "2", maxlength: "1000" }),
    model: h("select", { name: "model" }, models.map(id => h("option", { value: id, selected: id === wanted }, id))),
    size: h("select", { name: "size" }, SIZES.map(size => h("option", { value: size }, size))),
    n: numberInput({ name: "n", min: "1", max: "10", value: "2", required: true }),
    seed: numberInput({ name: "seed", min: "0", max: "2147483647", placeholder: "random" }),
    steps: numberInput({ name: "steps", min: "1", max: "100", placeholder: "server default" }),
    guidance_scale: h("input", { type: "number", name: "guidance_scale", min: "0", max: "30", step: "0.5", placeholder: "server default" }),
    partial_images: numberInput({ name: "partial_images", min: "0", max: "3", value: "2" }),
  };
  const fields = {
    prompt: field("Prompt", inputs.prompt),
    negative_prompt: field("Negative prompt", inputs.negative_prompt, "What the image should not show (optional)."),
    model: field("Model", inputs.model, "The base model and this tenant's fine-tunes."),
    size: field("Size", inputs.size, "auto: the model's native size."),
    n: field("Count", inputs.n),
    seed: field("Seed", inputs.seed, "Image k uses seed + k. Empty: a random seed, shown on each result."),
    steps: field("Steps", inputs.steps),
    guidance_scale: field("Guidance", inputs.guidance_scale),
    partial_images: field("Previews per image", inputs.partial_images, "Partial images streamed while it forms (0-3)."),
  };
  const submit = h("button", { type: "submit", class: "primary" }, "Generate");
  const form = h("form", { class: "card create-form", "aria-label": "Generate images" },
    fields.prompt.wrap, fields.negative_prompt.wrap,
    h("div", { class: "field-row" }, fields.model.wrap, fields.size.wrap, fields.n.wrap),
    h("details", { class: "advanced" }, h("summary", {}, "More settings"),
      h("div", { class: "field-row" }, fields.seed.wrap, fields.steps.wrap, fields.guidance_scale.wrap, fields.partial_images.wrap)),
    h("div", { class: "actions" }, submit));

  const progress = h("progress", { max: "1", value: "0", "aria-label": "Generation progress" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const grid = h("ul", { class: "image-grid", "aria-label": "Results" });
  const editPanel = h("section", { class: "card edit-panel", "aria-label": "Use as input", hidden: true });
  const results = h("section", { class: "results", "aria-labelledby": "results-title" },
    h("h2", { id: "results-title" }, "Results"), h("div", { class: "progress-row" }, progress, status), grid);

  fill(main, ...pageHeader("Create", "Describe an image; previews appear while it forms."), form, results, editPanel);

  let running = null;

  function clearErrors() {
    for (const item of Object.values(fields)) item.error.textContent = "";
  }

  function showError(error) {
    const target = error instanceof ApiError && fields[error.param];
    if (target) { target.error.textContent = error.message; target.control.focus(); }
    status.textContent = `Failed: ${error.message}`;
  }

  /** Stream one images request into the grid; `seed` labels the results (image k: seed + k). */
  async function streamInto(request, count, seed, prompt, model) {
    if (running) running.abort();
    const controller = new AbortController();
    running = controller;
    submit.disabled = true;
    const partials = Number(inputs.partial_images.value || 0);
    progress.max = count * (partials + 1);
    progress.value = 0;
    status.textContent = "Queued…";
    const slots = Array.from({ length: count }, (_, index) => resultSlot(index, seed === null ? null : seed + index, prompt, model));
    fill(grid, slots.map(slot => slot.item));
    try {
      const response = await request(controller.signal);
      let done = 0;
      if (!(response.headers.get("content-type") || "").startsWith("text/event-stream")) {
        // an endpoint that does not stream (variations) answers one ImagesResponse
        const body = await response.json();
        const format = body.output_format || "png";
        body.data.forEach((datum, index) => slots[index] && slots[index].complete(`data:image/${format};base64,${datum.b64_json}`, format));
        done = body.data.length;
      }
      for await (const { data } of done ? [] : readServerSentEvents(response)) {
        const event = JSON.parse(data);
        if (event.type === "error") throw new ApiError(500, event);
        const slot = slots[event.image_index ?? 0];
        if (!slot) continue;
        const format = event.output_format || "png";
        if (event.type.endsWith(".partial_image")) {
          slot.preview(`data:image/${format};base64,${event.b64_json}`, event.partial_image_index);
          progress.value = Number(progress.value) + 1;
          status.textContent = `Forming image ${slot.index + 1} of ${count}…`;
        } else if (event.type.endsWith(".completed")) {
          slot.complete(`data:image/${format};base64,${event.b64_json}`, format);
          done += 1;
          progress.value = Number(progress.value) + 1 + Math.max(0, partials - slot.previews);
          status.textContent = `${done} of ${count} image${count === 1 ? "" : "s"} done.`;
        }
      }
      progress.value = progress.max;
      if (done < count) throw new Error(`only ${done} of ${count} images arrived`);
    } catch (error) {
      if (error.name !== "AbortError") { showError(error); for (const slot of slots) slot.fail(); }
    } finally {
      if (running === controller) running = null;
      submit.disabled = false;
    }
  }

  function resultSlot(index, seed, prompt, model) {
    const image = h("img", { alt: `Image ${index + 1} forming`, class: "forming" });
    const caption = h("figcaption", {}, seed === null ? `Image ${index + 1}` : `Image ${index + 1} · seed ${seed}`);
    const actions = h("div", { class: "actions" });
    const item = h("li", { class: "result" }, h("figure", {}, image, caption), actions);
    const slot = {
      index, item, previews: 0,
      preview(src, partialIndex) { image.src = src; slot.previews += 1; image.alt = `Image ${index + 1}, preview ${(partialIndex ?? 0) + 1}`; },
      complete(src, format) {
        image.src = src;
        image.classList.remove("forming");
        image.alt = `Image ${index + 1}: ${prompt}`;
        item.dataset.done = "true";
        fill(actions,
          h("button", { type: "button", onclick: () => download(src, `gesso-${seed ?? index}.${format}`) }, "Download"),
          seed === null ? null : h("button", { type: "button", onclick: () => copySeed(seed) }, "Copy seed"),
          h("button", { type: "button", onclick: () => openEditor(src, prompt, model) }, "Use as input"));
      },
      fail() { if (!item.dataset.done) { image.alt = `Image ${index + 1} failed`; item.dataset.failed = "true"; } },
    };
    return slot;
  }

  async function copySeed(seed) {
    try {
      await navigator.clipboard.writeText(String(seed));
      toast(`Seed ${seed} copied.`);
    } catch {
      inputs.seed.value = String(seed);
      toast(`Seed ${seed} put in the Seed field (clipboard not available).`);
    }
  }

  form.addEventListener("submit", event => {
    event.preventDefault();
    clearErrors();
    const n = Number(inputs.n.value);
    const seed = inputs.seed.value === "" ? randomSeed() : Number(inputs.seed.value);
    const body = {
      prompt: inputs.prompt.value, model: inputs.model.value, size: inputs.size.value, n, seed,
      stream: true, partial_images: Number(inputs.partial_images.value || 0),
    };
    if (inputs.negative_prompt.value.trim()) body.negative_prompt = inputs.negative_prompt.value;
    if (inputs.steps.value !== "") body.steps = Number(inputs.steps.value);
    if (inputs.guidance_scale.value !== "") body.guidance_scale = Number(inputs.guidance_scale.value);
    streamInto(signal => api("/v1/images/generations", { json: body, raw: true, signal }), n, seed, body.prompt, body.model);
  });

  async function openEditor(src, prompt, model) {
    const source = new Image();
    source.src = src;
    await source.decode();
    const painter = maskPainter(source);
    const editPrompt = field("Edit prompt", h("textarea", { rows: "2", required: true }, prompt));
    const editCount = field("Count", numberInput({ min: "1", max: "10", value: "1" }));
    const sourceBlob = dataUrlBlob(src);

    function formFor(withPrompt) {
      const form = new FormData();
      form.append("image", sourceBlob, "input.png");
      form.append("model", model);
      form.append("n", editCount.control.value || "1");
      if (withPrompt) {
        // edits stream like generations; variations have no stream field
        form.append("prompt", editPrompt.control.value);
        form.append("stream", "true");
        form.append("partial_images", inputs.partial_images.value || "0");
      }
      return form;
    }

    async function runEdit() {
      editPrompt.error.textContent = "";
      if (!editPrompt.control.value.trim()) { editPrompt.error.textContent = "An edit needs a prompt."; editPrompt.control.focus(); return; }
      if (!painter.painted()) { editPrompt.error.textContent = "Paint the area to repaint first (or use Mask everything)."; return; }
      const form = formFor(true);
      form.append("mask", await painter.exportMask(), "mask.png");
      const seed = randomSeed();
      form.append("seed", String(seed));
      streamInto(signal => api("/v1/images/edits", { form, raw: true, signal }), Number(editCount.control.value || 1), seed, editPrompt.control.value, model);
      results.scrollIntoView({ block: "start" });
    }

    function runVariations() {
      const form = formFor(false);
      const seed = randomSeed();
      form.append("seed", String(seed));
      streamInto(signal => api("/v1/images/variations", { form, raw: true, signal }), Number(editCount.control.value || 1), seed, prompt, model);
      results.scrollIntoView({ block: "start" });
    }

    fill(editPanel,
      h("h2", { id: "edit-title", tabindex: "-1" }, "Use as input"),
      h("p", { class: "hint" }, "Paint over the part to change, then run an edit; or make variations of the whole image."),
      painter.element, editPrompt.wrap, editCount.wrap,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: runEdit }, "Edit masked area"),
        h("button", { type: "button", onclick: runVariations }, "Make variations"),
        h("button", { type: "button", onclick: () => { editPanel.hidden = true; } }, "Close")));
    editPanel.hidden = false;
    editPanel.querySelector("h2").focus();
  }

  return () => { if (running) running.abort(); };
}
