// cyltrace handheld service worker: keeps the app's shell for offline starts. The shell is served
// from the cache first and refreshed from the network in the background; the API (/api/…) is never
// cached nor touched here — records wait in IndexedDB, not in this worker.
'use strict';

const CACHE = 'cyltrace-hh-shell-v2';
// The page, its modules (app.js imports the others) and what the manifest names.
const SHELL = [
  '/app/', '/app/app.js', '/app/core.js', '/app/queue.js', '/app/ui.js', '/app/scan.js', '/app/floor.js',
  '/app/delivery.js', '/app/manifest.webmanifest', '/app/icon.svg',
];

// A response worth keeping: a plain 200 of the file itself, not a redirect (to the login page).
function keepable(r) {
  return r && r.ok && r.status === 200 && !r.redirected && r.type === 'basic';
}

async function fetchInto(cache, path) {
  const r = await fetch(new Request(path, { credentials: 'same-origin', cache: 'no-cache' }));
  if (keepable(r)) await cache.put(path, r.clone());
  return r;
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // One by one, so a missing piece (e.g. /app/ without a session) does not stop the rest.
    await Promise.all(SHELL.map((p) => fetchInto(cache, p).catch(() => null)));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const k of await caches.keys()) {
      if (k.startsWith('cyltrace-hh-') && k !== CACHE) await caches.delete(k);
    }
    await self.clients.claim();
  })());
});

// The shell path a request is for, or null for everything else (the API above all).
function shellPath(url) {
  if (url.origin !== self.location.origin) return null;
  if (url.pathname.startsWith('/api/')) return null;
  if (url.pathname === '/app' || url.pathname === '/app/' || url.pathname === '/app/index.html') return '/app/';
  return SHELL.includes(url.pathname) ? url.pathname : null;
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const path = shellPath(new URL(req.url));
  if (!path) return; // the network as usual, uncached

  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const cached = await cache.match(path);
    if (cached) {
      // Cache first; the network copy replaces it for the next start.
      event.waitUntil(fetchInto(cache, path).catch(() => null));
      return cached;
    }
    try {
      // Nothing cached yet: the request itself (a navigation must get the server's own answer,
      // e.g. its redirect to the login page), kept when it is the file.
      const r = await fetch(req);
      if (keepable(r)) await cache.put(path, r.clone());
      return r;
    } catch {
      return new Response(
        '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
          '<title>离线</title><p style="font:18px sans-serif;padding:24px">当前离线，手持终端尚未缓存到本机。请联网后打开一次。</p>',
        { status: 503, headers: { 'content-type': 'text/html; charset=utf-8' } },
      );
    }
  })());
});
