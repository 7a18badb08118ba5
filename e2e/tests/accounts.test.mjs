// Accounts people can keep safe (issue 16, G5) in a real browser: an enterprise admin creates a staff
// account on 人员资质 and deactivates it, and the staff member's open session is sent to the login
// page at the next click; a user changes their own password on 账户安全 and signs in with the new one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemo } from '../lib/server.mjs';

const PASSWORD = 'Demo2026ok';
const DESKTOP = { width: 1280, height: 860 };

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

const path = (page) => new URL(page.url()).pathname;

/** Logs `user` in through the login form in a fresh context. */
async function login(user, password = PASSWORD) {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(`${node.base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([
    page.waitForURL((u) => u.pathname !== '/login'),
    page.click('button[type=submit]'),
  ]);
  return page;
}

/** Submits the form whose action is `action` on the current page and waits for the next page. */
async function submit(page, action) {
  await Promise.all([
    page.waitForEvent('load'),
    page.locator(`form[action="${action}"] button[type=submit]`).click(),
  ]);
}

test('an enterprise admin deactivates a staff member, whose session is then sent to login', async () => {
  const admin = await login('ax_admin');
  await admin.goto(`${node.base}/console/staff`);
  // A new staff account, created through the form.
  await admin.fill('form[action="/console/staff"] input[name=username]', 'ax_leaver');
  await admin.fill('form[action="/console/staff"] input[name=name]', '离职员工');
  await admin.fill('form[action="/console/staff"] input[name=password]', 'Leaver2026ok');
  await admin.check('form[action="/console/staff"] input[name=courier]');
  await submit(admin, '/console/staff');
  assert.match(path(admin), /^\/console\/staff\/[0-9a-f-]+$/, admin.url());
  const edit = path(admin);

  // The staff member is signed in and working.
  const staff = await login('ax_leaver', 'Leaver2026ok');
  await staff.goto(`${node.base}/account`);
  assert.equal(path(staff), '/account');
  assert.match(await staff.locator('h1').innerText(), /账户安全/);

  // 停用 on the account's page.
  await admin.selectOption(`form[action="${edit}"] select[name=active]`, 'false');
  await submit(admin, edit);
  assert.match(await admin.locator('dl.facts').first().innerText(), /停用/);
  await admin.goto(`${node.base}/console/staff`);
  const row = admin.locator('#users tr', { hasText: 'ax_leaver' });
  assert.match(await row.innerText(), /停用/);

  // The staff member's next click lands on the login page, and the password no longer works.
  await staff.goto(`${node.base}/account`);
  assert.equal(path(staff), '/login');
  await staff.fill('input[name=username]', 'ax_leaver');
  await staff.fill('input[name=password]', 'Leaver2026ok');
  await Promise.all([staff.waitForEvent('load'), staff.click('button[type=submit]')]);
  assert.equal(path(staff), '/login');
  assert.match(await staff.locator('p.error').innerText(), /用户名或密码错误/);
  await admin.context().close();
  await staff.context().close();
});

test('a user changes their own password on 账户安全', async () => {
  // A courier's home is the handheld app; its header links to 账户安全 too.
  const page = await login('dc_courier');
  assert.equal(path(page), '/app/');
  await Promise.all([page.waitForEvent('load'), page.click('header a[href="/account"]')]);
  assert.equal(path(page), '/account');
  const form = 'form[action="/account/password"]';
  // Two different new passwords: refused, the reason next to the field.
  await page.fill(`${form} input[name=old_password]`, PASSWORD);
  await page.fill(`${form} input[name=new_password]`, 'Courier2027ok');
  await page.fill(`${form} input[name=new_password2]`, 'Courier2027no');
  await submit(page, '/account/password');
  assert.match(await page.locator(`${form} .field-error`).innerText(), /两次输入的新密码不一致/);
  // Then right.
  await page.fill(`${form} input[name=old_password]`, PASSWORD);
  await page.fill(`${form} input[name=new_password]`, 'Courier2027ok');
  await page.fill(`${form} input[name=new_password2]`, 'Courier2027ok');
  await submit(page, '/account/password');
  assert.equal(path(page), '/account');
  assert.match(await page.locator('p.note').innerText(), /密码已修改/);
  await page.context().close();

  // The old password is refused, the new one signs in.
  const again = await browser.newPage();
  await again.goto(`${node.base}/login`);
  await again.fill('input[name=username]', 'dc_courier');
  await again.fill('input[name=password]', PASSWORD);
  await Promise.all([again.waitForEvent('load'), again.click('button[type=submit]')]);
  assert.equal(path(again), '/login');
  await again.close();
  const fresh = await login('dc_courier', 'Courier2027ok');
  assert.notEqual(path(fresh), '/login');
  await fresh.context().close();
});
