// The service worker: the app shell from its cache, so the app opens with no
// network; the data never passes through here (it lives in IndexedDB and syncs
// over /v1/, which this worker leaves to the network).
//
// The server prepends `self.RECIP_SHELL = {version, urls}`: the version is a
// digest of the shell's files, so a change to any of them is a new worker. A new
// worker caches the whole new shell before it takes over (install), then drops
// the old caches (activate); the page offers a reload, it does not force one.

/**
 * @typedef {{waitUntil(p: Promise<unknown>): void}} ExtendableEvent
 * @typedef {ExtendableEvent & {request: Request, respondWith(r: Promise<Response>): void}} FetchEvent
 * @typedef {{version: string, urls: string[]}} Shell
 */

const scope = /** @type {any} */ (self);
const SHELL = /** @type {Shell} */ (scope.RECIP_SHELL);
const CACHE = `recip-shell-${SHELL.version}`;

scope.addEventListener("install", (/** @type {ExtendableEvent} */ event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.urls.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => scope.skipWaiting()),
  );
});

scope.addEventListener("activate", (/** @type {ExtendableEvent} */ event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("recip-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => scope.clients.claim()),
  );
});

scope.addEventListener("fetch", (/** @type {FetchEvent} */ event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== location.origin) return;
  // the app is one document; its screens live in the fragment
  const key = url.pathname === "/index.html" ? "/" : url.pathname;
  if (!SHELL.urls.includes(key)) return; // the API and anything else: the network's
  event.respondWith(
    caches.open(CACHE).then(async (cache) => (await cache.match(key)) ?? fetch(request)),
  );
});
