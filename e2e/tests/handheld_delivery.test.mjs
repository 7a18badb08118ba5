// Delivery on the handheld, in a real browser: the courier's household safety check (C9) with a photo
// and the customer's signature drawn on the screen is stored once with both files, even when the
// answer to it is lost; the courier's recycling order (回收单, C4) is confirmed by the keeper with the
// scanned empties, which writes a `recycle` event for them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { startDemo, screenshots } from '../lib/server.mjs';
import { launch, phone, signIn, apiAs, waitPending, scan, queue, usable } from './handheld_helpers.mjs';

let node;
let browser;
let admin;

before(async () => {
  node = await startDemo();
  browser = await launch();
  admin = await apiAs(node.base, 'ax_admin');
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

/** A small PNG (a 48 × 48 gradient), as a camera would hand it over. */
function png() {
  const w = 48;
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(w, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < w; y += 1) {
    rows.push(0);
    for (let x = 0; x < w; x += 1) rows.push(40 + x * 4, 90 + y * 3, 160);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.from(rows))), chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('the courier records a household check with a photo and a drawn signature, stored once with both files', async () => {
  // C9
  const { items: customers } = await admin.get('/customers?limit=500');
  const customer = customers.find((c) => c.addresses && c.addresses.length);
  assert.ok(customer, 'a demo customer with an address');
  const before = (await admin.get(`/household-checks?customer_id=${customer.id}&limit=200`)).items.length;

  const context = await phone(browser);
  const page = await context.newPage();
  await signIn(page, node.base, 'ax_courier');
  assert.deepEqual(await page.locator('#ops button').evaluateAll((bs) => bs.map((b) => b.dataset.op)),
    ['deliver', 'recycle', 'household', 'recycling_order', 'lookup']);
  await page.getByRole('button', { name: '入户安检' }).click();
  assert.match(await page.locator('#panel').textContent(), /请先在上方选择安检用户/);
  await page.selectOption('#customer', customer.id);

  // The configured items, all good by default; one marked defective.
  const { items } = await admin.get('/household-check-items');
  await page.waitForSelector('#panel .toggle');
  assert.equal(await page.locator('#panel .toggle').count(), items.filter((i) => i.active !== false).length);
  const failing = items.find((i) => i.code === 'regulator') ?? items[0];
  await page.locator(`#panel .toggle[data-item="${failing.code}"]`).click();
  assert.match(await page.locator('#hh-summary').textContent(), new RegExp(`不合格 1 项[\\s\\S]*${failing.text}`));

  // Saving without a signature is refused on the device, nothing is queued.
  await page.locator('#hh-save').click();
  assert.match(await page.locator('#hh-sign-error').textContent(), /签名/);
  assert.equal((await queue(page)).length, 0);

  // A photo from the camera, and the customer signs with the finger (here the mouse).
  const photo = png();
  assert.equal(await page.locator('#hh-photo').getAttribute('capture'), 'environment');
  await page.setInputFiles('#hh-photo', { name: 'photo.png', mimeType: 'image/png', buffer: photo });
  await page.waitForSelector('#hh-photos img');
  const pad = await page.locator('#signature').boundingBox();
  await page.mouse.move(pad.x + 30, pad.y + 120);
  await page.mouse.down();
  for (let i = 1; i <= 24; i += 1) await page.mouse.move(pad.x + 30 + i * 12, pad.y + 120 - Math.sin(i / 2.5) * 50);
  await page.mouse.up();
  assert.equal(await page.locator('#hh-sign-error').isVisible(), false, 'signing clears the error');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(screenshots, 'handheld-household.png'), fullPage: true });

  // The answer to the check is lost: the app sends it again with the same id, stored once.
  const posted = [];
  await page.route('**/api/v1/household-checks**', async (route) => {
    const rq = route.request();
    if (rq.method() === 'GET') { await route.continue(); return; }
    posted.push(JSON.parse(rq.postData()));
    if (posted.length === 1) {
      assert.equal((await route.fetch()).status(), 201, 'the server took the check whose answer was lost');
      await route.abort();
      return;
    }
    await route.continue();
  });
  await page.locator('#hh-save').click();
  await page.waitForFunction(() => document.getElementById('result').textContent.includes('入户安检已同步'), null, { timeout: 30_000 });
  await waitPending(page, 0);
  await page.unroute('**/api/v1/household-checks**');
  assert.equal(posted.length, 2, 'the check whose answer was lost was sent again');
  assert.ok(posted[0].id, 'the check carries its id');
  assert.equal(posted[1].id, posted[0].id, 'with the same id');

  const sent = posted[0];
  const { items: checks } = await admin.get(`/household-checks?customer_id=${customer.id}&limit=200`);
  assert.equal(checks.length, before + 1, 'exactly one check was added');
  const stored = checks.filter((c) => c.signature === sent.signature);
  assert.equal(stored.length, 1);
  assert.equal(stored[0].id, sent.id, 'the check is stored under the id the handheld gave it');
  assert.equal(stored[0].result, 'failed');
  assert.equal(Date.parse(stored[0].time), Date.parse(sent.time));
  assert.deepEqual(stored[0].answers.filter((a) => !a.ok).map((a) => a.item), [failing.code]);
  assert.equal(stored[0].photos.length, 1);
  // Both files are stored: the photo as taken, the signature as a PNG with strokes on it.
  const p = await admin.raw(`/files/${stored[0].photos[0]}`);
  assert.equal(p.status, 200);
  assert.deepEqual(Buffer.from(await p.arrayBuffer()), photo);
  const s = await admin.raw(`/files/${stored[0].signature}`);
  assert.equal(s.status, 200);
  assert.equal(s.headers.get('content-type'), 'image/png');
  assert.ok((await s.arrayBuffer()).byteLength > 1000, 'the signature image has strokes');
  // A failed item opened a rectification task.
  const { items: tasks } = await admin.get('/rectifications?state=open&limit=500');
  assert.ok(tasks.some((t) => t.check_id === stored[0].id && t.item === failing.code));
  await context.close();
});

test('the courier creates a recycling order, the keeper confirms it with the scanned empties', async () => {
  // C4
  const codes = (await usable(admin, 'at_customer')).slice(0, 2).map((c) => c.code);
  assert.equal(codes.length, 2, 'two cylinders at customers');
  const { items: sites } = await admin.get('/sites?limit=500');
  const warehouse = sites.find((s) => s.kind === 'warehouse');

  const courier = await phone(browser);
  let page = await courier.newPage();
  await signIn(page, node.base, 'ax_courier');
  await page.getByRole('button', { name: '回收单', exact: true }).click();
  await page.selectOption('#customer', '');
  await page.fill('#ro-contact', '回收测试张先生');
  await page.fill('#ro-phone', '13800001234');
  await page.fill('#ro-address', '昆明市五华区人民中路 8 号');
  await page.locator('#scan').focus();
  for (const c of codes) await scan(page, c);
  assert.equal(await page.locator('#ro-codes .chip').count(), 2);
  const created = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/v1/recycling-orders')) created.push(JSON.parse(r.postData())); });
  await page.locator('#ro-save').click();
  await page.waitForFunction(() => document.getElementById('result').textContent.includes('回收单已同步'), null, { timeout: 30_000 });
  assert.equal(created.length, 1);
  assert.deepEqual(created[0].codes, codes);
  assert.equal(created[0].count, 2);
  const { items: open } = await admin.get('/recycling-orders?state=open');
  const order = open.find((o) => o.id === created[0].id);
  assert.ok(order, 'the order is open on the server, under the id the device chose');
  await courier.close();

  const keeper = await phone(browser);
  page = await keeper.newPage();
  await signIn(page, node.base, 'ax_keeper');
  await page.getByRole('button', { name: '回收单确认' }).click();
  await page.selectOption('#site', warehouse.id);
  await page.locator(`#rc-orders .order[data-id="${order.id}"]`).click();
  // The keeper sees the contact as the API shows it to the role (masked).
  assert.match(await page.locator('#panel').textContent(), /138\*{4}1234/);
  for (const c of codes) await scan(page, c);
  assert.equal(await page.locator('#rc-codes .chip').count(), 2);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(screenshots, 'handheld-recycling.png'), fullPage: true });
  const confirmed = [];
  page.on('request', (r) => { if (r.url().endsWith(`/recycling-orders/${order.id}/confirm`)) confirmed.push(JSON.parse(r.postData())); });
  await page.locator('#rc-confirm').click();
  await page.waitForFunction(() => document.getElementById('result').textContent.includes('回收单已确认'), null, { timeout: 30_000 });
  assert.equal(confirmed.length, 1);
  const { items: done } = await admin.get('/recycling-orders?state=confirmed');
  const view = done.find((o) => o.id === order.id);
  assert.ok(view, 'the order is confirmed');
  assert.equal(view.site_id, warehouse.id);
  for (const c of codes) {
    const recycles = (await admin.get(`/cylinders/${c}/events`)).events.filter((e) => e.kind === 'recycle' && e.id === confirmed[0].id);
    assert.equal(recycles.length, 1, `one recycle event for ${c}`);
  }
  assert.equal(await page.locator(`#rc-orders .order[data-id="${order.id}"]`).count(), 0, 'the order left the list');
  await keeper.close();
});
