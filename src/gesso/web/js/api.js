// The console's only way out: the public HTTP API, with the signed-in key as a bearer token.

const KEY_STORAGE = "gesso.apiKey";

export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(secret) {
  sessionStorage.setItem(KEY_STORAGE, secret);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
  endpointCache.clear();
}

/** An API error in OpenAI's shape: status, message, type, param, code (and the whole body). */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.type = error.type;
    this.param = error.param;
    this.code = error.code;
    this.body = body;
  }
}

/** True when the server has no such route (as opposed to no such object). */
export function endpointMissing(error) {
  return error instanceof ApiError && (error.status === 405 || (error.status === 404 && error.message === "Not Found"));
}

/**
 * Call the API. `json` sends a JSON body, `form` a FormData; `raw` returns the Response
 * (for streams and bytes). Throws ApiError for any non-2xx answer.
 */
export async function api(path, { method, json, form, raw = false, signal } = {}) {
  const headers = { Authorization: `Bearer ${storedKey() || ""}` };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  const response = await fetch(path, { method: method || (body ? "POST" : "GET"), headers, body, signal });
  if (!response.ok) {
    let parsed = null;
    try { parsed = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, parsed);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

const endpointCache = new Map();
let openApiPaths = null;

/** The server's own list of routes (its OpenAPI document), or null when it does not publish one. */
function publishedPaths() {
  if (!openApiPaths) {
    openApiPaths = fetch("/openapi.json")
      .then(response => (response.ok ? response.json() : null))
      .then(document => (document && document.paths) || null, () => null);
  }
  return openApiPaths;
}

/**
 * Feature detection: does `METHOD path` exist here? Read from the OpenAPI document, so a probe
 * never reaches (and never pollutes the audit log of) a route that is not there; without the
 * document, a GET answers it (a 403 still means the route exists). Remembered for the session.
 */
export async function endpointExists(path, method = "get") {
  const cacheKey = `${method} ${path}`;
  if (!endpointCache.has(cacheKey)) {
    endpointCache.set(cacheKey, publishedPaths().then(paths => {
      if (paths) return Boolean(paths[path] && paths[path][method]);
      return api(path).then(() => true, error => !endpointMissing(error));
    }));
  }
  return endpointCache.get(cacheKey);
}

/** The first of `paths` that exists, or null. */
export async function firstExisting(paths) {
  for (const path of paths) {
    if (await endpointExists(path)) return path;
  }
  return null;
}

/** An object URL for bytes behind the key (file previews, sample grids). */
export async function authorisedObjectUrl(path) {
  const response = await api(path, { raw: true });
  return URL.createObjectURL(await response.blob());
}

/** The list in an OpenAI list body, or the body itself when it is already an array. */
export function listData(body) {
  if (Array.isArray(body)) return body;
  return (body && (body.data || body.items || body.records)) || [];
}
