// What the handheld browser tests share: a phone-sized browser context, signing in, the API with a
// token, the scan field and the app's queue in IndexedDB. Not a test file itself.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { token } from '../lib/server.mjs';

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
}

/**
 * A phone-sized context (the screenshots are taken at 412 × 915). Without the service worker: these
 * tests intercept the app's API requests, which a controlling worker would hide from the routes (the
 * worker and the offline start are tested in handheld.test.mjs).
 */
export function phone(browser) {
  return browser.newContext({ viewport: { width: 412, height: 915 }, deviceScaleFactor: 2, locale: 'zh-CN', serviceWorkers: 'block' });
}

/** Signs `username` in through the login form and waits until the app is ready. */
export async function signIn(page, base, username) {
  await page.goto(`${base}/login?next=/app/`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', 'Demo2026ok');
  await Promise.all([page.waitForURL(`${base}/app/`), page.click('button[type=submit]')]);
  await page.waitForSelector('body[data-ready="1"]');
  assert.match(await page.locator('#user').textContent(), new RegExp(username));
}

/** The v1 API as a demo user: get(path) and post(path, body), asserting the expected status. */
export async function apiAs(base, username) {
  const bearer = await token(base, username);
  const call = async (method, path, body, want) => {
    const r = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (want !== null) assert.equal(r.status, want, `${method} ${path}: ${await r.clone().text()}`);
    return r.headers.get('content-type')?.includes('json') ? r.json() : r;
  };
  return {
    get: (path, want = 200) => call('GET', path, undefined, want),
    post: (path, body, want = 201) => call('POST', path, body, want),
    raw: (path) => fetch(`${base}/api/v1${path}`, { headers: { authorization: `Bearer ${bearer}` } }),
  };
}

/** What the app shows as the pending count, as a number. */
export const pending = async (page) => Number((await page.locator('#pending-count').textContent()).trim());

export async function waitPending(page, n, timeout = 30_000) {
  await page.waitForFunction((v) => document.getElementById('pending-count').textContent.trim() === String(v), n, { timeout });
}

/** Types into the focused scan field, like a hardware scanner does. */
export async function scan(page, text) {
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'scan', 'the scan field has the focus');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** The queue as the app keeps it in IndexedDB. */
export const queue = (page) => page.evaluate(() => new Promise((resolve, reject) => {
  const rq = indexedDB.open('cyltrace-handheld');
  rq.onerror = () => reject(rq.error);
  rq.onsuccess = () => {
    const all = rq.result.transaction('queue').objectStore('queue').getAll();
    all.onsuccess = () => {
      // Blobs do not travel out of the page: their sizes do.
      resolve(all.result.map((i) => JSON.parse(JSON.stringify(i, (k, v) => (v instanceof ArrayBuffer ? { bytes: v.byteLength } : v)))));
      rq.result.close();
    };
    all.onerror = () => reject(all.error);
  };
}));

export const today = () => new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);

/** Cylinders of the caller's enterprise that are in use: normal, label active, not due. */
export async function usable(api, where) {
  const d = today();
  const { items } = await api.get('/cylinders?limit=500');
  return items.filter((c) => c.state === 'normal' && c.status.state === 'normal' && c.status.label === 'active'
    && c.status.next_check_date > d && c.discard_date > d && (!where || c.status.location_kind === where));
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
