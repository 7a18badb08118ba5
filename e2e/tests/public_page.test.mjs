// F1–F3 in a real browser: the phone page behind a label shows the right verdict for a usable, an
// overdue and a scrapped cylinder and for a forged label, on a phone-sized screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDemo, token, screenshots } from '../lib/server.mjs';

let node;
let browser;
let page;

before(async () => {
  node = await startDemo();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    locale: 'zh-CN',
  });
  page = await context.newPage();
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

async function labelUrl(code) {
  const t = await token(node.base, 'ax_admin');
  const r = await fetch(`${node.base}/api/v1/labels/${code}`, { headers: { authorization: `Bearer ${t}` } });
  assert.equal(r.status, 200, await r.clone().text());
  const { url } = await r.json();
  assert.ok(url.startsWith(`${node.base}/Q?id=`), url);
  return url;
}

async function verdictOf(url, shot) {
  const resp = await page.goto(url);
  assert.equal(resp.status(), 200);
  const verdict = (await page.locator('.verdict h1').textContent()).trim();
  if (shot) await page.screenshot({ path: join(screenshots, shot), fullPage: true });
  return verdict;
}

test('a usable cylinder: 可以使用, with its owner and the ledger mark', async () => {
  const url = await labelUrl('1110000002');
  assert.equal(await verdictOf(url, 'public-ok.png'), '可以使用');
  const text = await page.locator('main').textContent();
  assert.match(text, /昆明安信燃气有限公司/);
  assert.match(text, /安全用气须知/);
});

test('an overdue cylinder: 已超期未检', async () => {
  assert.equal(await verdictOf(await labelUrl('1110000010'), 'public-overdue.png'), '已超期未检');
});

test('a scrapped cylinder: 已报废', async () => {
  assert.equal(await verdictOf(`${node.base}/q/1110000008`, 'public-scrapped.png'), '已报废');
});

test('a forged label: 标签非正品, and nothing about the cylinder', async () => {
  const url = await labelUrl('1110000002');
  const forged = url.replace(/s=([0-9A-F])/, (_, c) => `s=${c === '0' ? '1' : '0'}`);
  assert.notEqual(forged, url);
  assert.equal(await verdictOf(forged, 'public-forged.png'), '标签非正品');
  assert.doesNotMatch(await page.locator('main').textContent(), /昆明安信燃气有限公司/);
});
