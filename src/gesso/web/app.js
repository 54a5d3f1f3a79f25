// Entry point: theme, sign-in, the hash router and the navigation. Each page is a module under
// js/pages/ exporting `render(main, session, params)`, which may return a cleanup function.

import { api, forgetKey, storedKey, storeKey, ApiError } from "./js/api.js";
import { field, fill, h, pageHeader } from "./js/dom.js";

const PAGES = {
  create: { module: "./js/pages/create.js", needs: "images:create" },
  library: { module: "./js/pages/library.js", needs: "images:read" },
  datasets: { module: "./js/pages/datasets.js", needs: "models:read" },
  "fine-tunes": { module: "./js/pages/fine_tunes.js", needs: "models:read" },
  audit: { module: "./js/pages/audit.js", needs: "audit:read" },
  admin: { module: "./js/pages/admin.js", needs: "keys:manage" },
};
const THEME_STORAGE = "gesso.theme";

const main = document.getElementById("main");
let session = null;
let cleanup = null;

// -- theme: follows the system until the toggle is used, then remembers the choice ----------
function currentTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen) return chosen;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  const toggle = document.getElementById("theme-toggle");
  toggle.setAttribute("aria-pressed", String(currentTheme() === "dark"));
}

document.getElementById("theme-toggle").addEventListener("click", () => {
  const next = currentTheme() === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_STORAGE, next);
  applyTheme(next);
});
applyTheme(localStorage.getItem(THEME_STORAGE));

// -- sign-in -----------------------------------------------------------------------------
async function signIn(secret) {
  storeKey(secret);
  try {
    const me = await api("/v1/me");
    session = { me, can: action => me.permissions.includes(action) };
    return session;
  } catch (error) {
    forgetKey();
    session = null;
    throw error;
  }
}

function signOut() {
  forgetKey();
  session = null;
  showChrome();
  location.hash = "#/sign-in";
  route();
}

document.getElementById("sign-out").addEventListener("click", signOut);

function showChrome() {
  const nav = document.getElementById("nav");
  const identity = document.getElementById("identity");
  const signOutButton = document.getElementById("sign-out");
  nav.hidden = identity.hidden = signOutButton.hidden = !session;
  if (!session) return;
  for (const item of nav.querySelectorAll("li[data-needs]")) item.hidden = !session.can(item.dataset.needs);
  const { tenant, role, key } = session.me;
  fill(identity,
    h("span", { class: "tenant", title: tenant.id }, tenant.name), " · ",
    h("span", { class: "role" }, role), " · ",
    h("code", { class: "key-prefix", title: "API key prefix" }, `${key.prefix}…`));
}

function renderSignIn(message) {
  const keyInput = h("input", {
    type: "password", name: "api-key", autocomplete: "off", required: true, spellcheck: "false",
    placeholder: "gesso-sk-…",
  });
  const keyField = field("API key", keyInput, "Kept in this tab's session storage only; it is never put in a URL.");
  if (message) keyField.error.textContent = message;
  const form = h("form", { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title", tabindex: "-1" }, "Sign in to Gesso"),
    keyField.wrap,
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async event => {
    event.preventDefault();
    keyField.error.textContent = "";
    try {
      await signIn(keyInput.value.trim());
      showChrome();
      location.hash = `#/${firstPage()}`;
    } catch (error) {
      keyField.error.textContent = error instanceof ApiError && error.status === 401
        ? "That key is not valid (unknown or revoked)." : `Sign-in failed: ${error.message}`;
      keyInput.focus();
    }
  });
  fill(main, form);
  keyInput.focus();
}

function firstPage() {
  return Object.keys(PAGES).find(name => session.can(PAGES[name].needs)) || "library";
}

// -- router: #/page?param=value ------------------------------------------------------------
async function route() {
  const hash = location.hash;
  if (hash && !hash.startsWith("#/")) return; // in-page anchors such as the skip link
  if (cleanup) { cleanup(); cleanup = null; }
  const [path, queryString] = hash.slice(2).split("?");
  if (!session) {
    if (storedKey()) {
      try { await signIn(storedKey()); showChrome(); } catch { /* fall through to the form */ }
    }
    if (!session) { renderSignIn(); return; }
  }
  const name = PAGES[path] ? path : firstPage();
  if (!PAGES[path]) { history.replaceState(null, "", `#/${name}`); }
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!session.can(PAGES[name].needs)) {
    fill(main, pageHeader("Not allowed", `Your role (${session.me.role}) cannot open this page.`));
    return;
  }
  const page = await import(PAGES[name].module);
  fill(main);
  main.dataset.page = name;
  try {
    cleanup = (await page.render(main, session, new URLSearchParams(queryString || ""))) || null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) { signOut(); return; }
    main.append(h("p", { class: "notice error", role: "alert" }, `This page could not load: ${error.message}`));
  }
  const heading = main.querySelector("h1");
  if (heading) heading.focus({ preventScroll: true }); // screen readers and Tab start at the new page
}

window.addEventListener("hashchange", route);
route();
