// 设备报警, 报警规则 and 通知渠道 (issue 18) in a real browser on the demo node: the enterprise admin
// creates a webhook channel (an unreachable address: its delivery fails and waits for a retry),
// a threshold rule on the leak alarms' concentration > 20, then a demo leak alarm reports 35 over
// HTTP with its device secret; the alarm shows on 设备报警 as 告警中·未确认, its page lists the
// delivery, and 确认 turns it 已确认; a screenshot for the docs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDemo, screenshots } from '../lib/server.mjs';

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

async function submit(page, form) {
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type=submit]').click()]);
}

test('an enterprise admin sets up a rule and a channel, and acknowledges the alarm (issue 18)', async () => {
  const page = await login('ax_admin');
  // The menu leads to the three pages.
  for (const [href, title] of [['/console/alarms', '设备报警'], ['/console/alarm-rules', '报警规则'], ['/console/notify-channels', '通知渠道']]) {
    await Promise.all([page.waitForLoadState('load'), page.locator(`nav.side a[href="${href}"]`).click()]);
    assert.equal(new URL(page.url()).pathname, href);
    assert.match(await page.locator('h1').innerText(), new RegExp(title));
  }

  // A webhook channel; a malformed address first: refused next to the field.
  const webhook = page.locator('form[method=post][action="/console/notify-channels?kind=webhook"]');
  await webhook.locator('input[name=name]').fill('值班群机器人');
  await webhook.locator('input[name=url]').fill('not a url');
  await submit(page, webhook);
  const err = webhook.locator('.field-error');
  assert.equal(await err.count(), 1);
  assert.match(await err.innerText(), /http/);
  await webhook.locator('input[name=url]').fill('http://127.0.0.1:9/hook');
  await webhook.locator('input[name=secret]').fill('a-very-secret-signing-key');
  await submit(page, webhook);
  assert.equal(new URL(page.url()).pathname, '/console/notify-channels');
  const channels = await page.locator('#channels').innerText();
  assert.match(channels, /值班群机器人/);
  assert.match(channels, /已设签名密钥/);
  assert.ok(!(await page.content()).includes('a-very-secret-signing-key'), 'secrets are never shown');

  // A threshold rule on the leak alarms: concentration > 20 at once, notifying the channel.
  await page.goto(`${node.base}/console/alarm-rules`);
  const rule = page.locator('form[method=post][action="/console/alarm-rules"]');
  await rule.locator('input[name=name]').fill('燃气浓度过高');
  await rule.locator('select[name=device_type]').selectOption('leak_alarm');
  await rule.locator('select[name=condition]').selectOption('property');
  await rule.locator('input[name=property]').fill('concentration');
  await rule.locator('select[name=op]').selectOption('>');
  // No threshold: refused next to the field.
  await rule.locator('input[name=for_secs]').fill('0');
  await rule.locator('select[name=severity]').selectOption('critical');
  await rule.locator('label.check', { hasText: '值班群机器人' }).locator('input').check();
  await submit(page, rule);
  assert.equal(await rule.locator('.field-error').count(), 1);
  assert.equal(await rule.locator('input[name=value][aria-invalid=true]').count(), 1);
  await rule.locator('input[name=value]').fill('20');
  await submit(page, rule);
  assert.equal(new URL(page.url()).pathname, '/console/alarm-rules');
  const rules = await page.locator('#rules').innerText();
  assert.match(rules, /燃气浓度过高/);
  assert.match(rules, /concentration > 20/);
  assert.match(rules, /值班群机器人/);

  // A demo leak alarm of this enterprise reports 35 over HTTP with its secret.
  await page.goto(`${node.base}/console/devices?type=leak_alarm`);
  const ids = await page.locator('#devices a[href^="/console/devices/"]').evaluateAll((as) =>
    as.map((a) => a.getAttribute('href').split('/').pop()));
  const demo = JSON.parse(readFileSync(join(node.dataDir, 'demo-devices.json'), 'utf8'));
  const device = demo.find((d) => d.type === 'leak_alarm' && ids.includes(d.id));
  assert.ok(device, 'a demo leak alarm of ax');
  const up = await fetch(`${node.base}/api/v1/devices/${device.id}/up/property`, {
    method: 'POST',
    headers: { authorization: `Device ${device.id}:${device.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ values: { concentration: 35 } }),
  });
  assert.ok(up.ok, `${up.status} ${await up.text()}`);

  // 设备报警: the alarm, 告警中·未确认, critical.
  const link = `a[href="/console/devices/${device.id}"]`;
  const row = page.locator('#alarms tbody tr', { has: page.locator(link) });
  for (let i = 0; i < 10; i += 1) {
    await page.goto(`${node.base}/console/alarms`);
    if (await row.count()) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(await row.count(), 1, await page.locator('main').innerText());
  assert.match(await row.innerText(), /规则/);
  assert.match(await row.innerText(), /严重/);
  assert.match(await row.innerText(), /告警中·未确认/);
  assert.equal(await row.locator('button', { hasText: '解除' }).count(), 0, 'a threshold alarm clears by itself');
  // Filtered by state: still there; by another severity: gone.
  await page.goto(`${node.base}/console/alarms?state=active_unack`);
  assert.equal(await page.locator('#alarms tbody tr', { has: page.locator(link) }).count(), 1);
  await page.goto(`${node.base}/console/alarms?severity=info`);
  assert.equal(await page.locator('#alarms tbody tr', { has: page.locator(link) }).count(), 0);

  // Its page lists the delivery to the unreachable webhook (pending, then failed and retried).
  await page.goto(`${node.base}/console/alarms`);
  await Promise.all([page.waitForLoadState('load'), row.locator('td').first().locator('a').click()]);
  assert.match(await page.locator('h1').innerText(), /报警详情/);
  let deliveries = '';
  for (let i = 0; i < 20; i += 1) {
    deliveries = await page.locator('#deliveries').innerText();
    if (/失败/.test(deliveries)) break;
    await new Promise((r) => setTimeout(r, 1000));
    await page.reload();
  }
  assert.match(deliveries, /值班群机器人/);
  assert.match(deliveries, /报警/);

  // 确认 on the list: 已确认, the button gone.
  await page.goto(`${node.base}/console/alarms`);
  await Promise.all([page.waitForLoadState('load'), row.locator('button', { hasText: '确认' }).click()]);
  assert.equal(new URL(page.url()).pathname, '/console/alarms');
  assert.match(await row.innerText(), /告警中·已确认/);
  assert.equal(await row.locator('button', { hasText: '确认' }).count(), 0);
  await page.screenshot({ path: join(screenshots, 'console-alarms.png'), fullPage: true });
  await page.context().close();
});
