// G9 in a real browser: the handheld app records scans while offline, syncs them when the network
// comes back — also when the answer to a sync request is lost — with every scan stored exactly once,
// sets a refused scan aside as failed, and starts offline from its service worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDemo, token, screenshots } from '../lib/server.mjs';

let node;
let browser;
let context;
let page;
let bearer;

before(async () => {
  node = await startDemo();
  bearer = await token(node.base, 'ax_keeper');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    locale: 'zh-CN',
  });
  page = await context.newPage();
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

async function api(path) {
  const r = await fetch(`${node.base}/api/v1${path}`, { headers: { authorization: `Bearer ${bearer}` } });
  assert.equal(r.status, 200, `${path}: ${await r.clone().text()}`);
  return r.json();
}

const eventsOf = async (code) => (await api(`/cylinders/${code}/events`)).events;

/** What the app shows as the pending count, as a number. */
const pending = async () => Number((await page.locator('#pending-count').textContent()).trim());

async function scan(code) {
  // The scan field keeps the focus: type where the focus is, like a hardware scanner does.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'scan');
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
}

/** The scan queue as the app keeps it in IndexedDB. */
const queue = () => page.evaluate(() => new Promise((resolve, reject) => {
  const rq = indexedDB.open('cyltrace-handheld');
  rq.onerror = () => reject(rq.error);
  rq.onsuccess = () => {
    const all = rq.result.transaction('queue').objectStore('queue').getAll();
    all.onsuccess = () => { resolve(all.result); rq.result.close(); };
    all.onerror = () => reject(all.error);
  };
}));

test('offline scans are queued, synced once each after a lost answer, and the shell starts offline', async () => {
  // The keeper's warehouse, and two cylinders in the demo data that can be received as empties
  // there: usable (not scrapped, inspection and life not due) and not already in an empty store.
  const { items: sites } = await api('/sites?limit=500');
  const warehouse = sites.find((s) => s.kind === 'warehouse');
  assert.ok(warehouse, 'the demo enterprise has a warehouse');
  const today = new Date().toISOString().slice(0, 10);
  const { items: cylinders } = await api('/cylinders?limit=200');
  const codes = cylinders
    .filter((c) => c.state === 'normal' && c.status.state === 'normal' && c.status.label === 'active'
      && c.status.next_check_date > today && c.discard_date > today
      && c.status.location_kind === 'at_customer')
    .map((c) => c.code)
    .slice(0, 2);
  assert.equal(codes.length, 2, 'two usable cylinders at customers in the demo data');
  const before = {};
  for (const c of codes) before[c] = (await eventsOf(c)).length;

  // Sign in through the login form; the app greets the user.
  const resp = await page.goto(`${node.base}/login?next=/app/`);
  assert.equal(resp.status(), 200);
  await page.fill('input[name=username]', 'ax_keeper');
  await page.fill('input[name=password]', 'Demo2026ok');
  await Promise.all([page.waitForURL(`${node.base}/app/`), page.click('button[type=submit]')]);
  await page.waitForSelector('body[data-ready="1"]');
  assert.match(await page.locator('#user').textContent(), /ax_keeper/);
  assert.equal((await page.locator('#role').textContent()).trim(), '库管员');
  assert.match(await page.locator('#org').textContent(), /昆明安信燃气有限公司/);
  assert.equal(await page.locator('#net').textContent(), '在线');
  // The camera button only where the browser can read barcodes.
  const detector = await page.evaluate(() => 'BarcodeDetector' in window);
  assert.equal(await page.locator('#camera-btn').isVisible(), detector);

  // The service worker has taken over and cached the shell (for the offline start below).
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    for (let i = 0; i < 100 && !navigator.serviceWorker.controller; i += 1) await new Promise((r) => setTimeout(r, 50));
  });
  assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the service worker controls /app/');

  // 空瓶入库 at the warehouse.
  await page.getByRole('button', { name: '空瓶入库' }).click();
  await page.selectOption('#site', warehouse.id);
  assert.equal(await page.locator('#site').inputValue(), warehouse.id);
  assert.match(await page.locator('#scan-title').textContent(), /空瓶入库/);

  // Offline: both scans wait in the queue, nothing reaches the server.
  await context.setOffline(true);
  await page.waitForFunction(() => document.getElementById('net').textContent === '离线');
  // The first as a bare code, the second as its label's QR content (the URL a scanner types).
  const label = await api(`/labels/${codes[1]}`);
  assert.ok(label.url.includes('/Q?id='), label.url);
  await scan(codes[0]);
  await scan(label.url);
  await page.waitForFunction(() => document.getElementById('pending-count').textContent.trim() === '2');
  assert.equal(await pending(), 2);
  const queued = await queue();
  assert.equal(queued.length, 2);
  assert.deepEqual(queued.map((q) => q.code).sort(), [...codes].sort());
  for (const q of queued) {
    assert.equal(q.action, 'receive_empty');
    assert.equal(q.site_id, warehouse.id);
    assert.equal(q.status, 'pending');
    assert.match(q.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!Number.isNaN(Date.parse(q.time)));
  }
  for (const c of codes) assert.equal((await eventsOf(c)).length, before[c], `no event for ${c} while offline`);
  assert.equal((await page.locator('#recent li[data-state=pending]').count()), 2);

  // Back online, but the answer to the first scan request is lost: the server stores the scan,
  // the app sees a network error and must send it again with the same id.
  const sent = [];
  const csrf = [];
  let lost = 0;
  let firstStatus = null;
  await page.route('**/api/v1/scan/**', async (route) => {
    const body = JSON.parse(route.request().postData());
    sent.push(...body.scans.map((s) => s.id));
    csrf.push(route.request().headers()['x-csrf-token'] ?? '');
    if (lost === 0) {
      lost += 1;
      firstStatus = (await route.fetch()).status();
      await route.abort();
      return;
    }
    await route.continue();
  });
  await context.setOffline(false);
  await page.waitForFunction(
    () => document.getElementById('pending-count').textContent.trim() === '0',
    null,
    { timeout: 30_000 },
  );
  await page.unroute('**/api/v1/scan/**');
  assert.equal(lost, 1);
  assert.equal(firstStatus, 200, 'the server took the scan whose answer was lost');
  assert.ok(csrf.every((t) => /^[0-9a-f]{32}$/.test(t)), `the CSRF header is sent: ${csrf}`);
  assert.equal((await queue()).length, 0, 'the queue is empty after the sync');

  // Every queued scan went with its own id; the lost one went twice, with the same id.
  const ids = queued.map((q) => q.id);
  assert.equal(sent.length, 3, `three requests: ${sent}`);
  assert.deepEqual([...new Set(sent)].sort(), [...ids].sort());
  assert.equal(sent[1], sent[0], 'the scan whose answer was lost is resent with the same id');

  // The server holds each scan exactly once, and nothing else was added.
  let added = 0;
  for (const c of codes) {
    const events = await eventsOf(c);
    added += events.length - before[c];
    const mine = queued.find((q) => q.code === c);
    const matching = events.filter((e) => e.id === mine.id);
    assert.equal(matching.length, 1, `the scan of ${c} is stored exactly once`);
    assert.equal(matching[0].kind, 'store_in');
    assert.equal(matching[0].site_id, warehouse.id);
    assert.equal(matching[0].data.full, false);
  }
  assert.equal(added, 2, 'exactly two events were added');
  const status = await api(`/cylinders/${codes[1]}`);
  assert.equal(status.status.location_kind, 'empty_store');

  // The app shows the answer: usable, now in the empty store.
  await page.waitForFunction(() => document.getElementById('result').dataset.kind === 'ok');
  const card = await page.locator('#result').textContent();
  assert.match(card, /可以使用/);
  assert.match(card, /空瓶库/);
  assert.equal(await page.locator('#recent li[data-state=pending]').count(), 0);
  assert.equal(await page.locator('#net').textContent(), '在线');
  await page.screenshot({ path: join(screenshots, 'handheld.png'), fullPage: true });

  // A scan the server refuses (an unknown code) is set aside as failed, not retried, removable.
  await scan('1119999999');
  await page.waitForSelector('#failed li');
  assert.match(await page.locator('#failed').textContent(), /1119999999[\s\S]*不存在/);
  assert.equal(await pending(), 0);
  assert.equal((await queue()).filter((q) => q.status === 'failed').length, 1);
  await page.locator('#failed button', { hasText: '移除' }).click();
  await page.waitForSelector('#failed-section', { state: 'hidden' });
  assert.equal((await queue()).length, 0);

  // The shell starts offline from the service worker, with the user remembered.
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]');
  assert.match(await page.locator('#user').textContent(), /ax_keeper/);
  assert.equal(await page.locator('#net').textContent(), '离线');
  assert.equal(await pending(), 0);
  assert.equal(await page.locator('#site').inputValue(), warehouse.id, 'the sites are remembered offline');
  await context.setOffline(false);
});
