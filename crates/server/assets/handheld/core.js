// cyltrace handheld (G9), the core: the operations and who gets them, the app's state, DOM helpers,
// what is kept in localStorage, the network, the session and the reference data (sites, customers…).
// Nothing here knows how a particular operation works; the other modules import from here.

export const API = '/api/v1';
const LOGIN = '/login?next=/app/';
const LS_SESSION = 'cyltrace.hh.session';
const LS_REFS = 'cyltrace.hh.refs';
const LS_PREFS = 'cyltrace.hh.prefs';
const LS_CLOCK = 'cyltrace-handheld-clock-offset';
const FETCH_TIMEOUT_MS = 20000;
const START_TIMEOUT_MS = 6000;

const STOCK_SITES = ['warehouse', 'store', 'delivery_station', 'filling_station'];

// The operations, in display order. `needs`: context that must be chosen; `optional`: may be.
// The modules add what an operation does: `onScan(parsed)`, `open()` (its panel), `onContext()`.
export const OPS = {
  receive_empty: { label: '空瓶入库', needs: ['site'], siteKinds: STOCK_SITES },
  store_full: { label: '重瓶入库', needs: ['site'], siteKinds: STOCK_SITES },
  dispatch: { label: '重瓶出库', needs: ['site'], siteKinds: STOCK_SITES },
  load: { label: '装车', needs: ['vehicle'], optional: ['waybill'] },
  unload: { label: '卸车', needs: ['vehicle'], optional: ['waybill', 'site'], siteKinds: STOCK_SITES },
  deliver: { label: '配送交付', needs: ['customer'], optional: ['order'], customerLabel: '交付给用户' },
  recycle: { label: '回收空瓶', optional: ['customer', 'site'], siteKinds: ['store', 'delivery_station', 'warehouse', 'filling_station'], customerLabel: '从哪位用户回收（可不选）' },
  pre_fill_check: { label: '充装前检查', needs: ['site'], siteKinds: ['filling_station'] },
  in_fill_check: { label: '充装中检查', needs: ['site'], siteKinds: ['filling_station'] },
  post_fill_check: { label: '充装后检查', needs: ['site'], siteKinds: ['filling_station'] },
  fill_check: { label: '充装前查询', needs: ['site', 'medium'], online: true, siteKinds: ['filling_station'] },
  fill: { label: '充装记录', needs: ['site', 'medium'], siteKinds: ['filling_station'] },
  household: { label: '入户安检', needs: ['customer'], optional: ['order'], noScan: true, customerLabel: '安检用户' },
  recycling_order: { label: '回收单', optional: ['customer'], customerLabel: '回收用户（可不选，另填联系人）' },
  recycling_confirm: { label: '回收单确认', needs: ['site'], siteKinds: STOCK_SITES },
  lookup: { label: '查询', lookup: true },
};
export const SCAN_ACTIONS = ['receive_empty', 'store_full', 'dispatch', 'load', 'unload', 'deliver', 'recycle'];
const ROLE_OPS = {
  warehouse: ['receive_empty', 'store_full', 'dispatch', 'recycle', 'recycling_confirm'],
  driver: ['load', 'unload'],
  courier: ['deliver', 'recycle', 'household', 'recycling_order'],
  filler: ['fill_check', 'fill'],
  checker: ['pre_fill_check', 'in_fill_check', 'post_fill_check'],
};
const ALL_ROLES = ['enterprise_admin', 'node_admin'];
export const VERDICT_ZH = {
  ok: '可以使用', overdue: '已超期未检', expired: '已超过使用年限', scrapped: '已报废', invalid_label: '标签非正品',
};
export const SITE_KIND_ZH = {
  warehouse: '仓库', store: '供应站', filling_station: '充装站', delivery_station: '配送站',
};

export const isAll = (roles) => (roles || []).some((r) => ALL_ROLES.includes(r));
export function opsFor(roles) {
  if (isAll(roles)) return Object.keys(OPS);
  const set = new Set();
  for (const r of roles || []) for (const o of ROLE_OPS[r] || []) set.add(o);
  set.add('lookup');
  return Object.keys(OPS).filter((o) => set.has(o));
}

// ------------------------------------------------------------------------------------ state
export const S = {
  session: null,          // the user (from the server, or the copy kept for offline starts)
  sessionVerified: false, // the server confirmed it in this page's life (so csrf is known)
  refsFresh: false,       // sites, vehicles… came from the server in this page's life
  refs: { sites: [], vehicles: [], waybills: [], customers: [], orders: [], batches: [], checkItems: [], recyclingOrders: [] },
  prefs: {},
  op: null,
  leaving: false,
  position: null,         // { lat, lon, at } when the device may tell
};

export const $ = (id) => document.getElementById(id);
export const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
};

// ------------------------------------------------------------------------------- storage
export function loadJson(key, dflt) {
  try { const v = JSON.parse(localStorage.getItem(key)); return v ?? dflt; } catch { return dflt; }
}
function saveJson(key, v) {
  try { localStorage.setItem(key, JSON.stringify(v)); } catch { /* full or disabled: not fatal */ }
}
function saveSession(s) {
  // The CSRF token is not kept: it is fetched again with the session before any write.
  const { csrf, ...rest } = s;
  saveJson(LS_SESSION, { ...rest, saved_at: new Date().toISOString() });
}
export const loadSession = () => loadJson(LS_SESSION, null);
export function forgetSession() {
  try { localStorage.removeItem(LS_SESSION); } catch { /* ignore */ }
}
export const loadPrefs = () => { S.prefs = loadJson(LS_PREFS, {}); };
export function savePrefs() { saveJson(LS_PREFS, S.prefs); }
/// The chosen context (site, vehicle, customer…) of the current operation.
export function ctxOf(key) {
  const all = S.prefs.ctx || (S.prefs.ctx = {});
  const k = key || S.op;
  return all[k] || (all[k] = {});
}

// ------------------------------------------------------------------------------- network
export function setNet(ok) {
  const n = $('net');
  const online = ok && navigator.onLine;
  n.textContent = online ? '在线' : (navigator.onLine ? '网络异常' : '离线');
  n.classList.toggle('offline', !online);
  n.title = online ? '已连接服务器' : '扫码照常记录在本机，联网后自动同步';
}

export function goLogin() {
  if (S.leaving) return;
  S.leaving = true;
  location.href = LOGIN;
}

/// fetch with a time limit: a request that hangs (a weak signal) counts as a network error, and a
/// record sent that way simply goes again later with the same id.
export async function fetchT(url, opts, ms) {
  const ctl = 'AbortController' in window ? new AbortController() : null;
  const timer = ctl ? setTimeout(() => ctl.abort(), ms || FETCH_TIMEOUT_MS) : null;
  try {
    const r = await fetch(url, ctl ? { ...opts, signal: ctl.signal } : opts);
    noteServerClock(r);
    return r;
  } finally {
    clearTimeout(timer);
  }
}

/// The device's clock may be wrong: records are stamped with the server's time as last seen (the
/// `Date` header of its answers), so that a device running ahead does not record the future.
let clockOffsetMs = Number(localStorage.getItem(LS_CLOCK)) || 0;
function noteServerClock(r) {
  const d = Date.parse(r.headers.get('date') || '');
  if (Number.isNaN(d)) return;
  // The header has whole seconds: only offsets beyond a few seconds are worth correcting.
  const off = d - Date.now();
  clockOffsetMs = Math.abs(off) > 5000 ? off : 0;
  localStorage.setItem(LS_CLOCK, String(clockOffsetMs));
}
export const nowMs = () => Date.now() + clockOffsetMs;
export const nowIso = () => new Date(nowMs()).toISOString();

export async function getJson(path) {
  const r = await fetchT(API + path, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } });
  if (r.status === 401) { goLogin(); throw new Error('401'); }
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  setNet(true);
  return r.json();
}

/// A POST with the session's CSRF token; the raw answer (the caller decides what it means).
export async function postJson(path, body) {
  return fetchT(API + path, {
    method: 'POST', credentials: 'same-origin', cache: 'no-store',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': await csrf() },
    body: JSON.stringify(body),
  });
}

// The Chinese name of a field of a problem+json answer (`events[0].data.gross_kg` → 毛重).
const FIELD_ZH = {
  gross_kg: '毛重', tare_kg: '皮重', scale_no: '秤号', begin: '开始时间', end: '结束时间', batch: '批次',
  medium: '充装介质', site_id: '站点', codes: '气瓶编码', code: '气瓶编码', time: '时间', customer_id: '用户',
  count: '数量', contact: '联系人', phone: '电话', address: '地址', address_index: '地址', signature: '签名',
  photos: '照片', answers: '安检项目', order_id: '订单', label: '标签', note: '备注', vehicle: '车辆', waybill: '运单',
};
export function fieldZh(field) {
  const parts = String(field || '').split('.').map((p) => p.replace(/\[\d+\]$/, ''));
  for (let i = parts.length - 1; i >= 0; i -= 1) if (FIELD_ZH[parts[i]]) return FIELD_ZH[parts[i]];
  return '';
}

// The server's Chinese message from a problem+json answer, each field error named in Chinese.
export async function problemMessage(r) {
  let p = null;
  try { p = await r.json(); } catch { /* not JSON */ }
  if (p && Array.isArray(p.errors) && p.errors.length) {
    return p.errors.map((e) => {
      const f = fieldZh(e.field);
      const m = e.message || e.field || '';
      return f && !m.includes(f) ? `${f}：${m}` : m;
    }).filter(Boolean).join('；');
  }
  if (p && (p.detail || p.title)) return p.detail || p.title;
  return `服务器拒绝（HTTP ${r.status}）`;
}

/// Asks the server who we are. true: confirmed; false: offline, failed or leaving for the login.
export async function refreshSession() {
  let r;
  try {
    r = await fetchT(`${API}/session`, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } }, S.sessionVerified ? FETCH_TIMEOUT_MS : START_TIMEOUT_MS);
  } catch {
    setNet(false);
    return false;
  }
  setNet(true);
  if (r.status === 401) { goLogin(); return false; }
  if (!r.ok) return false;
  let s;
  try { s = await r.json(); } catch { return false; }
  if (S.session && S.session.username && S.session.username !== s.username) {
    // Another account signed in on this device meanwhile: start again as that account.
    saveSession(s);
    S.leaving = true;
    location.reload();
    return false;
  }
  S.session = s;
  S.sessionVerified = true;
  saveSession(s);
  renderUser();
  return true;
}

export async function csrf() {
  if (!S.sessionVerified || !S.session.csrf) await refreshSession();
  return (S.session && S.session.csrf) || '';
}

export function renderUser() {
  const s = S.session;
  if (!s) return;
  $('user').textContent = s.name && s.name !== s.username ? `${s.name}（${s.username}）` : s.username;
  $('role').textContent = (s.roles_zh && s.roles_zh.length) ? s.roles_zh.join('、') : '';
  $('org').textContent = s.org_name || '';
  $('logout').hidden = false;
}

// ------------------------------------------------------------------------------- reference data
export async function loadRefs() {
  const roles = S.session.roles || [];
  const all = isAll(roles);
  const ops = opsFor(roles);
  const has = (...keys) => all || keys.some((k) => ops.includes(k));
  const want = {
    sites: true,
    vehicles: has('load', 'unload'),
    waybills: has('load', 'unload'),
    customers: has('deliver', 'recycle', 'household', 'recycling_order'),
    orders: has('deliver', 'household'),
    batches: has('fill'),
    checkItems: has('household'),
    recyclingOrders: has('recycling_confirm'),
  };
  const paths = {
    sites: '/sites?limit=500',
    vehicles: '/vehicles',
    waybills: '/waybills?limit=200',
    customers: '/customers?limit=500',
    orders: '/orders?state=dispatched&limit=200',
    batches: '/batches?limit=200',
    checkItems: '/household-check-items',
    recyclingOrders: '/recycling-orders?state=open',
  };
  const cached = loadJson(LS_REFS, {});
  const mine = cached.user === S.session.username ? cached : {};
  const refs = S.refs;
  await Promise.all(Object.keys(paths).map(async (k) => {
    if (!want[k]) { refs[k] = []; return; }
    try {
      const v = await getJson(paths[k]);
      refs[k] = Array.isArray(v.items) ? v.items : [];
      // A courier sees the orders dispatched to them (an admin sees all).
      if (k === 'orders' && !all && S.session.user_id) {
        refs[k] = refs[k].filter((o) => !o.courier_id || o.courier_id === S.session.user_id);
      }
    } catch {
      refs[k] = mine[k] || [];
    }
  }));
  saveRefs();
  S.refsFresh = true;
}
/// Keeps the reference data for offline starts (also after a module changed a list locally).
export function saveRefs() {
  saveJson(LS_REFS, { user: S.session.username, saved_at: new Date().toISOString(), ...S.refs });
}
export function loadCachedRefs() {
  const cached = loadJson(LS_REFS, {});
  if (S.session && cached.user === S.session.username) {
    for (const k of Object.keys(S.refs)) S.refs[k] = Array.isArray(cached[k]) ? cached[k] : [];
  }
}

export function customerName(id) {
  const c = S.refs.customers.find((x) => x.id === id);
  return c ? c.name : '';
}
export function customerText(c) {
  const a = c.addresses && c.addresses[0] && c.addresses[0].address;
  return [c.name, c.phone, a].filter(Boolean).join(' · ');
}

// ------------------------------------------------------------------------------- small things
export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (n) => String(n).padStart(2, '0');
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return `${sameDay ? '' : `${d.getMonth() + 1}月${d.getDate()}日 `}${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

let toastTimer = null;
export function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 2500);
}

// A short beep and vibration: high for recorded, low for a problem.
let audio = null;
export function beep(good) {
  try {
    if (navigator.vibrate) navigator.vibrate(good ? 40 : [80, 60, 80]);
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    audio = audio || new AC();
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = good ? 1200 : 300;
    g.gain.value = 0.08;
    o.connect(g); g.connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + (good ? 0.08 : 0.3));
  } catch { /* no sound */ }
}

/// The position to attach to a record, when the device told it within the last five minutes.
export function recentPosition() {
  const p = S.position;
  return p && Date.now() - p.at < 5 * 60 * 1000 ? { lat: p.lat, lon: p.lon } : {};
}
export function watchPosition() {
  // Only when already allowed: the app never asks on its own.
  if (!navigator.geolocation || !navigator.permissions) return;
  navigator.permissions.query({ name: 'geolocation' }).then((p) => {
    if (p.state !== 'granted') return;
    navigator.geolocation.watchPosition((pos) => {
      S.position = { lat: Math.round(pos.coords.latitude * 1e6) / 1e6, lon: Math.round(pos.coords.longitude * 1e6) / 1e6, at: Date.now() };
    }, () => {}, { enableHighAccuracy: false, maximumAge: 60000 });
  }).catch(() => {});
}
