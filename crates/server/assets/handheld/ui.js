// cyltrace handheld, what the screen shows: the operations menu, the context of an operation (site,
// vehicle, customer…), the scan field that keeps the focus, the result card, the full-screen verdict,
// the panel an operation fills with its form, and the camera.

import {
  OPS, S, $, el, opsFor, savePrefs, ctxOf, customerName, customerText, fmtTime, toast, SITE_KIND_ZH,
} from './core.js';

const SCAN_HINT = '扫码枪扫描标签后自动提交；也可手动输入10位气瓶编码后按回车。';

// ------------------------------------------------------------------------------- operations
export function renderOps() {
  const box = $('ops');
  box.textContent = '';
  const list = opsFor(S.session.roles || []);
  for (const key of list) {
    const b = el('button', { type: 'button', 'data-op': key, class: key === S.op ? 'on' : '' }, OPS[key].label);
    if (OPS[key].online) b.append(el('span', { class: 'sub', text: '需联网' }));
    b.addEventListener('click', () => { chooseOp(key); });
    box.append(b);
  }
  if (!S.op || !list.includes(S.op)) {
    const saved = S.prefs.op;
    chooseOp(list.includes(saved) ? saved : list[0], true);
  }
}

export function chooseOp(key, quiet) {
  S.op = key;
  S.prefs.op = key;
  savePrefs();
  for (const b of $('ops').querySelectorAll('button')) b.classList.toggle('on', b.dataset.op === key);
  const o = OPS[key];
  hideScreen();
  closePanel();
  renderContext();
  $('scan-card').hidden = !!o.noScan;
  $('scan-title').textContent = o.lookup ? '扫码查询' : `扫码 · ${o.label}`;
  $('scan-hint').textContent = o.scanHint || SCAN_HINT;
  if (o.open) o.open();
  if (!quiet) focusScan();
}

/// The context changed (a site, a customer…): the operation's panel may depend on it.
export function contextChanged() {
  const o = OPS[S.op];
  if (o && o.onContext) o.onContext();
}

function option(value, text, selected) {
  const o = el('option', { value, text });
  if (selected) o.selected = true;
  return o;
}

export function fillSelect(sel, items, current, emptyText) {
  sel.textContent = '';
  if (emptyText !== undefined) sel.append(option('', emptyText, !current));
  for (const [v, t] of items) sel.append(option(v, t, v === current));
  if (emptyText === undefined && !items.some(([v]) => v === current) && items.length) sel.value = items[0][0];
}

export function siteName(id) {
  const s = S.refs.sites.find((x) => x.id === id);
  return s ? s.name : '';
}

export function renderContext() {
  const o = OPS[S.op] || {};
  const uses = new Set([...(o.needs || []), ...(o.optional || [])]);
  const c = ctxOf();
  const refs = S.refs;

  // Site: preferred kinds first (the warehouse for a keeper, the station for a filler).
  $('site-row').hidden = !uses.has('site');
  if (uses.has('site')) {
    const kinds = o.siteKinds || [];
    const rank = (s) => { const i = kinds.indexOf(s.kind); return i < 0 ? 99 : i; };
    const sites = [...refs.sites].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name, 'zh'));
    const items = sites.map((s) => [s.id, `${s.name}${SITE_KIND_ZH[s.kind] && !s.name.includes(SITE_KIND_ZH[s.kind]) ? `（${SITE_KIND_ZH[s.kind]}）` : ''}`]);
    const required = (o.needs || []).includes('site');
    fillSelect($('site'), items, c.site_id || '', required ? undefined : '（不指定）');
    if (required && !items.length) fillSelect($('site'), [], '', '（没有可选站点，请联网刷新）');
    $('site-label').textContent = required ? (kinds[0] === 'filling_station' && kinds.length === 1 ? '充装站' : '作业站点') : '站点（可不选）';
    c.site_id = $('site').value || '';
  }

  $('vehicle-row').hidden = !uses.has('vehicle');
  if (uses.has('vehicle')) {
    const items = refs.vehicles.map((v) => [v.plate, `${v.plate}${v.permit_valid === false ? '（许可证失效）' : ''}`]);
    fillSelect($('vehicle'), items, c.vehicle || '', items.length ? undefined : '（没有车辆，请联网刷新）');
    c.vehicle = $('vehicle').value || '';
  }

  $('waybill-row').hidden = !uses.has('waybill');
  if (uses.has('waybill')) {
    const open = refs.waybills.filter((w) => w.state !== 'done' && w.state !== 'cancelled' && (!c.vehicle || !w.plate || w.plate === c.vehicle));
    fillSelect($('waybill'), open.map((w) => [w.number, `${w.number}${w.plate ? ` · ${w.plate}` : ''}`]), c.waybill || '', '（不选运单）');
    c.waybill = $('waybill').value || '';
  }

  $('order-row').hidden = !uses.has('order');
  if (uses.has('order')) {
    const items = refs.orders.map((x) => {
      const what = (x.items || []).map((i) => `${i.spec || ''}×${i.quantity}`).join('、');
      const addr = x.address && x.address.address;
      return [x.id, [customerName(x.customer_id) || '用户', addr, what].filter(Boolean).join(' · ')];
    });
    fillSelect($('order'), items, c.order_id || '', '（不选订单）');
    c.order_id = $('order').value || '';
  }

  $('customer-row').hidden = !uses.has('customer');
  if (uses.has('customer')) {
    $('customer-label').textContent = o.customerLabel || '用户';
    renderCustomers(c);
  }

  $('medium-row').hidden = !uses.has('medium');
  if (uses.has('medium')) {
    if (c.medium) $('medium').value = c.medium;
    c.medium = $('medium').value;
  }
  savePrefs();
}

export function renderCustomers(c) {
  const o = OPS[S.op] || {};
  const required = (o.needs || []).includes('customer');
  const f = $('customer-filter').value.trim().toLowerCase();
  let list = S.refs.customers;
  if (f) list = list.filter((x) => customerText(x).toLowerCase().includes(f));
  const items = list.slice(0, 300).map((x) => [x.id, customerText(x)]);
  // Keep the chosen customer selectable even when the filter hides them.
  if (c.customer_id && !items.some(([v]) => v === c.customer_id)) {
    const cur = S.refs.customers.find((x) => x.id === c.customer_id);
    if (cur) items.unshift([cur.id, customerText(cur)]);
  }
  fillSelect($('customer'), items, c.customer_id || '', required ? '（请选择用户）' : '（不指定用户）');
  c.customer_id = $('customer').value || '';
}

/// The context an operation needs and that is not chosen yet, in Chinese; empty when complete.
export function missingContext(o, c) {
  const zh = { site: o.siteKinds && o.siteKinds.length === 1 && o.siteKinds[0] === 'filling_station' ? '充装站' : '作业站点', vehicle: '车辆', customer: '用户', medium: '介质' };
  return (o.needs || [])
    .filter((n) => !c[n === 'site' ? 'site_id' : n === 'customer' ? 'customer_id' : n])
    .map((m) => zh[m] || m);
}

// ------------------------------------------------------------------------------- scan field
export function focusScan() {
  const s = $('scan');
  if (document.activeElement !== s && $('camera').hidden && !$('scan-card').hidden) s.focus({ preventScroll: true });
}

// ------------------------------------------------------------------------------- result card
export function showCard(kind, title, lines, extra) {
  const box = $('result');
  const x = extra || {};
  box.className = `result ${kind}`;
  box.dataset.kind = kind;
  box.textContent = '';
  box.append(el('div', { class: 'verdict', text: title }));
  if (x.code) box.append(el('div', { class: 'code', text: `编码 ${x.code}` }));
  const dl = el('dl');
  for (const [k, v] of x.dl || []) {
    if (v === null || v === undefined || v === '') continue;
    dl.append(el('dt', { text: k }), el('dd', { text: String(v) }));
  }
  if (kind === 'pending' && x.action) {
    dl.append(el('dt', { text: '操作' }), el('dd', { text: OPS[x.action].label }));
    dl.append(el('dt', { text: x.timeLabel || '扫码时间' }), el('dd', { text: fmtTime(x.time) }));
    dl.append(el('dt', { text: '状态' }), el('dd', { text: navigator.onLine ? '正在提交…' : '离线，已保存在本机，联网后自动同步' }));
  }
  if (dl.childNodes.length) box.append(dl);
  if (lines && lines.length) {
    const ul = el('ul');
    for (const l of lines) ul.append(el('li', { class: kind === 'ok' ? '' : 'warn', text: l }));
    box.append(ul);
  }
  box.hidden = false;
}

export function hideCard() { $('result').hidden = true; }

// ------------------------------------------------------------------------------- full screen
/// A verdict over the whole screen (fill-control: green 允许充装 or red 禁止充装). The scan field
/// keeps the focus underneath: the next scan closes it.
export function showScreen(kind, { title, subtitle, code, lines, dl, actions }) {
  const box = $('screen');
  box.className = `screen ${kind}`;
  box.dataset.kind = kind;
  box.textContent = '';
  box.append(el('div', { class: 'big', text: title }));
  if (subtitle) box.append(el('div', { class: 'subtitle', text: subtitle }));
  if (code) box.append(el('div', { class: 'code', text: `编码 ${code}` }));
  if (lines && lines.length) {
    const ol = el('ol', { class: 'reasons' });
    for (const l of lines) ol.append(el('li', {}, ...(Array.isArray(l) ? [el('b', { text: l[0] }), ` ${l[1]}`] : [l])));
    box.append(ol);
  }
  const d = el('dl');
  for (const [k, v] of dl || []) if (v !== null && v !== undefined && v !== '') d.append(el('dt', { text: k }), el('dd', { text: String(v) }));
  if (d.childNodes.length) box.append(d);
  const bar = el('div', { class: 'actions' });
  for (const [label, fn, primary] of actions || []) {
    const b = el('button', { type: 'button', class: `btn${primary ? ' primary' : ''}`, text: label });
    b.addEventListener('click', fn);
    bar.append(b);
  }
  const close = el('button', { type: 'button', class: 'btn', text: '返回' });
  close.addEventListener('click', () => { hideScreen(); focusScan(); });
  bar.append(close);
  box.append(bar);
  box.hidden = false;
}
export function hideScreen() { $('screen').hidden = true; }

// ------------------------------------------------------------------------------- panel
/// The operation's own form (a check, a fill, a household check…) under the scan field.
export function openPanel(title, ...kids) {
  const p = $('panel');
  p.textContent = '';
  p.append(el('h2', { text: title }), ...kids.filter((k) => k !== null && k !== undefined && k !== false));
  p.hidden = false;
  return p;
}
export function closePanel() {
  const p = $('panel');
  p.textContent = '';
  p.hidden = true;
}

/// A labelled field of a panel form, with room for its Chinese error.
export function field(label, input, hint) {
  return el('label', { class: 'field' }, el('span', { text: label }), input,
    hint ? el('small', { class: 'hint', text: hint }) : null,
    el('small', { class: 'field-error', hidden: true }));
}
/// Shows (or clears, with '') the error next to a field built by `field`.
export function fieldError(input, msg) {
  const box = input.closest('.field');
  const e = box && box.querySelector('.field-error');
  if (!e) return;
  e.textContent = msg || '';
  e.hidden = !msg;
  box.classList.toggle('invalid', !!msg);
}

/// Big yes/no toggles: `items` [[key, label]], all good by default; `onChange(failedLabels)`.
/// Returns { values() → {key: bool}, failed() → [label] }.
export function toggles(box, items, good, bad, onChange) {
  const state = {};
  for (const [key, label] of items) {
    state[key] = true;
    const b = el('button', { type: 'button', class: 'toggle', 'data-item': key, 'aria-pressed': 'true' },
      el('span', { class: 'what', text: label }), el('span', { class: 'state', text: good }));
    b.addEventListener('click', () => {
      state[key] = !state[key];
      b.classList.toggle('bad', !state[key]);
      b.setAttribute('aria-pressed', String(state[key]));
      b.querySelector('.state').textContent = state[key] ? good : bad;
      onChange(failed());
    });
    box.append(b);
  }
  const failed = () => items.filter(([k]) => !state[k]).map(([, l]) => l);
  return { values: () => ({ ...state }), failed };
}

// ------------------------------------------------------------------------------- camera
let camStream = null;
let camTimer = null;
/// Reads a code with the camera (BarcodeDetector); `accept(text)` says whether a read is a code,
/// `onHit(text)` gets the first one.
export async function openCamera(accept, onHit) {
  if (!('BarcodeDetector' in window)) return;
  let formats = ['qr_code', 'code_128', 'ean_13', 'data_matrix'];
  try {
    const sup = await window.BarcodeDetector.getSupportedFormats();
    formats = formats.filter((f) => sup.includes(f));
  } catch { /* keep the list */ }
  let detector;
  try { detector = new window.BarcodeDetector(formats.length ? { formats } : undefined); } catch {
    toast('本设备不支持摄像头识码');
    return;
  }
  try {
    camStream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: 'environment' } }, audio: false });
  } catch {
    toast('无法打开摄像头，请检查权限设置');
    return;
  }
  const v = $('camera-video');
  v.srcObject = camStream;
  $('camera').hidden = false;
  $('camera-msg').textContent = '将二维码或条码对准方框';
  try { await v.play(); } catch { /* autoplay */ }
  const tick = async () => {
    if (!camStream) return;
    try {
      if (v.readyState >= 2) {
        const codes = await detector.detect(v);
        const hit = codes.map((c) => c.rawValue).find((t) => accept(t || ''));
        if (hit) { closeCamera(); onHit(hit); return; }
      }
    } catch { /* try the next frame */ }
    camTimer = setTimeout(tick, 200);
  };
  tick();
}
export function closeCamera() {
  clearTimeout(camTimer);
  if (camStream) for (const t of camStream.getTracks()) t.stop();
  camStream = null;
  $('camera-video').srcObject = null;
  $('camera').hidden = true;
  focusScan();
}
