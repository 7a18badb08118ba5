// Master data that can change (issue 16), in a real browser on the demo node: an enterprise admin
// renews a licence (the reminder goes away), sees a refused field's reason next to it, closes a site
// and locks a cylinder; a regulator grants entrusted filling. Each is checked on the next page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemo, token } from '../lib/server.mjs';

const PASSWORD = 'Demo2026ok';

let node;
let browser;

before(async () => {
  node = await startDemo();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
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
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('button[type=submit]')]);
  return page;
}

/** Submits the form posting to `action` and waits for the next page. */
async function submit(page, action) {
  const form = page.locator(`form[action="${action}"]`);
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type=submit]').click()]);
}

const inYears = (n) => `${new Date().getFullYear() + n}-12-31`;

test('an enterprise admin renews a licence, closes a site and locks a cylinder', async () => {
  const page = await login('dc_admin');
  // The demo's gas business licence runs out within 60 days: the overview reminds of it.
  await page.goto(`${node.base}/console`);
  assert.equal(await page.locator('#licence_reminders').count(), 1, 'the reminder is shown');
  assert.match(await page.locator('#licence_reminders').innerText(), /燃气经营许可证/);

  await page.goto(`${node.base}/console/org`);
  const orgForm = page.locator('form[action^="/console/org/"]:not([action$="/licence"])');
  const orgAction = await orgForm.getAttribute('action');
  // A phone that is no phone number: refused, the reason next to the field, nothing lost.
  await orgForm.locator('input[name=phone]').fill('abc');
  await submit(page, orgAction);
  const phoneError = page.locator(`form[action="${orgAction}"] .field-error`);
  assert.equal(await phoneError.count(), 1);
  assert.match(await phoneError.innerText(), /电话/);
  assert.equal(await page.locator(`form[action="${orgAction}"] input[name=phone]`).inputValue(), 'abc');

  const licenceAction = `${orgAction}/licence`;
  const licence = page.locator(`form[action="${licenceAction}"]`);
  await licence.locator('select[name=kind]').selectOption('gas_business');
  await licence.locator('input[name=number]').fill('云燃经字第2026续001号');
  await licence.locator('input[name=valid_until]').fill(inYears(3));
  await submit(page, licenceAction);
  assert.match(await page.locator('#licences').innerText(), new RegExp(inYears(3)));
  await page.goto(`${node.base}/console`);
  assert.equal(await page.locator('#licence_reminders').count(), 0, 'renewed: no reminder left');

  // Close the first site.
  await page.goto(`${node.base}/console/sites`);
  const first = page.locator('#sites tbody tr').first();
  const siteName = (await first.locator('td').first().innerText()).trim();
  await Promise.all([page.waitForLoadState('load'), first.locator('a').first().click()]);
  const activeAction = `${new URL(page.url()).pathname}/active`;
  await submit(page, activeAction);
  assert.match(await page.locator('main').innerText(), /已关闭/);
  await page.goto(`${node.base}/console/sites`);
  const row = page.locator('#sites tbody tr', { hasText: siteName });
  assert.match(await row.innerText(), /已关闭/);

  // Lock a cylinder of the enterprise with a reason.
  const bearer = await token(node.base, 'dc_admin');
  const list = await fetch(`${node.base}/api/v1/cylinders?limit=50`, { headers: { authorization: `Bearer ${bearer}` } });
  const items = (await list.json()).items;
  const code = items.find((c) => c.status?.state === 'normal')?.code ?? items[0].code;
  await page.goto(`${node.base}/console/cylinders/${code}`);
  const stateAction = `/console/cylinders/${code}/state`;
  await page.locator(`form[action="${stateAction}"] input[name=reason]`).fill('瓶阀损坏，停用待修');
  await submit(page, stateAction);
  assert.match(await page.locator('[data-figure=verdict]').innerText(), /已停用/);
  const pub = await browser.newPage();
  await pub.goto(`${node.base}/q/${code}`);
  assert.match(await pub.locator('body').innerText(), /已停用/);
  await pub.close();
  await page.context().close();
});

test('a regulator grants entrusted filling', async () => {
  const page = await login('km_regulator');
  await page.goto(`${node.base}/supervision/permissions`);
  const form = page.locator('form[action="/supervision/permissions"]');
  await form.locator('select[name=owner_org_id]').selectOption({ label: '昆明安信燃气有限公司' });
  await form.locator('select[name=filler_org_id]').selectOption({ label: '昆明滇池液化气有限公司' });
  await form.locator('input[name=valid_until]').fill(inYears(1));
  await submit(page, '/supervision/permissions');
  const table = await page.locator('#permissions').innerText();
  assert.match(table, /昆明安信燃气有限公司/);
  assert.match(table, new RegExp(inYears(1)));
  assert.match(table, /有效/);
  await page.context().close();
});
