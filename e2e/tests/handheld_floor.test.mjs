// The filling floor on the handheld, in a real browser: the checker's pre-fill check (table C.2) made
// offline with one failed item syncs exactly once (B1.10 reads it); the filler's 充装前查询 sends the
// scanned label so a forged one is refused as 标签非正品 (A8) on a red screen, a good one is allowed on
// a green one, and the fill record (B3) that follows is stored once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startDemo, screenshots } from '../lib/server.mjs';
import {
  launch, phone, signIn, apiAs, pending, waitPending, scan, queue, usable, today, UUID,
} from './handheld_helpers.mjs';

let node;
let browser;
let admin;
let station;

before(async () => {
  node = await startDemo();
  browser = await launch();
  admin = await apiAs(node.base, 'ax_admin');
  const { items: sites } = await admin.get('/sites?limit=500');
  station = sites.find((s) => s.kind === 'filling_station');
  assert.ok(station, 'the demo enterprise has a filling station');
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

const eventsOf = async (code) => (await admin.get(`/cylinders/${code}/events`)).events;

test('the checker records a pre-fill check with one failed item offline; it syncs exactly once', async () => {
  // B1.10, table C.2
  const context = await phone(browser);
  const page = await context.newPage();
  await signIn(page, node.base, 'ax_checker');
  assert.equal((await page.locator('#role').textContent()).trim(), '检查员');
  // The checker's menu: the three checks and 查询, nothing else.
  assert.deepEqual(await page.locator('#ops button').evaluateAll((bs) => bs.map((b) => b.dataset.op)),
    ['pre_fill_check', 'in_fill_check', 'post_fill_check', 'lookup']);
  await page.getByRole('button', { name: '充装前检查' }).click();
  await page.selectOption('#site', station.id);

  const [cylinder] = await usable(admin, 'empty_store');
  const code = cylinder.code;
  const before = (await eventsOf(code)).length;

  await context.setOffline(true);
  await page.waitForFunction(() => document.getElementById('net').textContent === '离线');
  await scan(page, code);
  // The table C.2 items, all good by default; one tap marks one defective and the screen names it.
  await page.waitForSelector('#panel .toggle');
  assert.equal(await page.locator('#panel .toggle').count(), 9);
  assert.equal(await page.locator('#panel .toggle.bad').count(), 0);
  assert.equal((await page.locator('#check-summary').textContent()).trim(), '全部合格');
  await page.locator('#panel .toggle', { hasText: '外表面无裂纹' }).click();
  assert.equal(await page.locator('#panel .toggle.bad').count(), 1);
  assert.equal((await page.locator('#check-summary').textContent()).trim(), '不合格 1 项：外表面无裂纹');
  assert.match(await page.locator('#check-save').textContent(), /不合格 1 项/);
  // The scan field keeps (or gets back, once the panel has settled) the focus for the next cylinder.
  await page.waitForFunction(() => document.activeElement?.id === 'scan', null, { timeout: 5_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(screenshots, 'handheld-check.png'), fullPage: true });
  await page.locator('#check-save').click();

  await waitPending(page, 1);
  const [item] = await queue(page);
  assert.equal(item.type, 'event');
  assert.equal(item.status, 'pending');
  assert.match(item.id, UUID);
  assert.equal(item.event.id, item.id);
  assert.equal(item.event.kind, 'pre_fill_check');
  assert.deepEqual(item.event.codes, [code]);
  assert.equal(item.event.site_id, station.id);
  assert.equal(item.event.data.no_cracks, false);
  assert.equal(Object.values(item.event.data).filter((v) => v === false).length, 1);
  assert.equal(await page.locator('#recent li[data-state=pending]').count(), 1);
  assert.match(await page.locator('#recent li[data-state=pending]').textContent(), /充装前检查[\s\S]*不合格：外表面无裂纹/);
  assert.equal((await eventsOf(code)).length, before, 'nothing reaches the server while offline');

  // Back online; the answer to the first send is lost, and the sync is asked for twice more.
  const sent = [];
  let lost = 0;
  await page.route('**/api/v1/events', async (route) => {
    sent.push(...JSON.parse(route.request().postData()).events.map((e) => e.id));
    if (lost === 0) {
      lost += 1;
      assert.equal((await route.fetch()).status(), 201, 'the server took the check whose answer was lost');
      await route.abort();
      return;
    }
    await route.continue();
  });
  await context.setOffline(false);
  await page.locator('#sync-now').click();
  await page.locator('#sync-now').click({ force: true });
  await waitPending(page, 0);
  await page.unroute('**/api/v1/events');
  assert.ok(sent.length >= 2, `resent after the lost answer: ${sent}`);
  assert.ok(sent.every((id) => id === item.id), 'always with the same id');

  const events = await eventsOf(code);
  assert.equal(events.length, before + 1, 'exactly one event was added');
  const mine = events.filter((e) => e.id === item.id);
  assert.equal(mine.length, 1);
  assert.equal(mine[0].kind, 'pre_fill_check');
  assert.equal(mine[0].site_id, station.id);
  assert.equal(mine[0].data.no_cracks, false);
  // The check records (C.2) name the failed item.
  const { items: checks } = await admin.get(`/checks?code=${code}`);
  const rec = checks.find((c) => c.event_id === item.id);
  assert.equal(rec.passed, false);
  assert.deepEqual(rec.failed_items, ['no_cracks']);
  await page.waitForFunction(() => document.getElementById('result').dataset.kind === 'overdue');
  assert.match(await page.locator('#result').textContent(), /充装前检查已同步：不合格[\s\S]*外表面无裂纹/);

  // A check of a code the server does not know is refused with its reason in Chinese, not retried.
  await scan(page, '1119999999');
  await page.locator('#check-save').click();
  await page.waitForSelector('#failed li');
  assert.match(await page.locator('#failed').textContent(), /1119999999[\s\S]*气瓶[\s\S]*不存在/);

  // The in- and post-fill checks work the same way, with their own C.2 items.
  for (const [name, kind, n] of [['充装中检查', 'in_fill_check', 4], ['充装后检查', 'post_fill_check', 5]]) {
    await page.getByRole('button', { name }).click();
    await page.selectOption('#site', station.id);
    await scan(page, code);
    await page.waitForSelector('#panel .toggle');
    assert.equal(await page.locator('#panel .toggle').count(), n);
    await page.locator('#check-save').click();
    await page.waitForFunction((t) => document.getElementById('result').textContent.includes(`${t}已同步：合格`), name, { timeout: 30_000 });
    const last = (await eventsOf(code)).at(-1);
    assert.equal(last.kind, kind);
    assert.ok(Object.values(last.data).every((v) => v === true));
  }
  await context.close();
});

test('the filler sees a forged label refused in red, a good one allowed in green, and records the fill once', async () => {
  // A8, B1.10, B3, B5
  const filler = await apiAs(node.base, 'ax_filler');
  const checker = await apiAs(node.base, 'ax_checker');
  // A cylinder back empty whose only obstacle is the missing pre-fill check (B1.10); the checker
  // records a passed one, so that fill-control allows it.
  let chosen = null;
  let decision = null;
  for (const c of await usable(admin, 'empty_store')) {
    const d = await filler.post('/fill-control', { code: c.code, site_id: station.id, medium: '液化石油气' }, 200);
    if (d.refusals.length === 1 && d.refusals[0].rule === 'B1.10') { chosen = c; decision = d; break; }
  }
  assert.ok(chosen, 'a cylinder in the empty store that only lacks its pre-fill check');
  const code = chosen.code;
  const ok = Object.fromEntries(['own_property', 'medium_matches', 'no_cracks', 'no_corrosion', 'no_deformation',
    'no_damage', 'inspection_valid', 'valve_valid', 'residual_pressure_ok'].map((k) => [k, true]));
  await checker.post('/events', { events: [{ id: crypto.randomUUID(), kind: 'pre_fill_check', codes: [code], time: new Date().toISOString(), site_id: station.id, data: ok }] });
  const { url } = await admin.get(`/labels/${code}`);
  assert.ok(url.includes('/Q?id=') && url.includes('s='), url);
  const forged = url.replace(/([?&]s=)([0-9A-Za-z]+)/, (_, k, s) => `${k}${s[0] === '0' ? '1' : '0'}${s.slice(1)}`);
  assert.notEqual(forged, url);

  const context = await phone(browser);
  const page = await context.newPage();
  await signIn(page, node.base, 'ax_filler');
  assert.deepEqual(await page.locator('#ops button').evaluateAll((bs) => bs.map((b) => b.dataset.op)),
    ['fill_check', 'fill', 'lookup']);
  await page.getByRole('button', { name: '充装前查询' }).click();
  await page.selectOption('#site', station.id);
  assert.equal(await page.locator('#medium').inputValue(), '液化石油气');

  // Offline, fill-control is not possible: said so, nothing queued, never shown as allowed.
  await context.setOffline(true);
  await page.waitForFunction(() => document.getElementById('net').textContent === '离线');
  await scan(page, url);
  await page.waitForFunction(() => document.getElementById('result').dataset.kind === 'refused');
  assert.match(await page.locator('#result').textContent(), /充装前查询需要联网/);
  assert.equal(await page.locator('#screen').isVisible(), false);
  assert.equal((await queue(page)).length, 0);
  assert.equal(await pending(page), 0);
  await context.setOffline(false);
  await page.waitForFunction(() => document.getElementById('net').textContent === '在线');

  // The forged label: the label URL goes to fill-control, which refuses it under A8.
  const asked = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/v1/fill-control')) asked.push(JSON.parse(r.postData())); });
  await scan(page, forged);
  await page.waitForSelector('#screen[data-kind=refused]');
  const red = await page.locator('#screen').textContent();
  assert.match(red, /禁止充装/);
  assert.match(red, /标签非正品/);
  assert.match(red, /A8/);
  assert.equal(asked.at(-1).label, forged, 'the scanned label URL is sent as it was scanned');
  assert.equal(asked.at(-1).code, code);
  assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('screen')).position), 'fixed');
  await page.screenshot({ path: join(screenshots, 'handheld-fill-refused.png') });

  // The good label: allowed, on green, with the cut-off weight.
  await scan(page, url);
  await page.waitForSelector('#screen[data-kind=ok]');
  const green = await page.locator('#screen').textContent();
  assert.match(green, /允许充装/);
  assert.match(green, /防伪签名校验通过/);
  assert.ok(green.includes(`目标总重${decision.target_gross_kg} kg`), green);
  assert.doesNotMatch(green, /禁止/);
  assert.equal(asked.at(-1).label, url);
  await page.screenshot({ path: join(screenshots, 'handheld-fill-allowed.png') });

  // The fill record: tare from the archive, today's batch offered; numbers are checked on the device.
  await page.locator('#screen button', { hasText: '记录充装' }).click();
  await page.waitForSelector('#fill-gross');
  assert.equal(Number(await page.locator('#fill-tare').inputValue()), chosen.tare_kg);
  const batch = `B${today().replaceAll('-', '')}`;
  assert.equal(await page.locator('#fill-batch').inputValue(), batch);
  await page.fill('#fill-scale', 'CZ-03');
  await page.fill('#fill-gross', String(chosen.tare_kg - 1));
  await page.locator('#fill-save').click();
  assert.match(await page.locator('#panel').textContent(), /毛重应大于皮重/);
  assert.equal((await queue(page)).filter((i) => i.action === 'fill').length, 0, 'a refused form stores no fill');
  const gross = Math.round((chosen.tare_kg + chosen.fill_limit_kg * 0.98) * 100) / 100;
  await page.fill('#fill-gross', String(gross));
  await page.locator('#fill-save').click();
  await page.waitForFunction(() => document.getElementById('result').textContent.includes('充装记录已同步'), null, { timeout: 30_000 });
  assert.equal(await pending(page), 0);

  const fills = (await eventsOf(code)).filter((e) => e.kind === 'fill' && e.data.scale_no === 'CZ-03');
  assert.equal(fills.length, 1, 'the fill is stored once');
  assert.equal(fills[0].site_id, station.id);
  assert.equal(fills[0].data.tare_kg, chosen.tare_kg);
  assert.equal(fills[0].data.gross_kg, gross);
  assert.equal(fills[0].data.batch, batch);
  assert.equal(fills[0].data.medium, '液化石油气');
  assert.ok(Date.parse(fills[0].data.end) >= Date.parse(fills[0].data.begin));
  await context.close();
});
