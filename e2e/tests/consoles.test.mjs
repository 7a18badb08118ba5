// The consoles in a real browser: each role logs in through the form and reaches every page of its
// menu; data scope and roles (403 with the Chinese error, nothing of the other enterprise shown);
// logout; the supervision figures agree with the tables behind them; screenshots for the docs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDemo, token, screenshots } from '../lib/server.mjs';

const PASSWORD = 'Demo2026ok';
const DESKTOP = { width: 1440, height: 900 };
const CHINESE = /[\u4e00-\u9fff]/;

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

/** A fresh, logged-out browser context and page. */
async function freshPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, locale: 'zh-CN' });
  return context.newPage();
}

/** Logs `user` in through the form of /login in a fresh context; the page is on the role's home. */
async function login(user, viewport = DESKTOP) {
  const page = await freshPage(viewport);
  const resp = await page.goto(`${node.base}/login`);
  assert.equal(resp.status(), 200);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([
    page.waitForURL((u) => u.pathname !== '/login'),
    page.click('button[type=submit]'),
  ]);
  if (!sessions.has(user)) sessions.set(user, await page.context().storageState());
  return page;
}

/** The cookies of each user's last form login, so later tests need not log in again. */
const sessions = new Map();

/** A fresh context logged in as `user` (reusing an earlier login's session), on a blank page. */
async function as(user, viewport = DESKTOP) {
  if (!sessions.has(user)) await (await login(user)).context().close();
  const context = await browser.newContext({ viewport, locale: 'zh-CN', storageState: sessions.get(user) });
  return context.newPage();
}

const path = (page) => new URL(page.url()).pathname;

/** Visits `href` and asserts a normal page: 200, a Chinese h1, no error element. */
async function assertPageOk(page, href) {
  const resp = await page.goto(`${node.base}${href}`);
  assert.equal(resp.status(), 200, `${href}: HTTP ${resp.status()}`);
  assert.equal(path(page), new URL(href, node.base).pathname, `${href} redirected to ${page.url()}`);
  const h1 = await page.locator('h1').allTextContents();
  assert.ok(h1.length >= 1, `${href}: no h1`);
  assert.match(h1.join(' '), CHINESE, `${href}: h1 ${JSON.stringify(h1)} is not Chinese`);
  assert.equal(await page.locator('.error').count(), 0, `${href}: shows an error`);
}

/** Visits `href` and asserts the 403 page with a Chinese message. */
async function assertForbidden(page, href) {
  const resp = await page.goto(`${node.base}${href}`);
  assert.equal(resp.status(), 403, `${href}: HTTP ${resp.status()}, expected 403`);
  const msg = (await page.locator('p.error').allTextContents()).join(' ');
  assert.match(msg, CHINESE, `${href}: error message ${JSON.stringify(msg)} is not Chinese`);
  assert.match(msg, /无权|权限/, `${href}: error message ${JSON.stringify(msg)} does not say 无权`);
}

const tokens = new Map();

/** GET `url` of the API as `user`, with a bearer token (one per user); the parsed JSON. */
async function api(user, url) {
  if (!tokens.has(user)) tokens.set(user, await token(node.base, user));
  const t = tokens.get(user);
  const r = await fetch(`${node.base}${url}`, { headers: { authorization: `Bearer ${t}` } });
  assert.equal(r.status, 200, `${url} as ${user}: ${r.status}`);
  return r.json();
}

const num = (s) => {
  const t = s.trim();
  assert.match(t, /^\d+$/, `not an integer: ${JSON.stringify(s)}`);
  return Number(t);
};

/** Screenshots taken while test 1 walks the menus: "user href" → file. */
const SHOTS = {
  'ax_admin /console': 'console-overview.png',
  'ax_admin /console/orders': 'console-orders.png',
  'km_regulator /supervision': 'supervision-overview.png',
  'km_regulator /supervision/map': 'supervision-map.png',
  'km_regulator /supervision/statistics': 'supervision-statistics.png',
  'km_regulator /supervision/enterprises': 'supervision-enterprises.png',
  'km_inspector /inspection': 'inspection.png',
};

test('each role logs in through the form and reaches every page of its menu', async () => {
  const roles = [
    { user: 'admin', home: '/supervision', must: ['/admin/audit', '/bigscreen'] },
    { user: 'km_regulator', home: '/supervision', must: ['/supervision/map'], mustNot: ['/admin/audit'] },
    { user: 'ax_admin', home: '/console', must: ['/console/cylinders', '/console/orders'], mustNot: ['/supervision'] },
    { user: 'km_inspector', home: '/inspection', must: ['/inspection'], mustNot: ['/console'] },
  ];
  // The roles in parallel, each in its own context, to keep the run short.
  await Promise.all(roles.map(async ({ user, home, must = [], mustNot = [] }) => {
    const page = await login(user);
    assert.equal(path(page), home, `${user} landed on ${page.url()}`);
    const hrefs = await page.locator('nav.side a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    for (const h of must) assert.ok(hrefs.includes(h), `${user}: menu ${hrefs} lacks ${h}`);
    for (const h of mustNot) assert.ok(!hrefs.includes(h), `${user}: menu ${hrefs} has ${h}`);
    assert.equal(new Set(hrefs).size, hrefs.length, `${user}: duplicate menu entries ${hrefs}`);
    for (const href of hrefs) {
      if (href === '/app/') continue;
      await assertPageOk(page, href);
      // The screenshots of these pages are taken here, to keep the run short.
      const shot = SHOTS[`${user} ${href}`];
      if (shot) await page.screenshot({ path: join(screenshots, shot), fullPage: true });
    }
    await page.context().close();
  }).concat(['ax_keeper', 'ax_courier', 'ax_driver'].map(async (user) => {
    const page = await login(user);
    assert.equal(path(page), '/app/', `${user} landed on ${page.url()}`);
    await page.context().close();
  })));
});

test('data scope and roles: 403 outside the scope, and nothing of the other enterprise', async () => {
  // A cylinder of the other enterprise (dc_admin's), and one of ax_admin's own for contrast.
  const theirs = (await api('dc_admin', '/api/v1/cylinders?limit=5')).items;
  const ours = (await api('ax_admin', '/api/v1/cylinders?limit=5')).items;
  assert.ok(theirs.length > 0 && ours.length > 0);
  const ourCodes = new Set(ours.map((c) => c.code));
  const other = theirs.find((c) => !ourCodes.has(c.code));
  assert.ok(other, 'dc_admin and ax_admin see the same cylinders');
  assert.ok(other.factory_serial, JSON.stringify(other));

  const page = await as('ax_admin');
  await assertForbidden(page, `/console/cylinders/${other.code}`);
  const html = await page.content();
  assert.ok(!html.includes(other.factory_serial), 'the 403 page shows the factory serial');
  assert.ok(!html.includes(other.inner_no), 'the 403 page shows the inner number');

  // The list, searched for that code or its factory serial, finds nothing; its own cylinder is found.
  for (const q of [other.code, other.factory_serial]) {
    const resp = await page.goto(`${node.base}/console/cylinders?q=${encodeURIComponent(q)}`);
    assert.equal(resp.status(), 200);
    const main = await page.locator('main').innerText();
    assert.match(main, /共 0 只/, `search ${q}: ${main.slice(0, 300)}`);
    assert.ok(!main.includes(other.factory_serial), `search ${q} shows the other enterprise's cylinder`);
    assert.equal(await page.locator(`main a[href$="/${other.code}"]`).count(), 0,
      `search ${q} links to the other enterprise's cylinder`);
  }
  await page.goto(`${node.base}/console/cylinders?q=${ours[0].code}`);
  assert.match(await page.locator('main').innerText(), /共 1 只/, 'its own cylinder is not found');

  for (const href of ['/supervision', '/supervision/map', '/bigscreen', '/admin/audit']) {
    await assertForbidden(page, href);
  }
  await page.context().close();

  const regulator = await as('km_regulator');
  await assertForbidden(regulator, '/console/orders');
  await assertForbidden(regulator, '/admin/audit');
  await regulator.context().close();

  const keeper = await as('ax_keeper');
  await assertForbidden(keeper, '/console');
  await keeper.context().close();

  const anon = await freshPage();
  await anon.goto(`${node.base}/console`);
  assert.equal(anon.url(), `${node.base}/login?next=%2Fconsole`);
  assert.equal(await anon.locator('input[name=username]').count(), 1);
  await anon.context().close();
});

test('logout: afterwards /console goes to the login page, even with the old cookie', async () => {
  const page = await login('ax_admin');
  assert.equal(path(page), '/console');
  const cookies = await page.context().cookies();
  assert.ok(cookies.length > 0);
  await Promise.all([
    page.waitForURL((u) => u.pathname !== '/console'),
    page.click('header.top form[action="/logout"] button'),
  ]);
  await page.goto(`${node.base}/console`);
  assert.equal(page.url(), `${node.base}/login?next=%2Fconsole`);
  // The session is ended on the server too: the old cookie, put back, does not log in.
  await page.context().addCookies(cookies);
  await page.goto(`${node.base}/console`);
  assert.equal(page.url(), `${node.base}/login?next=%2Fconsole`);
  await page.context().close();
});

test('figures are consistent with the tables behind them', async () => {
  const page = await as('km_regulator');
  await page.goto(`${node.base}/supervision`);
  const total = num(await page.locator('a.figure[data-figure=total] .v').textContent());
  assert.ok(total > 0, `total ${total}`);
  const heads = await page.locator('#enterprises thead th').allTextContents();
  const col = heads.findIndex((h) => h.trim() === '在册');
  assert.ok(col >= 0, `no 在册 column in ${heads}`);
  const cells = await page.locator('#enterprises tbody tr').evaluateAll(
    (rows, i) => rows.map((r) => r.cells[i]?.textContent ?? ''), col);
  assert.ok(cells.length > 0, 'no enterprises');
  assert.equal(cells.map(num).reduce((a, b) => a + b, 0), total, `在册 ${cells} vs total ${total}`);

  const overdue = num(await page.locator('a.figure[data-figure=inspection_overdue] .v').textContent());
  await page.goto(`${node.base}/supervision/inspection`);
  const h2 = (await page.locator('h2', { hasText: '超期未检' }).allTextContents()).join(' ');
  const m = h2.match(/超期未检钢瓶（(\d+) 只）/);
  assert.ok(m, `no overdue heading: ${JSON.stringify(h2)}`);
  assert.equal(Number(m[1]), overdue, `heading ${h2} vs figure ${overdue}`);
  await page.context().close();
});

// The console counts the orders waiting for a courier and dispatches them from the list.
test('console: 待派送订单 counts the waiting orders, which can be dispatched', async () => {
  const page = await as('ax_admin');
  const waitingNow = async () => {
    await page.goto(`${node.base}/console`);
    const figure = num(await page.locator('a.figure[data-figure=orders_new] .v').textContent());
    await page.goto(`${node.base}/console/orders`);
    const states = await page.locator('#orders tbody tr').evaluateAll(
      (rows) => rows.map((r) => r.cells[4]?.textContent.trim()));
    const waiting = states.filter((s) => s === '待派送').length;
    assert.equal(figure, waiting, `figure 待派送订单 ${figure}, 待派送 rows ${waiting}`);
    assert.equal(await page.locator('#orders tbody button').count(), waiting, 'a dispatch button per waiting order');
    return waiting;
  };
  const before = await waitingNow();
  assert.ok(before > 0, 'the demo has orders waiting');
  await Promise.all([page.waitForURL(/\/console\/orders$/), page.locator('#orders tbody button').first().click()]);
  assert.equal(await waitingNow(), before - 1, 'one order dispatched');
  await page.context().close();
});

test('screenshots of the consoles', async () => {
  // The others are taken by the first test, on its walk through the menus.
  const anon = await freshPage();
  await anon.goto(`${node.base}/login`);
  await anon.screenshot({ path: join(screenshots, 'login.png') });
  await anon.context().close();

  const ax = await as('ax_admin');
  const mine = (await api('ax_admin', '/api/v1/cylinders?limit=20')).items
    .find((c) => c.status?.event_count > 5);
  assert.ok(mine, 'no ax_admin cylinder with a trace');
  await assertPageOk(ax, `/console/cylinders/${mine.code}`);
  assert.equal((await ax.locator('h1').textContent()).trim(), `气瓶 ${mine.code}`);
  assert.ok(await ax.locator('#trace tbody tr').count() > 5, 'the archive page shows no trace');
  await ax.screenshot({ path: join(screenshots, 'console-cylinder.png'), fullPage: true });
  await ax.context().close();

  const big = await as('km_regulator', { width: 1920, height: 1080 });
  await assertPageOk(big, '/bigscreen');
  assert.ok(await big.locator('div.figure').count() > 0, 'no figures on the big screen');
  await big.screenshot({ path: join(screenshots, 'bigscreen.png') });
  await big.context().close();
});
