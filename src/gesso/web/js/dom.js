// Building DOM nodes without innerHTML: every string from the server is text, never markup.

/** h("button", {type: "button", onclick}, "Label") -> HTMLButtonElement */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

let fieldCounter = 0;

/** A labelled control: h-wrapped <label> + control + hint/error slot. Returns {wrap, control, error}. */
export function field(label, control, hint) {
  const id = control.id || `field-${++fieldCounter}`;
  control.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, role: "alert" });
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  const wrap = h("div", { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    error);
  return { wrap, control, error };
}

/** A section heading and a lead paragraph. */
export function pageHeader(title, lead) {
  return [h("h1", { tabindex: "-1" }, title), lead ? h("p", { class: "lead" }, lead) : null];
}

/** The notice a page shows in place of a feature the server lacks. */
export function notAvailable(what, endpoint) {
  return h("p", { class: "notice", role: "note" }, `${what} is not available on this server (no ${endpoint} endpoint).`);
}

export function formatTime(seconds) {
  if (seconds === undefined || seconds === null) return "";
  return new Date(seconds * 1000).toLocaleString();
}

export function formatBytes(n) {
  if (typeof n !== "number") return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A table from objects; `columns` is [[heading, row => value], ...] or derived from the first row. */
export function recordTable(caption, rows, columns) {
  const cols = columns || Object.keys(rows[0] || {}).map(key => [key, row => row[key]]);
  const text = value => (value !== null && typeof value === "object" ? JSON.stringify(value) : value ?? "");
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, cols.map(([heading]) => h("th", { scope: "col" }, heading)))),
      h("tbody", {}, rows.map(row => h("tr", {}, cols.map(([, read]) => {
        const value = read(row);
        return h("td", {}, value instanceof Node ? value : text(value));
      }))))));
}

/** Show a short message in the shared live region. */
export function toast(message) {
  const node = document.getElementById("toast");
  fill(node, message);
  node.classList.add("shown");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => node.classList.remove("shown"), 4000);
}

/** Download bytes or a URL under a file name. */
export function download(href, filename) {
  const link = h("a", { href, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

/** A modal <dialog>; resolves true when the confirming button is pressed. */
export function confirmDialog(title, body, confirmLabel) {
  return new Promise(resolve => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title),
      body,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "danger", onclick: () => { dialog.close("yes"); } }, confirmLabel),
        h("button", { type: "button", onclick: () => dialog.close("no") }, "Keep it")));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(dialog.returnValue === "yes"); });
    document.body.append(dialog);
    dialog.showModal();
  });
}
