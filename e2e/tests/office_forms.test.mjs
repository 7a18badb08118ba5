// The enterprise office without the JSON API (issue 17), in a real browser on the demo node: an
// enterprise admin opens an account for a customer (a bad phone refused next to the field first),
// takes a deposit and verifies the real name; registers a vehicle (a plate that is no plate refused
// first), a driver and an escort, and issues a waybill; defines a filling batch, sees a fill the
// filling floor records in it on the batch's page with its counts (B5); applies for the inspection
// of two cylinders from the due list (D1); records a household check with a failed item and the
// signed sheet (C9); reserves a block of label numbers and issues from it (A5). Each record is then
// seen in its list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startDemo, token, screenshots } from '../lib/server.mjs';

const PASSWORD = 'Demo2026ok';

let node;
let browser;
let page;

before(async () => {
  mkdirSync(screenshots, { recursive: true });
  node = await startDemo();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  page = await context.newPage();
  await page.goto(`${node.base}/login`);
  await page.fill('input[name=username]', 'ax_admin');
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('button[type=submit]')]);
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

/** Submits the form posting to `action` and waits for the next page. */
async function submit(action) {
  const form = page.locator(`form[method=post][action="${action}"]`);
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type=submit]').click()]);
}

/** The reason shown next to field `name` of the form posting to `action`. */
async function fieldError(action, name) {
  const label = page.locator(`form[method=post][action="${action}"] label`, { has: page.locator(`[name="${name}"]`) });
  return (await label.locator('.field-error').innerText()).trim();
}

async function shot(name, fullPage = true) {
  await page.screenshot({ path: join(screenshots, name), fullPage });
}

/** A valid resident ID number (GB 11643 check character) from its first 17 digits. */
function idNumber(first17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((s, d, i) => s + Number(d) * w[i], 0);
  return first17 + '10X98765432'[sum % 11];
}

const inYears = (n) => `${new Date().getFullYear() + n}-12-31`;

/** A 1×1 PNG: the scanned sheet the customer signed. */
function png() {
  const crc = (buf) => {
    let c = ~0;
    for (const b of buf) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, c]);
  };
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from([0, 128]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const CUSTOMER = '赵明远';

test('a customer: a bad phone is refused next to it, then the account, a deposit and the real name', async () => {
  await page.goto(`${node.base}/console/customers`);
  const action = '/console/customers';
  const form = page.locator(`form[method=post][action="${action}"]`);
  await form.locator('input[name=name]').fill(CUSTOMER);
  await form.locator('input[name=id_number]').fill(idNumber('53010219860512771'));
  await form.locator('input[name=phone]').fill('12345');
  await form.locator('input[name=address]').fill('昆明市五华区青年路 88 号 3 单元 502');
  await submit(action);
  assert.match(await fieldError(action, 'phone'), /电话号码格式不正确/);
  assert.equal(await form.locator('input[name=phone]').inputValue(), '12345', 'the form comes back filled in');
  assert.equal(await form.locator('input[name=name]').inputValue(), CUSTOMER);

  await form.locator('input[name=phone]').fill('13987654321');
  await submit(action);
  assert.match(new URL(page.url()).pathname, /^\/console\/customers\/[0-9a-f-]{36}$/);
  assert.match(await page.locator('h1').innerText(), new RegExp(CUSTOMER));
  const customerPath = new URL(page.url()).pathname;

  // 收押金 for two cylinders.
  const deposit = `${customerPath}/deposits`;
  await page.locator(`form[method=post][action="${deposit}"] input[name=count]`).fill('2');
  await page.locator(`form[method=post][action="${deposit}"] input[name=amount_yuan]`).fill('200');
  await page.locator(`form[method=post][action="${deposit}"] input[name=receipt_no]`).fill('YJ-E2E-0001');
  await submit(deposit);
  assert.match(await page.locator('#deposits').innerText(), /YJ-E2E-0001/);
  assert.equal((await page.locator('[data-figure=deposits] .v').innerText()).trim(), '2');

  // 实名核验.
  await submit(`${customerPath}/verify`);
  assert.match(await page.locator('main').innerText(), /已实名/);
  assert.equal(await page.locator(`form[method=post][action="${customerPath}/verify"]`).count(), 0);
  await shot('console-customer.png');

  await page.goto(`${node.base}/console/customers`);
  const row = page.locator('#customers tbody tr', { hasText: CUSTOMER });
  assert.equal(await row.count(), 1, 'the new customer is in the list');
  assert.match(await row.innerText(), /已实名/);
  assert.match(await row.innerText(), /139\*{4}4321|13987654321/);
});

const PLATE = '云A9F321';

test('a vehicle (a plate that is no plate refused next to it), a driver and an escort, then a waybill', async () => {
  await page.goto(`${node.base}/console/vehicles`);
  const action = '/console/vehicles';
  const form = page.locator(`form[method=post][action="${action}"]`);
  await form.locator('input[name=plate]').fill('ABC123');
  await form.locator('input[name=permit_no]').fill('云交运危字 530100009');
  await form.locator('input[name=permit_valid_until]').fill(inYears(2));
  await submit(action);
  assert.match(await fieldError(action, 'plate'), /车牌号格式不正确/);
  await form.locator('input[name=plate]').fill(PLATE);
  await submit(action);
  assert.equal(new URL(page.url()).pathname, action);
  const vehicle = page.locator('#vehicles tbody tr', { hasText: PLATE });
  assert.equal(await vehicle.count(), 1, 'the new vehicle is in the list');
  assert.match(await vehicle.innerText(), /有效/);
  await shot('console-vehicles.png');

  const staff = '/console/transport-staff';
  for (const [role, name, seed] of [['driver', '钱师傅', '53010219800301123'], ['escort', '孙押运', '53010219850415234']]) {
    await page.goto(`${node.base}${staff}`);
    const f = page.locator(`form[method=post][action="${staff}"]`);
    await f.locator('select[name=role]').selectOption(role);
    await f.locator('input[name=name]').fill(name);
    await f.locator('input[name=id_number]').fill(idNumber(seed));
    await f.locator('input[name=phone]').fill('13800005678');
    await f.locator('input[name=certificate_no]').fill(`CY-E2E-${role}`);
    await f.locator('input[name=certificate_valid_until]').fill(inYears(3));
    await submit(staff);
    assert.equal(new URL(page.url()).pathname, staff);
    assert.equal(await page.locator('#transport_staff tbody tr', { hasText: name }).count(), 1);
  }
  await shot('console-transport-staff.png');

  await page.goto(`${node.base}/console/waybills`);
  const wb = '/console/waybills';
  const w = page.locator(`form[method=post][action="${wb}"]`);
  await w.locator('input[name=number]').fill('YD-E2E-0001');
  await w.locator('select[name=origin_site_id]').selectOption({ label: '安信燃气气瓶仓库（仓库）' });
  await w.locator('select[name=destination_site_id]').selectOption({ label: '安信燃气城区供应站（供应站）' });
  await w.locator('select[name=vehicle_id]').selectOption({ label: `${PLATE} 危险品运输车` });
  await w.locator('select[name=driver_id]').selectOption({ label: '钱师傅' });
  await w.locator('select[name=escort_id]').selectOption({ label: '孙押运' });
  await submit(wb);
  assert.match(new URL(page.url()).pathname, /^\/console\/waybills\/[0-9a-f-]{36}$/);
  const facts = await page.locator('main').innerText();
  for (const s of ['YD-E2E-0001', PLATE, '钱师傅', '孙押运', '安信燃气城区供应站', '待装车']) {
    assert.ok(facts.includes(s), `the waybill page shows ${s}`);
  }
  await page.goto(`${node.base}/console/waybills`);
  const row = page.locator('#waybills tbody tr', { hasText: 'YD-E2E-0001' });
  assert.equal(await row.count(), 1, 'the waybill is in the list');
  assert.match(await row.innerText(), new RegExp(PLATE));
  await shot('console-waybill.png');
});

const BATCH = 'B-E2E-0001';

test('a batch, and a fill recorded on the floor in it, seen on the batch page with the counts (B5)', async () => {
  await page.goto(`${node.base}/console/batches`);
  const action = '/console/batches';
  const form = page.locator(`form[method=post][action="${action}"]`);
  await form.locator('input[name=number]').fill(BATCH);
  await form.locator('input[name=name]').fill('早班液化石油气');
  await form.locator('select[name=site_id]').selectOption({ label: '安信燃气充装站' });
  await submit(action);
  const batchPath = new URL(page.url()).pathname;
  assert.match(batchPath, /^\/console\/batches\/[0-9a-f-]{36}$/);
  assert.match(await page.locator('main').innerText(), /本批次还没有充装记录/);
  await page.goto(`${node.base}/console/batches`);
  assert.equal(await page.locator('#batches tbody tr', { hasText: BATCH }).count(), 1, 'the batch is in the list');

  // The fill as the filling floor records it: the filler's token, the station, the batch's number.
  const filler = await token(node.base, 'ax_filler');
  const auth = { authorization: `Bearer ${filler}`, 'content-type': 'application/json' };
  const sites = (await (await fetch(`${node.base}/api/v1/sites?limit=100`, { headers: auth })).json()).items;
  const station = sites.find((s) => s.kind === 'filling_station' && s.name === '安信燃气充装站');
  assert.ok(station, 'the filler sees its filling station');
  const cylinders = (await (await fetch(`${node.base}/api/v1/cylinders?limit=20`, { headers: auth })).json()).items;
  const code = cylinders.find((c) => c.status?.state === 'normal').code;
  const now = new Date();
  const begin = new Date(now.getTime() - 4 * 60_000).toISOString();
  const end = new Date(now.getTime() - 60_000).toISOString();
  const r = await fetch(`${node.base}/api/v1/events`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      events: [{
        id: crypto.randomUUID(), kind: 'fill', codes: [code], time: end, site_id: station.id,
        data: { scale_no: 'CZ-07', begin, end, tare_kg: 15.2, gross_kg: 30.0, medium: '液化石油气', batch: BATCH },
      }],
    }),
  });
  assert.equal(r.status, 201, await r.text());

  await page.goto(`${node.base}${batchPath}`);
  assert.equal((await page.locator('[data-figure=fills] .v').innerText()).trim(), '1');
  assert.equal((await page.locator('[data-figure=net_kg] .v').innerText()).trim(), '14.80');
  assert.equal((await page.locator('[data-figure=refused] .v').innerText()).trim(), '0');
  const fill = page.locator('#batch_fills tbody tr', { hasText: code });
  assert.equal(await fill.count(), 1, 'the fill is on the batch page');
  assert.match(await fill.innerText(), /CZ-07/);
  assert.match(await fill.innerText(), /14\.80/);
  await shot('console-batch.png');
});

test('an inspection application for two cylinders picked from the due list (D1)', async () => {
  await page.goto(`${node.base}/console/inspections`);
  const boxes = page.locator('#due input[type=checkbox][name=codes]');
  assert.ok((await boxes.count()) >= 2, 'the demo has cylinders due');
  const picked = [await boxes.nth(0).getAttribute('value'), await boxes.nth(1).getAttribute('value')];
  const before = await page.locator('#applications tbody tr').count();

  // Nothing ticked: refused, and said why.
  await submit('/console/inspections/apply');
  assert.match(await page.locator('.error').first().innerText(), /请先在下表勾选/);
  assert.equal(await page.locator('#applications tbody tr').count(), before, 'nothing stored');
  await page.goto(`${node.base}/console/inspections`);

  await page.check(`#due input[name=codes][value="${picked[0]}"]`);
  await page.check(`#due input[name=codes][value="${picked[1]}"]`);
  const form = page.locator('form[method=post][action="/console/inspections/apply"]');
  await form.locator('select[name=station_org_id]').selectOption({ label: '昆明市特种设备安全检验所' });
  await form.locator('input[name=remark]').fill('到期送检');
  await shot('console-inspection-apply.png', false);
  await submit('/console/inspections/apply');
  assert.equal(new URL(page.url()).pathname, '/console/inspections');
  const apps = page.locator('#applications tbody tr');
  assert.equal(await apps.count(), before + 1, 'one application more');
  const newest = await apps.first().innerText();
  assert.match(newest, /昆明市特种设备安全检验所/);
  assert.match(newest, /\b2\b/);
  assert.match(newest, /已送检，待检验/);
  for (const code of picked) {
    assert.equal(await page.locator(`#due input[value="${code}"]`).count(), 0, `${code} left the due list`);
  }
});

test('a household check recorded from the office, with a failed item and the signed sheet (C9)', async () => {
  await page.goto(`${node.base}/console/household-checks`);
  const action = '/console/household-checks';
  const form = page.locator(`form[method=post][action="${action}"]`);
  const sheet = { name: 'sheet.png', mimeType: 'image/png', buffer: png() };
  await form.locator('select[name=customer_id]').selectOption({ label: `${CUSTOMER} 13987654321` });
  await page.check('#check_items input[name=failed][value=hose]');
  await form.locator('input[name=signature]').setInputFiles(sheet);
  // A check dated tomorrow: refused next to its field, nothing stored, the ticks kept.
  const tomorrow = new Date(Date.now() + 8 * 3600_000 + 24 * 3600_000).toISOString().slice(0, 10);
  await form.locator('input[name=time]').fill(`${tomorrow}T09:30`);
  await submit(action);
  assert.match(await fieldError(action, 'time'), /晚于服务器当前时间/);
  assert.ok(await page.isChecked('#check_items input[name=failed][value=hose]'), 'the ticks come back');
  assert.equal(await page.locator('#household_checks tbody tr', { hasText: CUSTOMER }).count(), 0);

  await form.locator('select[name=customer_id]').selectOption({ label: `${CUSTOMER} 13987654321` });
  await form.locator('input[name=time]').fill(new Date(Date.now() + 8 * 3600_000 - 3600_000).toISOString().slice(0, 16));
  await form.locator('input[name=signature]').setInputFiles(sheet);
  await submit(action);
  assert.equal(new URL(page.url()).pathname, action);
  const row = page.locator('#household_checks tbody tr', { hasText: CUSTOMER });
  assert.equal(await row.count(), 1, 'the check is in the list');
  assert.match(await row.innerText(), /不合格/);
  assert.match(await row.innerText(), /软管/);
  // The filters: the failed ones of this customer, and none passed.
  await page.locator('form.filter select[name=result]').selectOption('passed');
  await Promise.all([page.waitForLoadState('load'), page.locator('form.filter button').click()]);
  assert.equal(await page.locator('#household_checks tbody tr', { hasText: CUSTOMER }).count(), 0);
  await page.goto(`${node.base}${action}?result=failed`);
  await shot('console-household-checks.png');
});

test('a block of label numbers and labels issued from it (A5)', async () => {
  await page.goto(`${node.base}/console/label-blocks`);
  const action = '/console/label-blocks';
  const form = page.locator(`form[method=post][action="${action}"]`);
  await form.locator('input[name=prefix]').fill('1234');
  await submit(action);
  assert.match(await fieldError(action, 'prefix'), /5 位数字/);
  await form.locator('input[name=prefix]').fill('77123');
  await submit(action);
  assert.equal(await page.locator('#label_blocks tbody tr', { hasText: '77123' }).count(), 1);
  const issue = page.locator('form[method=post][action="/console/label-blocks/issue"]');
  await issue.locator('select[name=block]').selectOption({ label: '77123（液化石油气，剩余 99999）' });
  await issue.locator('input[name=count]').fill('20');
  await submit('/console/label-blocks/issue');
  assert.match(await page.locator('main').innerText(), /已发卡 20 枚：7712300001 – 7712300020/);
  assert.match(await page.locator('#label_issues').innerText(), /7712300020/);
  await shot('console-label-blocks.png');
});
