// placeholder service worker
