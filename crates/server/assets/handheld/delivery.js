// cyltrace handheld, at the customer's: the household safety check at delivery (入户安检, C9) with the
// configured items, photos from the camera and the customer's signature drawn on the screen, and the
// recycling order (回收单, C4) a courier creates and a keeper confirms with the empties received.
// All of them go through the offline queue: a household check keeps its photo and signature in
// IndexedDB, uploads them first, then the check; the recycling orders carry their own ids.

import {
  API, OPS, S, $, el, ctxOf, fetchT, nowIso, fmtTime, beep, toast, recentPosition, customerName,
  saveRefs, setNet,
} from './core.js';
import { TYPES, enqueue, requestSync, noteRecent, dbGet, dbPut, pendingItems } from './queue.js';
import {
  showCard, openPanel, closePanel, field, fieldError, toggles, missingContext, siteName, fillSelect,
  focusScan,
} from './ui.js';
import { duplicate } from './scan.js';

const MAX_PHOTOS = 3;
const KEEP_BYTES = 1500 * 1024;
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];

const csrfHeader = () => ({ 'x-csrf-token': S.session.csrf || '' });

// ------------------------------------------------------------------------------- 入户安检
let household = null; // the form being filled: { photos: [{data, type, url}], signed }

/// A photo as the server takes it: kept as taken when small, else scaled to 1600 px as JPEG.
async function photoData(file) {
  const raw = await file.arrayBuffer();
  const known = IMAGE_TYPES.includes(file.type);
  if (known && raw.byteLength <= KEEP_BYTES) return { data: raw, type: file.type };
  try {
    const bmp = await createImageBitmap(file);
    const k = Math.min(1, 1600 / Math.max(bmp.width, bmp.height));
    const cv = el('canvas', { width: Math.round(bmp.width * k), height: Math.round(bmp.height * k) });
    cv.getContext('2d').drawImage(bmp, 0, 0, cv.width, cv.height);
    const blob = await new Promise((res) => { cv.toBlob(res, 'image/jpeg', 0.85); });
    return { data: await blob.arrayBuffer(), type: 'image/jpeg' };
  } catch {
    return known ? { data: raw, type: file.type } : null;
  }
}

/// A canvas the customer signs on with a finger (or the mouse). `signed()` says whether it was.
function signaturePad(onSign) {
  const canvas = el('canvas', { class: 'signature', id: 'signature', 'aria-label': '用户签名' });
  let drawn = false;
  let last = null;
  const g = () => canvas.getContext('2d');
  const reset = () => {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 360;
    const h = canvas.clientHeight || 200;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const c = g();
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.fillStyle = '#fff';
    c.fillRect(0, 0, w, h);
    c.strokeStyle = '#111';
    c.lineWidth = 2.5;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    drawn = false;
  };
  const at = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  canvas.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e);
    const c = g();
    c.beginPath();
    c.moveTo(last[0], last[1]);
    c.lineTo(p[0], p[1]);
    c.stroke();
    last = p;
    if (!drawn && onSign) onSign();
    drawn = true;
  });
  const up = () => { last = null; };
  canvas.addEventListener('pointerup', up);
  canvas.addEventListener('pointercancel', up);
  const png = () => new Promise((res) => { canvas.toBlob(res, 'image/png'); })
    .then((b) => b.arrayBuffer()).then((data) => ({ data, type: 'image/png' }));
  return { canvas, reset, signed: () => drawn, png };
}

function openHousehold() {
  const c = ctxOf('household');
  const cust = S.refs.customers.find((x) => x.id === c.customer_id);
  if (!cust) {
    openPanel('入户安检', el('div', { class: 'hint', text: '请先在上方选择安检用户（可输入姓名、电话或地址筛选）。' }));
    return;
  }
  const items = S.refs.checkItems.filter((i) => i.active !== false);
  if (!items.length) {
    openPanel(`入户安检 · ${cust.name}`, el('div', { class: 'note', text: '本机没有安检项目，请联网后重新打开。' }));
    return;
  }
  household = { photos: [] };
  const addresses = cust.addresses || [];
  const addr = el('select', { id: 'hh-address' });
  fillSelect(addr, addresses.map((a, i) => [String(i), [a.label, a.address].filter(Boolean).join(' · ')]), '0');
  const summary = el('div', { class: 'summary ok', id: 'hh-summary', 'aria-live': 'polite' });
  const show = (failed) => {
    summary.className = `summary ${failed.length ? 'bad' : 'ok'}`;
    summary.textContent = failed.length ? `不合格 ${failed.length} 项（将生成整改任务）：${failed.join('、')}` : '全部合格';
  };
  const box = el('div', { class: 'toggles' });
  const t = toggles(box, items.map((i) => [i.code, i.text]), '合格', '不合格', show);
  show([]);

  const thumbs = el('div', { class: 'thumbs', id: 'hh-photos' });
  const photo = el('input', { type: 'file', accept: 'image/*', id: 'hh-photo', class: 'offscreen' });
  // The camera at once on a phone (the back one); a choice of files elsewhere.
  photo.setAttribute('capture', 'environment');
  const shoot = el('label', { class: 'btn photo-btn', id: 'hh-shoot' }, el('span', { text: '拍照' }), photo);
  const drawThumbs = () => {
    thumbs.textContent = '';
    household.photos.forEach((p, i) => {
      const rm = el('button', { type: 'button', class: 'rm', text: '×', 'aria-label': '删除照片' });
      rm.addEventListener('click', () => { URL.revokeObjectURL(p.url); household.photos.splice(i, 1); drawThumbs(); });
      thumbs.append(el('span', { class: 'thumb' }, el('img', { src: p.url, alt: `照片${i + 1}` }), rm));
    });
    photo.disabled = household.photos.length >= MAX_PHOTOS;
    shoot.classList.toggle('off', photo.disabled);
    shoot.querySelector('span').textContent = household.photos.length ? `再拍一张（${household.photos.length}/${MAX_PHOTOS}）` : '拍照';
  };
  photo.addEventListener('change', async () => {
    for (const f of [...photo.files].slice(0, MAX_PHOTOS - household.photos.length)) {
      const p = await photoData(f);
      if (!p) { toast('无法读取该照片'); continue; }
      household.photos.push({ ...p, url: URL.createObjectURL(new Blob([p.data], { type: p.type })) });
    }
    photo.value = '';
    drawThumbs();
  });
  const pad = signaturePad(() => { $('hh-sign-error').hidden = true; });
  const clear = el('button', { type: 'button', class: 'btn', text: '重新签名' });
  clear.addEventListener('click', () => pad.reset());
  const save = el('button', { type: 'button', class: 'btn primary wide', id: 'hh-save', text: '保存安检记录' });
  openPanel(`入户安检 · ${cust.name}`,
    addresses.length > 1 ? field('安检地址', addr) : el('div', { class: 'hint', text: `地址 ${addresses[0] ? addresses[0].address : '（无）'}` }),
    el('h3', { text: '安检项目（默认合格，点一下标记不合格）' }), box, summary,
    el('h3', { text: `现场照片（最多 ${MAX_PHOTOS} 张）` }), thumbs, shoot,
    el('h3', { text: '用户签名' }),
    el('div', { class: 'sigbox' }, pad.canvas, el('small', { class: 'field-error', id: 'hh-sign-error', hidden: true })),
    el('div', { class: 'formbar' }, clear),
    el('div', { class: 'formbar' }, save));
  pad.reset();
  save.addEventListener('click', () => saveHousehold(cust, addresses.length > 1 ? Number(addr.value) : 0, t, pad));
}

async function saveHousehold(cust, addressIndex, t, pad) {
  const err = $('hh-sign-error');
  if (!pad.signed()) {
    err.textContent = '请用户在上方框内签名';
    err.hidden = false;
    beep(false);
    return;
  }
  err.hidden = true;
  const c = ctxOf('household');
  const values = t.values();
  const failed = t.failed();
  const id = crypto.randomUUID();
  const time = nowIso();
  const item = {
    id, type: 'household', action: 'household', code: cust.name, time,
    customer_id: cust.id, address_index: addressIndex, order_id: c.order_id || null,
    answers: Object.entries(values).map(([k, ok]) => ({ item: k, ok })),
    photos: household.photos.map(({ data, type }) => ({ data, type })),
    signature: await pad.png(),
    ...recentPosition(),
  };
  if (!(await enqueue(item))) return;
  noteRecent(id, { note: failed.length ? `不合格：${failed.join('、')}` : '全部合格' });
  showCard('pending', '安检记录已保存，待同步', failed.map((f) => `不合格：${f}`), {
    action: 'household', time, timeLabel: '安检时间',
    dl: [['用户', cust.name], ['照片', `${item.photos.length} 张`], ['签名', '已签名']],
  });
  beep(true);
  for (const p of household.photos) URL.revokeObjectURL(p.url);
  household = null;
  closePanel();
  requestSync();
  setTimeout(openHousehold, 0);
}

TYPES.household = {
  async send(queued) {
    const item = (await dbGet(queued.id)) || queued;
    // The files first, each once: the server keeps a file under its hash.
    for (const f of [item.signature, ...item.photos]) {
      if (f.hash) continue;
      const r = await fetchT(`${API}/files`, {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: { 'content-type': f.type || 'application/octet-stream', accept: 'application/json', ...csrfHeader() },
        body: f.data,
      });
      if (!r.ok) return r;
      f.hash = (await r.json()).hash;
      await dbPut(item);
    }
    // The item's id is the check's: a POST whose answer was lost is sent again and stored once.
    const body = {
      id: item.id, customer_id: item.customer_id, address_index: item.address_index, time: item.time, answers: item.answers,
      photos: item.photos.map((p) => p.hash), signature: item.signature.hash,
    };
    for (const k of ['order_id', 'lat', 'lon']) if (item[k] != null && item[k] !== '') body[k] = item[k];
    return fetchT(`${API}/household-checks`, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...csrfHeader() },
      body: JSON.stringify(body),
    });
  },
  synced(item, res) {
    const failed = res && res.result === 'failed';
    const tasks = res && Array.isArray(res.rectifications) ? res.rectifications.length : null;
    noteRecent(item.id, { state: res && res.new === false ? 'dup' : 'synced', verdict: failed ? 'failed' : 'passed' });
    showCard(failed ? 'overdue' : 'ok', `入户安检已同步：${failed ? '不合格' : '合格'}`, [], {
      dl: [['用户', item.code], ['安检时间', fmtTime(item.time)], ['整改任务', tasks ? `${tasks} 项` : null]],
    });
  },
};

OPS.household.open = openHousehold;
OPS.household.onContext = openHousehold;

// ------------------------------------------------------------------------------- 回收单 (courier)
let draft = { codes: [], contact: '', phone: '', address: '', count: '', note: '' };

function openRecyclingOrder() {
  const c = ctxOf('recycling_order');
  const inp = (key, attrs) => {
    const i = el('input', { type: 'text', autocomplete: 'off', id: `ro-${key}`, value: draft[key] || '', ...attrs });
    i.addEventListener('input', () => { draft[key] = i.value; });
    return i;
  };
  const contact = inp('contact');
  const phone = inp('phone', { inputMode: 'tel' });
  const address = inp('address');
  const count = inp('count', { inputMode: 'numeric', placeholder: String(Math.max(1, draft.codes.length)) });
  const note = inp('note');
  const codes = el('div', { class: 'chips', id: 'ro-codes' });
  for (const code of draft.codes) {
    const rm = el('button', { type: 'button', class: 'rm', text: '×', 'aria-label': `移除 ${code}` });
    rm.addEventListener('click', () => { draft.codes = draft.codes.filter((x) => x !== code); openRecyclingOrder(); });
    codes.append(el('span', { class: 'chip' }, code, rm));
  }
  const save = el('button', { type: 'button', class: 'btn primary wide', id: 'ro-save', text: '保存回收单' });
  const who = c.customer_id
    ? el('div', { class: 'hint', text: `用户 ${customerName(c.customer_id)}（已在上方选择）` })
    : el('div', {}, field('联系人', contact), field('电话', phone), field('地址', address));
  openPanel('新建回收单', who,
    field('空瓶数量', count, '不填则按已扫描的气瓶数'),
    el('h3', { text: `已扫描气瓶 ${draft.codes.length} 个（可不扫）` }),
    draft.codes.length ? codes : el('div', { class: 'hint', text: '可扫描要回收的空瓶，编码会记入回收单。' }),
    field('备注', note),
    el('div', { class: 'formbar' }, save));
  save.addEventListener('click', () => saveRecyclingOrder(c, { contact, phone, address, count }));
}

async function saveRecyclingOrder(c, f) {
  let ok = true;
  const err = (input, msg) => { fieldError(input, msg); if (msg) ok = false; };
  const body = { id: crypto.randomUUID() };
  if (c.customer_id) {
    body.customer_id = c.customer_id;
  } else {
    err(f.contact, draft.contact.trim() ? '' : '请选择用户，或填写联系人');
    err(f.address, draft.address.trim() ? '' : '请填写回收地址');
    err(f.phone, !draft.phone.trim() || /^[0-9+\-\s]{5,20}$/.test(draft.phone.trim()) ? '' : '电话号码格式不正确');
    if (draft.contact.trim()) body.contact = draft.contact.trim();
    if (draft.phone.trim()) body.phone = draft.phone.trim();
    if (draft.address.trim()) body.address = draft.address.trim();
  }
  const typed = String(draft.count || '').trim();
  const n = typed ? Number(typed) : Math.max(1, draft.codes.length);
  if (!Number.isInteger(n) || n < 1) err(f.count, '数量应为不小于 1 的整数');
  else if (n < draft.codes.length) err(f.count, `数量不能少于已扫描的 ${draft.codes.length} 个气瓶`);
  else err(f.count, '');
  if (!ok) { beep(false); return; }
  body.count = n;
  if (draft.codes.length) body.codes = [...draft.codes];
  if (draft.note.trim()) body.note = draft.note.trim();
  const name = body.customer_id ? customerName(body.customer_id) : body.contact;
  const time = nowIso();
  if (!(await enqueue({ id: body.id, type: 'recycling_order', action: 'recycling_order', code: name, time, body }))) return;
  noteRecent(body.id, { note: `${n} 个空瓶` });
  showCard('pending', '回收单已保存，待同步', [], {
    action: 'recycling_order', time, timeLabel: '创建时间',
    dl: [['用户', name], ['数量', n], ['气瓶', (body.codes || []).join('、')]],
  });
  beep(true);
  draft = { codes: [], contact: '', phone: '', address: '', count: '', note: '' };
  requestSync();
  openRecyclingOrder();
  focusScan();
}

OPS.recycling_order.open = openRecyclingOrder;
OPS.recycling_order.onContext = openRecyclingOrder;
OPS.recycling_order.scanHint = '填写或选择回收用户和数量；可扫描要回收的空瓶，编码会记入回收单。';
OPS.recycling_order.onScan = (parsed) => {
  if (draft.codes.includes(parsed.code)) { toast(`${parsed.code} 已在回收单中`); return; }
  draft.codes.push(parsed.code);
  beep(true);
  openRecyclingOrder();
};

TYPES.recycling_order = {
  send(item) {
    return fetchT(`${API}/recycling-orders`, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...csrfHeader() },
      body: JSON.stringify(item.body),
    });
  },
  synced(item, v) {
    showCard('ok', '回收单已同步', [], {
      dl: [['用户', (v && (v.customer_name || v.contact)) || item.code], ['数量', v ? v.count : item.body.count],
        ['状态', '待确认（由库管员接收空瓶后确认）']],
    });
  },
};

// ------------------------------------------------------------------------------- 回收单确认 (keeper)
let chosen = null;   // the order being received: { order, codes: [] }
let listNote = '';

const orderName = (o) => o.customer_name || (o.customer_id ? customerName(o.customer_id) : '') || o.contact || '用户';
const orderText = (o) => [o.phone, o.address].filter(Boolean).join(' · ');

async function refreshOrders() {
  if (!navigator.onLine) { listNote = '离线：显示上次联网时的回收单'; return; }
  try {
    const r = await fetchT(`${API}/recycling-orders?state=open`, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } });
    if (r.status === 404) { listNote = '服务器暂不支持回收单'; return; }
    if (!r.ok) { listNote = `无法读取回收单（HTTP ${r.status}）`; return; }
    setNet(true);
    // An order whose confirmation waits in this device's queue is not offered again.
    const waiting = new Set((await pendingItems()).filter((i) => i.type === 'recycling_confirm').map((i) => i.order_id));
    S.refs.recyclingOrders = ((await r.json()).items || []).filter((o) => !waiting.has(o.id));
    saveRefs();
    listNote = '';
  } catch {
    setNet(false);
    listNote = '网络异常：显示上次联网时的回收单';
  }
}

async function openConfirm(refresh) {
  if (chosen) return drawChosen();
  drawOrders();
  if (refresh !== false) {
    await refreshOrders();
    if (!chosen && S.op === 'recycling_confirm') drawOrders();
  }
}

function drawOrders() {
  const list = el('div', { class: 'orders', id: 'rc-orders' });
  for (const o of S.refs.recyclingOrders) {
    const b = el('button', { type: 'button', class: 'order', 'data-id': o.id },
      el('b', { text: orderName(o) }), el('span', { text: orderText(o) }),
      el('small', { text: `空瓶 ${o.count} 个${o.codes && o.codes.length ? ` · ${o.codes.join('、')}` : ''} · ${fmtTime(o.created_at)}` }));
    b.addEventListener('click', () => { chosen = { order: o, codes: [] }; drawChosen(); focusScan(); });
    list.append(b);
  }
  openPanel('待确认的回收单',
    listNote ? el('div', { class: 'note', text: listNote }) : null,
    S.refs.recyclingOrders.length ? list : el('div', { class: 'hint', id: 'rc-empty', text: '没有待确认的回收单。' }));
}

function drawChosen() {
  const o = chosen.order;
  const chips = el('div', { class: 'chips', id: 'rc-codes' });
  for (const code of chosen.codes) {
    const extra = o.codes && o.codes.length && !o.codes.includes(code);
    const rm = el('button', { type: 'button', class: 'rm', text: '×', 'aria-label': `移除 ${code}` });
    rm.addEventListener('click', () => { chosen.codes = chosen.codes.filter((x) => x !== code); drawChosen(); });
    chips.append(el('span', { class: `chip${extra ? ' extra' : ''}`, title: extra ? '不在回收单中' : '' }, code, rm));
  }
  const confirm = el('button', { type: 'button', class: 'btn primary wide', id: 'rc-confirm', text: `确认接收 ${chosen.codes.length} 个空瓶` });
  const back = el('button', { type: 'button', class: 'btn', text: '返回列表' });
  back.addEventListener('click', () => { chosen = null; openConfirm(false); focusScan(); });
  const diff = chosen.codes.length && chosen.codes.length !== o.count ? `回收单数量 ${o.count} 个，已扫描 ${chosen.codes.length} 个` : '';
  openPanel(`回收单 · ${orderName(o)}`,
    el('div', { class: 'hint', text: [orderText(o), `空瓶 ${o.count} 个`, o.note].filter(Boolean).join(' · ') }),
    o.codes && o.codes.length ? el('div', { class: 'hint', text: `单上气瓶：${o.codes.join('、')}` }) : null,
    el('h3', { text: `接收站点 ${siteName(ctxOf('recycling_confirm').site_id) || '（请在上方选择）'} · 已扫描 ${chosen.codes.length} 个` }),
    chosen.codes.length ? chips : el('div', { class: 'hint', text: '请逐个扫描收到的空瓶。' }),
    diff ? el('div', { class: 'note', text: diff }) : null,
    el('small', { class: 'field-error', id: 'rc-error', hidden: true }),
    el('div', { class: 'formbar' }, confirm, back));
  confirm.addEventListener('click', saveConfirm);
}

async function saveConfirm() {
  const o = chosen.order;
  const c = ctxOf('recycling_confirm');
  const e = $('rc-error');
  const missing = missingContext(OPS.recycling_confirm, c);
  const msg = missing.length ? `请先选择${missing.join('、')}` : (chosen.codes.length ? '' : '请扫描收到的空瓶（至少 1 个）');
  e.textContent = msg;
  e.hidden = !msg;
  if (msg) { beep(false); return; }
  const id = crypto.randomUUID();
  const time = nowIso();
  const body = { id, site_id: c.site_id, codes: [...chosen.codes], time };
  const ok = await enqueue({ id, type: 'recycling_confirm', action: 'recycling_confirm', code: orderName(o), time, order_id: o.id, body });
  if (!ok) return;
  noteRecent(id, { note: `${body.codes.length} 个空瓶 · ${siteName(c.site_id)}` });
  // The order leaves the list at once (also offline); the server's list is read again later.
  S.refs.recyclingOrders = S.refs.recyclingOrders.filter((x) => x.id !== o.id);
  saveRefs();
  showCard('pending', '回收单确认已保存，待同步', [], {
    action: 'recycling_confirm', time, timeLabel: '确认时间',
    dl: [['用户', orderName(o)], ['站点', siteName(c.site_id)], ['气瓶', body.codes.join('、')]],
  });
  beep(true);
  chosen = null;
  requestSync();
  openConfirm(false);
  focusScan();
}

OPS.recycling_confirm.open = () => openConfirm(true);
OPS.recycling_confirm.onContext = () => { if (chosen) drawChosen(); };
OPS.recycling_confirm.scanHint = '选择回收单后逐个扫描收到的空瓶，然后确认接收。';
OPS.recycling_confirm.onScan = (parsed) => {
  if (!chosen) {
    showCard('refused', '请先选择回收单', ['在下方列表中点选要确认的回收单，再扫描收到的空瓶。'], { code: parsed.code });
    beep(false);
    return;
  }
  if (chosen.codes.includes(parsed.code)) {
    if (!duplicate(`rc:${parsed.code}`)) toast(`${parsed.code} 已扫描`);
    return;
  }
  chosen.codes.push(parsed.code);
  const extra = chosen.order.codes && chosen.order.codes.length && !chosen.order.codes.includes(parsed.code);
  if (extra) toast(`${parsed.code} 不在回收单中，仍将一并接收`);
  beep(!extra);
  drawChosen();
};

TYPES.recycling_confirm = {
  send(item) {
    return fetchT(`${API}/recycling-orders/${encodeURIComponent(item.order_id)}/confirm`, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...csrfHeader() },
      body: JSON.stringify(item.body),
    });
  },
  synced(item, v) {
    showCard('ok', '回收单已确认', [], {
      dl: [['用户', item.code], ['站点', siteName(item.body.site_id)],
        ['接收气瓶', ((v && v.received) || item.body.codes).join('、')]],
    });
  },
};
