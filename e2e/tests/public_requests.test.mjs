// What the public writes from the page behind a label, and what the enterprise and the regulator do
// with it (issue 17 item 5; F3, E5, E6, D5), in a real browser on the demo node: a visitor orders gas
// and the enterprise sees the request in its order list; a complaint with a photo is answered by the
// regulator and the visitor reads the answer with the code; one message goes to two enterprises; an
// enterprise answers a spot check with a photo and the regulator sees it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDemo, token, screenshots } from '../lib/server.mjs';

const PASSWORD = 'Demo2026ok';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
// Cylinders of 昆明安信燃气有限公司 (ax) in the demo.
const ORDER_CYLINDER = '1110000002';
const COMPLAINT_CYLINDER = '1110000003';
const SPOT_CYLINDER = '1110000004';

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

async function visitor() {
  const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, locale: 'zh-CN' });
  return context.newPage();
}

async function login(user, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(`${node.base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('button[type=submit]')]);
  return page;
}

/** Submits the form posting to `action` and waits for the next page. */
async function submit(page, action) {
  const form = page.locator(`form[action="${action}"]`);
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type=submit]').click()]);
}

test('a visitor orders gas from the label page; the enterprise sees the request in its order list', async () => {
  const page = await visitor();
  await page.goto(`${node.base}/q/${ORDER_CYLINDER}`);
  // Call the enterprise: a real tel: link to the owner's phone.
  assert.equal(await page.locator('a#call').getAttribute('href'), 'tel:0871-68881234');
  await Promise.all([page.waitForURL(/\/order$/), page.click('a#order')]);
  assert.equal(await page.locator('h1').innerText(), '预约订气');

  await page.fill('input[name=name]', '赵六');
  await page.fill('input[name=phone]', '13812345678');
  await page.fill('input[name=address]', '昆明市官渡区关上街道春城路 66 号 2 栋 301');
  await page.selectOption('select[name=slot]', 'afternoon');
  await page.fill('input[name=quantity]', '2');
  await page.fill('textarea[name=remark]', '6 楼，无电梯');
  await page.screenshot({ path: join(screenshots, 'public-order.png'), fullPage: true });

  // A phone that is none: refused, the reason next to the field, what was typed kept.
  await page.fill('input[name=phone]', '12345');
  await submit(page, `/q/${ORDER_CYLINDER}/order`);
  const err = page.locator('input[name=phone] ~ .field-error');
  assert.match(await err.innerText(), /电话号码格式不正确/);
  assert.equal(await page.locator('input[name=name]').inputValue(), '赵六');
  assert.equal(await page.locator('textarea[name=remark]').inputValue(), '6 楼，无电梯');

  await page.fill('input[name=phone]', '13812345678');
  await submit(page, `/q/${ORDER_CYLINDER}/order`);
  assert.equal(await page.locator('h1').innerText(), '预约已提交');
  assert.match(await page.locator('main').innerText(), /昆明安信燃气有限公司 已收到您的订气预约/);

  const ax = await login('ax_admin');
  await ax.goto(`${node.base}/console/orders`);
  const requests = ax.locator('#order_requests');
  assert.equal(await requests.count(), 1, 'the requests head the order list');
  const row = requests.locator('tbody tr', { hasText: '赵六' });
  assert.equal(await row.count(), 1);
  const text = await row.innerText();
  assert.match(text, /扫码订气/);
  assert.match(text, /13812345678/);
  assert.match(text, /待回电/);
  assert.equal(await row.locator('a[href="tel:13812345678"]').count(), 1, 'one tap to call back');
  // The other enterprise does not see it.
  const dc = await login('dc_admin');
  await dc.goto(`${node.base}/console/orders`);
  assert.doesNotMatch(await dc.locator('main').innerText(), /赵六/);

  // Marked as called back from the request's page.
  await Promise.all([ax.waitForLoadState('load'), row.locator('a', { hasText: '处理' }).click()]);
  const action = new URL(ax.url()).pathname;
  await submit(ax, `${action}/called`);
  assert.match(await ax.locator('#order_requests tbody tr', { hasText: '赵六' }).innerText(), /已回电/);
});

test('a complaint with a photo is answered by the regulator; the visitor reads the answer with the code', async () => {
  const page = await visitor();
  await page.goto(`${node.base}/q/${COMPLAINT_CYLINDER}`);
  await Promise.all([page.waitForURL(/\/complaint$/), page.click('a#complain')]);
  await page.fill('textarea[name=content]', '送来的气瓶阀门处有漏气声，配送员没有做安检。');
  await page.fill('input[name=phone]', '13900001111');
  await page.setInputFiles('input[name=photos]', { name: '漏气.png', mimeType: 'image/png', buffer: PNG });
  await submit(page, `/q/${COMPLAINT_CYLINDER}/complaint`);
  assert.equal(await page.locator('h1').innerText(), '已收到您的投诉');
  const code = (await page.locator('#big').innerText()).trim();
  assert.match(code, /^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$/);

  const reg = await login('km_regulator');
  await reg.goto(`${node.base}/supervision/complaints`);
  const link = reg.locator('#complaints a', { hasText: '配送员没有做安检' });
  await Promise.all([reg.waitForLoadState('load'), link.click()]);
  assert.match(await reg.locator('main').innerText(), /139\*\*\*\*1111/);
  assert.doesNotMatch(await reg.locator('main').innerText(), /13900001111/);
  // The photo is served to the regulator, as a PNG.
  const src = await reg.locator('svg image').first().getAttribute('href');
  const photo = await reg.request.get(`${node.base}${src}`);
  assert.equal(photo.status(), 200);
  assert.equal(photo.headers()['content-type'], 'image/png');
  const answer = '经核查，配送员未按规定入户安检，已责令企业整改并对其处罚。';
  const action = new URL(reg.url()).pathname;
  await reg.selectOption(`form[action="${action}"] select[name=verdict]`, 'upheld');
  await reg.fill(`form[action="${action}"] textarea[name=answer]`, answer);
  await submit(reg, action);
  assert.match(await reg.locator('#complaints').innerText(), /经核查/);

  // Nobody gets the photo without signing in as the regulator.
  const anon = await page.request.get(`${node.base}${src}`, { maxRedirects: 0 });
  assert.notEqual(anon.status(), 200);

  // The visitor reads the answer with the code (a wrong one finds nothing).
  await page.goto(`${node.base}/complaint`);
  await page.fill('input[name=code]', 'ZZZZ-ZZZZ');
  await submit(page, '/complaint');
  assert.match(await page.locator('.field-error').innerText(), /没有这个投诉编号/);
  await page.fill('input[name=code]', code.toLowerCase());
  await submit(page, '/complaint');
  const facts = await page.locator('#facts').innerText();
  assert.match(facts, /属实/);
  assert.match(facts, new RegExp(answer));
  await page.screenshot({ path: join(screenshots, 'public-complaint-answer.png'), fullPage: true });
});

test('a regulator sends one message to two enterprises and their fillers; both admins see it', async () => {
  const reg = await login('km_regulator');
  await reg.goto(`${node.base}/supervision/messages`);
  const form = reg.locator('form[action="/supervision/messages"]');
  await form.locator('label.check', { hasText: '昆明安信燃气有限公司' }).locator('input').check();
  await form.locator('label.check', { hasText: '昆明滇池液化气有限公司' }).locator('input').check();
  await form.locator('select[name=staff]').selectOption('roles');
  await form.locator('label.check', { hasText: '充装工' }).locator('input').check();
  await form.locator('input[name=title]').fill('关于开展节前气瓶安全自查的通知');
  await form.locator('textarea[name=content]').fill('请于本周五前完成充装站和配送站自查，并在平台签收。');
  await reg.screenshot({ path: join(screenshots, 'supervision-message.png'), fullPage: true });
  await submit(reg, '/supervision/messages');
  const sent = reg.locator('#messages tbody tr', { hasText: '关于开展节前气瓶安全自查的通知' });
  assert.equal(await sent.count(), 2, 'one row per enterprise');

  for (const admin of ['ax_admin', 'dc_admin']) {
    const page = await login(admin);
    await page.goto(`${node.base}/console/messages`);
    const row = page.locator('#inbox tbody tr', { hasText: '关于开展节前气瓶安全自查的通知' });
    assert.equal(await row.count(), 1, `${admin} sees it`);
    await Promise.all([page.waitForLoadState('load'), row.locator('button', { hasText: '签收' }).click()]);
    assert.match(await page.locator('#inbox').innerText(), /已签收/);
  }
  const filler = await login('ax_filler', PHONE);
  await filler.goto(`${node.base}/messages`);
  assert.match(await filler.locator('#staff_messages').innerText(), /节前气瓶安全自查/);
});

test('an enterprise admin answers a spot check with a photo; the regulator sees the answer and the photo', async () => {
  const reg = await token(node.base, 'km_regulator');
  const ax = await token(node.base, 'ax_admin');
  const me = await (await fetch(`${node.base}/api/v1/me`, { headers: { authorization: `Bearer ${ax}` } })).json();
  const r = await fetch(`${node.base}/api/v1/ps/spot-checks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${reg}`, 'content-type': 'application/json' },
    body: JSON.stringify({ org_id: me.org_id, comment: '请核对钢印号与检验标记并拍照', codes: [SPOT_CYLINDER] }),
  });
  assert.equal(r.status, 201, await r.clone().text());

  const page = await login('ax_admin');
  await page.goto(`${node.base}/console/spot-checks`);
  const row = page.locator('#spot_checks tbody tr', { hasText: '请核对钢印号与检验标记并拍照' });
  await Promise.all([page.waitForLoadState('load'), row.locator('a', { hasText: '答复' }).click()]);
  const action = new URL(page.url()).pathname;
  const form = page.locator(`form[action="${action}"]`);
  await form.locator('textarea[name=answer]').fill('已逐瓶核对，钢印号与档案一致，检验标记清晰有效。');
  await form.locator('input[name=photos]').first().setInputFiles({ name: '钢印.png', mimeType: 'image/png', buffer: PNG });
  await page.screenshot({ path: join(screenshots, 'console-spot-check.png'), fullPage: true });
  await submit(page, action);
  assert.match(await row.innerText(), /已答复/);

  const rp = await login('km_regulator');
  await rp.goto(`${node.base}/supervision/spot-checks`);
  const answered = rp.locator('#spot_checks tbody tr', { hasText: '请核对钢印号与检验标记并拍照' });
  assert.match(await answered.innerText(), /钢印号与档案一致/);
  const src = await rp.locator(`svg image[href*="/photos/0"]`).last().getAttribute('href');
  const photo = await rp.request.get(`${node.base}${src}`);
  assert.equal(photo.status(), 200);
  assert.equal(photo.headers()['content-type'], 'image/png');
});
