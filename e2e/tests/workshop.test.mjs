// Lab tests, repairs (B8) and recycling orders (C4) through the enterprise console, in a real browser
// on the demo node: a refused field is shown next to it, a saved record appears in the list and in
// the cylinder's trace; a recycling order is recorded, confirmed at a station with a code, and the
// cylinder's events hold exactly one recycle naming the order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDemo, token, screenshots } from '../lib/server.mjs';

let node;
let browser;

before(async () => {
  node = await startDemo();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

async function login(user) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(`${node.base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', 'Demo2026ok');
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('button[type=submit]')]);
  return page;
}

async function submit(page, action) {
  const form = page.locator(`form[method=post][action="${action}"]`);
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type=submit]').click()]);
}

async function api(user, path) {
  const bearer = await token(node.base, user);
  const r = await fetch(`${node.base}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

/** Codes of ax_admin's cylinders in normal state. */
async function codes(n) {
  const items = (await api('ax_admin', '/api/v1/cylinders?limit=50')).items;
  return items.filter((c) => c.status?.state === 'normal').slice(0, n).map((c) => c.code);
}

test('an enterprise admin records a lab test and a repair (B8)', async () => {
  const [a, b] = await codes(2);
  const before = (await api('ax_admin', '/api/v1/lab-tests')).total;
  const page = await login('ax_admin');
  await page.goto(`${node.base}/console/lab-tests`);
  const form = page.locator('form[method=post][action="/console/lab-tests"]');
  await form.locator('textarea[name=codes]').fill(`${a} ${b}`);
  await form.locator('input[name=sample_no]').fill('S-E2E-01');
  await form.locator('input[name=tester]').fill('李工');
  // Components adding up to more than 100 %: refused, the reason next to the field, nothing stored.
  await form.locator('textarea[name=composition]').fill('丙烷=70\n丁烷=40');
  await submit(page, '/console/lab-tests');
  const err = page.locator('form[method=post][action="/console/lab-tests"] .field-error');
  assert.equal(await err.count(), 1);
  assert.match(await err.innerText(), /超过 100%/);
  assert.equal((await api('ax_admin', '/api/v1/lab-tests')).total, before);
  await page.locator('form[method=post][action="/console/lab-tests"] textarea[name=composition]').fill('丙烷=62.5\n丁烷=36');
  await submit(page, '/console/lab-tests');
  assert.match(await page.locator('#lab_test').innerText(), /S-E2E-01/);
  await page.screenshot({ path: join(screenshots, 'console-lab-tests.png'), fullPage: true });

  await page.goto(`${node.base}/console/repairs`);
  const rf = page.locator('form[method=post][action="/console/repairs"]');
  await rf.locator('input[name=codes]').fill(a);
  await rf.locator('input[name=items]').fill('更换瓶阀');
  await rf.locator('select[name=valve_replaced]').selectOption('true');
  await rf.locator('input[name=repairer]').fill('王师傅');
  await submit(page, '/console/repairs');
  // A replaced valve needs its maker.
  assert.match(await page.locator('form[method=post][action="/console/repairs"] .field-error').innerText(), /阀门制造单位/);
  await page.locator('form[method=post][action="/console/repairs"] input[name=valve_maker]').fill('宁波阀门厂');
  await submit(page, '/console/repairs');
  assert.match(await page.locator('#repair').innerText(), /更换瓶阀/);

  // Both stand in the cylinder's trace.
  await page.goto(`${node.base}/console/cylinders/${a}`);
  const trace = await page.locator('#trace').innerText();
  assert.match(trace, /化验/);
  assert.match(trace, /维修/);
  await page.context().close();
});

test('a recycling order is confirmed at a station (C4)', async () => {
  const [code] = (await codes(10)).slice(5, 6);
  const page = await login('ax_admin');
  await page.goto(`${node.base}/console/recycling-orders`);
  const form = page.locator('form[method=post][action="/console/recycling-orders"]');
  // No customer and no contact: refused, named next to the field.
  await submit(page, '/console/recycling-orders');
  assert.match(await page.locator('form[method=post][action="/console/recycling-orders"]').innerText(), /须填写联系人/);
  await form.locator('input[name=contact]').fill('钱七');
  await form.locator('input[name=phone]').fill('13800002222');
  await form.locator('input[name=address]').fill('昆明市西山区滇池路 2 号');
  await form.locator('input[name=count]').fill('1');
  await submit(page, '/console/recycling-orders');
  const row = page.locator('#recycling_orders tbody tr', { hasText: '钱七' });
  assert.match(await row.innerText(), /待回收/);
  await Promise.all([page.waitForLoadState('load'), row.locator('a').click()]);
  const confirm = page.locator('form[action$="/confirm"]');
  const action = await confirm.getAttribute('action');
  const orderId = action.split('/')[3];
  await confirm.locator('textarea[name=codes]').fill(code);
  await submit(page, action);
  assert.match(await page.locator('main').innerText(), /已确认回收/);
  await page.screenshot({ path: join(screenshots, 'console-recycling-order.png'), fullPage: true });

  const events = (await api('ax_admin', `/api/v1/cylinders/${code}/events`)).events;
  const recycles = events.filter((e) => e.kind === 'recycle' && e.data.recycling_order_id === orderId);
  assert.equal(recycles.length, 1);
  await page.context().close();
});
