// Paint the area to repaint over an image. The exported mask follows OpenAI's edits contract:
// a PNG of the image's size whose fully transparent pixels mark where the model may paint.

import { h } from "./dom.js";

const DISPLAY_SIZE = 256;

/**
 * maskPainter(imageElement) -> {element, exportMask(): Promise<Blob>, painted(): boolean, clear(), fillAll()}
 * Pointer: drag to paint. Keyboard: arrow keys move the brush, Space or Enter paints,
 * Shift+arrows paints while moving.
 */
export function maskPainter(image, { brushLabel = "Brush size" } = {}) {
  const width = image.naturalWidth;
  const height = image.naturalHeight;
  const mask = h("canvas", { width, height });
  const maskContext = mask.getContext("2d");
  const view = h("canvas", {
    width: DISPLAY_SIZE, height: Math.round(DISPLAY_SIZE * height / width), tabindex: "0", class: "mask-canvas",
    role: "img",
    "aria-label": "Mask painter. Drag to paint the area to repaint. Keyboard: arrow keys move the brush, Space paints, Shift with arrows paints while moving.",
  });
  const viewContext = view.getContext("2d");
  viewContext.imageSmoothingEnabled = false;
  const brush = h("input", { type: "range", min: "1", max: String(Math.max(2, Math.round(width / 2))), value: String(Math.max(1, Math.round(width / 8))), id: `brush-${Math.random().toString(36).slice(2)}` });
  const cursor = { x: Math.floor(width / 2), y: Math.floor(height / 2) };
  let drawing = false;
  let hasPaint = false;

  function redraw() {
    const scale = view.width / width;
    viewContext.clearRect(0, 0, view.width, view.height);
    viewContext.drawImage(image, 0, 0, view.width, view.height);
    viewContext.globalAlpha = 0.55;
    viewContext.drawImage(mask, 0, 0, view.width, view.height);
    viewContext.globalAlpha = 1;
    viewContext.strokeStyle = "#ffbf00";
    viewContext.lineWidth = 2;
    viewContext.beginPath();
    viewContext.arc((cursor.x + 0.5) * scale, (cursor.y + 0.5) * scale, (Number(brush.value) / 2) * scale, 0, Math.PI * 2);
    viewContext.stroke();
  }

  function paintAt(x, y) {
    maskContext.fillStyle = "rgba(230, 30, 90, 1)";
    maskContext.beginPath();
    maskContext.arc(x + 0.5, y + 0.5, Number(brush.value) / 2, 0, Math.PI * 2);
    maskContext.fill();
    hasPaint = true;
  }

  function toImage(event) {
    const box = view.getBoundingClientRect();
    return {
      x: Math.min(width - 1, Math.max(0, Math.floor((event.clientX - box.left) / box.width * width))),
      y: Math.min(height - 1, Math.max(0, Math.floor((event.clientY - box.top) / box.height * height))),
    };
  }

  view.addEventListener("pointerdown", event => {
    drawing = true;
    view.setPointerCapture(event.pointerId);
    Object.assign(cursor, toImage(event));
    paintAt(cursor.x, cursor.y);
    redraw();
  });
  view.addEventListener("pointermove", event => {
    Object.assign(cursor, toImage(event));
    if (drawing) paintAt(cursor.x, cursor.y);
    redraw();
  });
  view.addEventListener("pointerup", () => { drawing = false; });
  view.addEventListener("keydown", event => {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[event.key]) {
      const step = Math.max(1, Math.round(Number(brush.value) / 2));
      cursor.x = Math.min(width - 1, Math.max(0, cursor.x + moves[event.key][0] * step));
      cursor.y = Math.min(height - 1, Math.max(0, cursor.y + moves[event.key][1] * step));
      if (event.shiftKey) paintAt(cursor.x, cursor.y);
    } else if (event.key === " " || event.key === "Enter") {
      paintAt(cursor.x, cursor.y);
    } else {
      return;
    }
    event.preventDefault();
    redraw();
  });
  brush.addEventListener("input", redraw);

  function clear() { maskContext.clearRect(0, 0, width, height); hasPaint = false; redraw(); }
  function fillAll() { maskContext.fillStyle = "rgba(230, 30, 90, 1)"; maskContext.fillRect(0, 0, width, height); hasPaint = true; redraw(); }

  /** Painted pixels -> alpha 0 (repaint), the rest opaque (keep). */
  function exportMask() {
    const painted = maskContext.getImageData(0, 0, width, height);
    const out = new ImageData(width, height);
    for (let i = 0; i < painted.data.length; i += 4) {
      out.data[i + 3] = painted.data[i + 3] > 0 ? 0 : 255;
    }
    const canvas = h("canvas", { width, height });
    canvas.getContext("2d").putImageData(out, 0, 0);
    return new Promise(resolve => canvas.toBlob(resolve, "image/png"));
  }

  redraw();
  const element = h("div", { class: "mask-painter" },
    view,
    h("div", { class: "field" }, h("label", { for: brush.id }, brushLabel), brush),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: fillAll }, "Mask everything"),
      h("button", { type: "button", onclick: clear }, "Clear mask")));
  return { element, exportMask, painted: () => hasPaint, clear, fillAll };
}
