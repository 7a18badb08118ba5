// 设备管理 (issue 18) in a real browser on the demo node: the enterprise admin sees the demo's seven
// devices with their status, registers a leak alarm (a refused field is shown next to it), sees its
// secret once with the MQTT facts (and never again on its page), opens it (未上线), filters the list
// by status 离线 and finds exactly the demo's silent alarm; screenshots for the docs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDemo, screenshots } from '../lib/server.mjs';

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

async function login(user) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(`${node.base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', 'Demo2026ok');
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('button[type=submit]')]);
  return page;
}

const REGISTER = 'form[method=post][action="/console/devices"]';

async function register(page) {
  await Promise.all([page.waitForLoadState('load'), page.locator(`${REGISTER} button[type=submit]`).click()]);
}

/** The rows of the device table as { name, type, status } objects. */
async function rows(page) {
  return page.locator('#devices tbody tr').evaluateAll((trs) =>
    trs.map((tr) => {
      const td = [...tr.querySelectorAll('td')].map((c) => c.innerText.trim());
      return { name: td[0], type: td[1], status: td[4] };
    }));
}

test('an enterprise admin registers a leak alarm and finds the offline one (issue 18)', async () => {
  const page = await login('ax_admin');
  // The menu leads to the page.
  await Promise.all([page.waitForLoadState('load'), page.locator('nav.side a[href="/console/devices"]').click()]);
  assert.equal(new URL(page.url()).pathname, '/console/devices');
  assert.match(await page.locator('h1').innerText(), /设备管理/);

  // The demo's seven devices: two scales, a camera, a reader, three leak alarms (one silent, one never seen).
  const demo = await rows(page);
  assert.equal(demo.length, 7, JSON.stringify(demo));
  assert.equal(demo.filter((r) => r.type === '家用燃气泄漏报警器').length, 3);
  assert.equal(demo.filter((r) => r.status === '离线').length, 1);
  assert.equal(demo.filter((r) => r.status === '未上线').length, 1);
  assert.ok(demo.some((r) => /充装秤/.test(r.name) && r.status === '在线'));
  assert.equal(await page.locator('#devices td.ok').count(), 5);
  await page.screenshot({ path: join(screenshots, 'console-devices.png'), fullPage: true });

  // A leak alarm with a malformed camera channel: refused, the reason next to the field, nothing stored.
  const form = page.locator(REGISTER);
  await form.locator('select[name=type]').selectOption('leak_alarm');
  await form.locator('input[name=name]').fill('测试厨房报警器');
  await form.locator('input[name=group]').fill('居民用户');
  await form.locator('input[name=channel_id]').fill('123');
  await register(page);
  const err = page.locator(`${REGISTER} .field-error`);
  assert.equal(await err.count(), 1);
  assert.match(await err.innerText(), /20 位数字/);
  assert.equal((await rows(page)).length, 7);

  // Corrected: registered; its secret is shown once with the MQTT facts.
  await page.locator(`${REGISTER} input[name=channel_id]`).fill('');
  await register(page);
  assert.match(await page.locator('main .note').first().innerText(), /设备密钥仅显示一次，请立即配置到设备中/);
  const facts = page.locator('section', { hasText: '设备接入信息' }).locator('dl.facts');
  const fact = async (label) => (await facts.locator('dt', { hasText: label }).locator('xpath=following-sibling::dd[1]').innerText()).trim();
  const id = await fact('MQTT 用户名');
  const secret = await fact('MQTT 密码');
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.match(secret, /^[0-9a-f]{64}$/);
  assert.equal(await fact('上报主题'), `cyltrace/${id}/up/{kind}（kind：property、event、heartbeat 等）`);
  assert.equal(await fact('下发主题'), `cyltrace/${id}/down/#`);
  const listed = await rows(page);
  assert.equal(listed.length, 8);
  assert.ok(listed.some((r) => r.name === '测试厨房报警器' && r.status === '未上线'));

  // Its page: status 未上线, the facts, and the secret nowhere.
  await Promise.all([page.waitForLoadState('load'), page.locator(`a[href="/console/devices/${id}"]`).first().click()]);
  assert.equal(new URL(page.url()).pathname, `/console/devices/${id}`);
  assert.match(await page.locator('h1').innerText(), /设备详情 · 测试厨房报警器/);
  assert.equal(await page.locator('[data-figure=status] .v').innerText(), '未上线');
  const main = await page.locator('main').innerText();
  assert.match(main, /家用燃气泄漏报警器/);
  assert.ok(!main.includes(secret), 'the secret is shown only once');
  assert.ok(!(await page.content()).includes(secret));
  // Its type's services can be called.
  const services = await page.locator('form[action$="/call"] select[name=service] option').allInnerTexts();
  assert.deepEqual(services, ['消音（无参数）', '关闭切断阀（无参数）']);
  // Calling a service of a device that is not connected: no reply (超时, after the node's 10 s) or
  // the reason the call could not be sent, above the form; never an error page.
  const callForm = page.locator('form[action$="/call"]');
  await callForm.locator('select[name=service]').selectOption('mute');
  await Promise.all([page.waitForLoadState('load'), callForm.locator('button[type=submit]').click()]);
  assert.match(await page.locator('h1').innerText(), /设备详情/);
  const outcome = page.locator('section', { hasText: '远程调用结果' });
  if (await outcome.count()) assert.match(await outcome.innerText(), /超时/);
  else assert.match(await page.locator('main p.error').first().innerText(), CHINESE);
  // 重置密钥: a new secret, shown once, not the old one.
  const reset = page.locator(`form[action="/console/devices/${id}/secret"]`);
  await Promise.all([page.waitForLoadState('load'), reset.locator('button[type=submit]').click()]);
  const again = (await page.locator('section', { hasText: '设备接入信息' }).locator('dt', { hasText: 'MQTT 密码' })
    .locator('xpath=following-sibling::dd[1]').innerText()).trim();
  assert.match(again, /^[0-9a-f]{64}$/);
  assert.notEqual(again, secret);

  // A demo device with readings: the latest properties carry the model's names and units.
  await page.goto(`${node.base}/console/devices`);
  await Promise.all([page.waitForLoadState('load'), page.locator('#devices a', { hasText: '1号充装秤' }).click()]);
  assert.equal(await page.locator('[data-figure=status] .v').innerText(), '在线');
  const props = await page.locator('#properties').innerText();
  assert.match(props, /重量/);
  assert.match(props, /kg/);
  await page.screenshot({ path: join(screenshots, 'console-device.png'), fullPage: true });

  // Filter by status 离线: exactly the demo's silent alarm.
  await page.goto(`${node.base}/console/devices`);
  await page.locator('form.filter select[name=status]').selectOption('offline');
  await Promise.all([page.waitForLoadState('load'), page.locator('form.filter button[type=submit]').click()]);
  assert.equal(new URL(page.url()).searchParams.get('status'), 'offline');
  const offline = await rows(page);
  assert.equal(offline.length, 1, JSON.stringify(offline));
  assert.equal(offline[0].status, '离线');
  assert.equal(offline[0].name, '居民2号厨房报警器');
  assert.equal(await page.locator('#devices td.bad').count(), 1);
  await page.context().close();
});
