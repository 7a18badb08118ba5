// cyltrace handheld, the offline queue: every record (a scan, an event such as a check or a fill, a
// household check, a recycling order) is written to IndexedDB first, then sent one by one with the
// session cookie and the CSRF header. A record whose answer is lost is sent again later with the same
// id (the server is idempotent on it), so nothing is lost and nothing is recorded twice. A record the
// server refuses is set aside as failed with the server's reason, and not retried.
//
// A queue item: { id, type, action (the operation, for its label), code (what the lists show), time,
// status: pending|failed, user, tries, created, …what its type sends }. Each type registers how it is
// sent and what the app shows once it is synced: TYPES[type] = { send(item) → Response, synced(item, json) }.
// `send` may throw: a network error (sent or not, we cannot tell: it goes again later).

import { OPS, S, $, el, fmtTime, beep, setNet, goLogin, refreshSession, problemMessage } from './core.js';
import { showCard, focusScan } from './ui.js';

const DB_NAME = 'cyltrace-handheld';
const DB_VERSION = 1;
const QUEUE = 'queue';
const SYNC_EVERY_MS = 15000;
const RECENT_MAX = 30;

export const TYPES = {};
const typeOf = (item) => TYPES[item.type || 'scan'];
const opLabel = (action) => (OPS[action] ? OPS[action].label : action);

let db = null;
export let pendingCount = 0;
let recent = [];             // { id, action, code, time, state: pending|synced|dup|failed, verdict, note }
let retryTimer = null;
let retryDelay = 0;
let lastSyncAt = null;
let syncNote = '';
let syncRunning = null;
let syncAgain = false;
const channel = 'BroadcastChannel' in window ? new BroadcastChannel('cyltrace-hh') : null;

// ------------------------------------------------------------------------------- IndexedDB
export function openDb() {
  return new Promise((resolve, reject) => {
    const rq = indexedDB.open(DB_NAME, DB_VERSION);
    rq.onupgradeneeded = () => {
      const d = rq.result;
      if (!d.objectStoreNames.contains(QUEUE)) {
        const s = d.createObjectStore(QUEUE, { keyPath: 'id' });
        s.createIndex('status', 'status');
      }
    };
    rq.onsuccess = () => { db = rq.result; resolve(db); };
    rq.onerror = () => reject(rq.error);
    rq.onblocked = () => reject(new Error('blocked'));
  });
}
function tx(mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(QUEUE, mode);
    const store = t.objectStore(QUEUE);
    let out;
    const r = fn(store);
    if (r) r.onsuccess = () => { out = r.result; };
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('aborted'));
  });
}
const dbAll = () => tx('readonly', (s) => s.getAll());
/// This user's records still waiting to be sent.
export const pendingItems = async () => (await dbAll()).filter((i) => i.status === 'pending' && i.user === S.session.username);
export const dbGet = (id) => tx('readonly', (s) => s.get(id));
export const dbPut = (item) => tx('readwrite', (s) => s.put(item));
const dbDelete = (id) => tx('readwrite', (s) => s.delete(id));

/// Puts a new record in the queue (once this resolves it survives a closed page, a crash or a
/// reload), lists it as pending and starts a sync. false when the device could not store it.
export async function enqueue(item) {
  const full = { status: 'pending', user: S.session.username, tries: 0, created: Date.now(), ...item };
  try {
    await dbPut(full);
  } catch (e) {
    showCard('failed', '未能保存', [`本机存储失败，请重新操作（${e && e.message ? e.message : e}）`]);
    beep(false);
    return false;
  }
  addRecent({ id: full.id, action: full.action, code: full.code, time: full.time, state: 'pending' });
  await updateCounts();
  notifyOthers();
  return true;
}

export function notifyOthers() { if (channel) channel.postMessage('queue'); }
export function listenOthers() { if (channel) channel.onmessage = () => { updateCounts(); }; }

// ------------------------------------------------------------------------------- counts
export async function updateCounts() {
  let items = [];
  try { items = await dbAll(); } catch { /* keep the last numbers */ return; }
  const me = S.session ? S.session.username : null;
  const mine = items.filter((i) => i.user === me);
  const pending = mine.filter((i) => i.status === 'pending').sort((a, b) => a.created - b.created);
  const failed = mine.filter((i) => i.status === 'failed').sort((a, b) => a.created - b.created);
  const others = items.filter((i) => i.user !== me && i.status === 'pending');
  pendingCount = pending.length;
  $('pending-count').textContent = String(pendingCount);
  $('pending-box').classList.toggle('has', pendingCount > 0);
  const o = $('other-users');
  o.hidden = others.length === 0;
  o.textContent = others.length ? `本机另有 ${others.length} 条其他账号（${[...new Set(others.map((i) => i.user))].join('、')}）的待同步记录，须该账号登录后同步。` : '';
  for (const p of pending) {
    if (!recent.some((r) => r.id === p.id)) recent.push({ id: p.id, action: p.action, code: p.code, time: p.time, state: 'pending', note: p.error || '' });
  }
  // Entries this page still shows as pending that another window has synced or set aside.
  for (const r of recent) {
    if (r.state !== 'pending' || pending.some((p) => p.id === r.id)) continue;
    const f = failed.find((x) => x.id === r.id);
    if (f) { r.state = 'failed'; r.note = f.error || ''; } else if (!items.some((x) => x.id === r.id)) { r.state = 'synced'; }
  }
  recent.sort((a, b) => (a.time < b.time ? 1 : -1));
  renderFailed(failed);
  renderRecent();
  renderSyncInfo();
}

export function renderSyncInfo() {
  const parts = [];
  if (syncRunning) parts.push('正在同步…');
  else if (syncNote) parts.push(syncNote);
  if (lastSyncAt) parts.push(`上次同步 ${fmtTime(lastSyncAt)}`);
  if (!parts.length) parts.push(pendingCount ? '联网后自动同步' : '全部已同步');
  $('sync-info').textContent = parts.join(' · ');
  $('sync-now').disabled = !!syncRunning;
}

// ------------------------------------------------------------------------------- sync
/// Sync at once (the user asked, or the network came back): no waiting for the retry delay.
export function syncNow() {
  retryDelay = 0;
  return requestSync();
}

/// Starts a sync, or notes that another pass is wanted when one is running: one at a time.
export function requestSync() {
  if (S.leaving) return Promise.resolve();
  if (syncRunning) { syncAgain = true; return syncRunning; }
  syncRunning = (async () => {
    renderSyncInfo();
    try {
      do {
        syncAgain = false;
        const run = () => syncOnce();
        // One sync across the app's open tabs too, where the browser can tell.
        if (navigator.locks && navigator.locks.request) {
          await navigator.locks.request('cyltrace-hh-sync', { ifAvailable: true }, async (lock) => {
            if (lock) await run();
            else syncNote = '另一个窗口正在同步';
          });
        } else {
          await run();
        }
      } while (syncAgain && !S.leaving);
    } catch (e) {
      syncNote = `同步出错：${e && e.message ? e.message : e}`;
    } finally {
      syncRunning = null;
      await updateCounts();
      scheduleRetry();
    }
  })();
  return syncRunning;
}

/// Sends the pending records one by one, oldest first. Stops at a network error (the rest would
/// fail too); a refused record is set aside as failed and the others go on.
async function syncOnce() {
  const items = (await dbAll()).filter((i) => i.status === 'pending' && i.user === S.session.username)
    .sort((a, b) => a.created - b.created);
  if (!items.length) { syncNote = ''; retryDelay = 0; return; }
  if (!navigator.onLine) { syncNote = '离线，联网后自动同步'; return; }
  if (!S.sessionVerified && !(await refreshSession())) {
    syncNote = S.leaving ? '' : '无法连接服务器，稍后自动重试';
    bumpRetry();
    return;
  }
  let sent = 0;
  for (const it of items) {
    if (S.leaving) return;
    const cur = await dbGet(it.id); // removed meanwhile (by the user, or by another tab's sync)?
    if (!cur || cur.status !== 'pending') continue;
    const res = await sendItem(cur, false);
    if (res === 'ok') sent += 1;
    if (res === 'network' || res === 'auth') {
      syncNote = res === 'network' ? '网络中断，稍后自动重试' : '';
      bumpRetry();
      return;
    }
    await updateCounts();
  }
  retryDelay = 0;
  lastSyncAt = new Date().toISOString();
  syncNote = sent ? `已同步 ${sent} 条` : '';
}

async function sendItem(item, retried) {
  const type = typeOf(item);
  if (!type) {
    const msg = '本版本无法发送此类记录';
    await dbPut({ ...item, status: 'failed', error: msg, failed_at: new Date().toISOString() });
    return 'failed';
  }
  let r;
  try {
    r = await type.send(item);
  } catch {
    // Sent or not, we cannot tell: keep it pending, it goes again later with the same id.
    setNet(false);
    await touch(item, '网络不可用，稍后自动重试');
    return 'network';
  }
  setNet(true);
  if (r.ok) {
    let res = null;
    try { res = await r.json(); } catch { /* stored all the same */ }
    await dbDelete(item.id);
    markRecent(item, 'synced');
    type.synced(item, res);
    notifyOthers();
    return 'ok';
  }
  if (r.status === 401) { goLogin(); return 'auth'; }
  if (r.status === 403 && !retried) {
    // The CSRF token may be stale (a new session): ask again and retry once if it changed.
    const before = S.session.csrf;
    if (!(await refreshSession())) return S.leaving ? 'auth' : 'network';
    if (S.session.csrf && S.session.csrf !== before) return sendItem((await dbGet(item.id)) || item, true);
  }
  if (r.status >= 500 || r.status === 408 || r.status === 429) {
    await touch(item, `服务器暂时不可用（${r.status}），稍后自动重试`);
    return 'server';
  }
  const msg = await problemMessage(r);
  const cur = (await dbGet(item.id)) || item;
  await dbPut({ ...cur, status: 'failed', error: msg, failed_at: new Date().toISOString() });
  onFailed(item, msg);
  return 'failed';
}

async function touch(item, note) {
  try {
    const cur = await dbGet(item.id);
    if (cur && cur.status === 'pending') await dbPut({ ...cur, tries: (cur.tries || 0) + 1, error: note, last_try: new Date().toISOString() });
  } catch { /* the item itself is still there */ }
}

function bumpRetry() { retryDelay = Math.min(SYNC_EVERY_MS, retryDelay ? retryDelay * 2 : 2000); }

/// A quick retry after a network error (2 s, 4 s, 8 s, then every 15 s like the ticker).
function scheduleRetry() {
  clearTimeout(retryTimer);
  if (S.leaving || !pendingCount || !retryDelay || !navigator.onLine) return;
  retryTimer = setTimeout(() => { if (pendingCount && navigator.onLine) requestSync(); }, retryDelay);
}

/// The periodic sync while records are waiting (and the network is there).
export function startTicker() {
  setInterval(() => { if (pendingCount > 0 && navigator.onLine) requestSync(); }, SYNC_EVERY_MS);
}

function onFailed(item, msg) {
  const rec = recent.find((x) => x.id === item.id);
  if (rec) { rec.state = 'failed'; rec.note = msg; renderRecent(); }
  showCard('failed', '未记录', [msg], { code: item.code, dl: [['操作', opLabel(item.action)]] });
  beep(false);
  notifyOthers();
}

// ------------------------------------------------------------------------------- lists
function markRecent(item, state) {
  const rec = recent.find((x) => x.id === item.id);
  if (rec) rec.state = state;
  else addRecent({ id: item.id, action: item.action, code: item.code, time: item.time, state });
}

/// What the list of this device's records shows of one record once it is synced.
export function noteRecent(id, { verdict, note, state }) {
  const rec = recent.find((x) => x.id === id);
  if (!rec) return;
  if (verdict !== undefined) rec.verdict = verdict;
  if (note !== undefined) rec.note = note;
  if (state !== undefined) rec.state = state;
  renderRecent();
}

function addRecent(e) {
  recent = recent.filter((x) => x.id !== e.id);
  recent.unshift(e);
  const pend = recent.filter((x) => x.state === 'pending');
  const done = recent.filter((x) => x.state !== 'pending').slice(0, RECENT_MAX);
  recent = [...pend, ...done].sort((a, b) => (a.time < b.time ? 1 : -1));
  renderRecent();
}

const VERDICT_SHORT = {
  ok: '可以使用', overdue: '已超期未检', expired: '已超过使用年限', scrapped: '已报废', invalid_label: '标签非正品',
  passed: '合格', failed: '不合格',
};

function renderRecent() {
  const ul = $('recent');
  ul.textContent = '';
  const stateText = { pending: ['待同步', 'pending'], synced: ['已同步', 'ok'], dup: ['已同步', 'ok'], failed: ['失败', 'bad'] };
  for (const r of recent) {
    const [t, cls] = stateText[r.state] || ['', ''];
    let vcls = cls;
    const done = r.state === 'synced' || r.state === 'dup';
    if (done && r.verdict && r.verdict !== 'ok' && r.verdict !== 'passed') vcls = r.verdict === 'overdue' ? 'overdue' : 'bad';
    const label = r.verdict && done ? `${t} · ${VERDICT_SHORT[r.verdict] || r.verdict}` : t;
    ul.append(el('li', { 'data-id': r.id, 'data-state': r.state, 'data-action': r.action },
      el('span', { class: 'm' },
        el('span', { class: 'c', text: r.code }), ` ${opLabel(r.action)}`,
        el('small', { text: `${fmtTime(r.time)}${r.note ? ` · ${r.note}` : ''}` })),
      el('span', { class: `badge ${vcls}`, text: label })));
  }
  $('recent-empty').hidden = recent.length > 0;
}

function renderFailed(failed) {
  const sec = $('failed-section');
  sec.hidden = failed.length === 0;
  $('failed-count').textContent = String(failed.length);
  const ul = $('failed');
  ul.textContent = '';
  for (const f of failed) {
    const rm = el('button', { type: 'button', class: 'btn', text: '移除' });
    rm.addEventListener('click', async () => {
      await dbDelete(f.id);
      recent = recent.filter((x) => x.id !== f.id);
      await updateCounts();
      notifyOthers();
      focusScan();
    });
    ul.append(el('li', { 'data-id': f.id },
      el('span', { class: 'm' },
        el('span', { class: 'c', text: f.code }), ` ${opLabel(f.action)}`,
        el('small', { class: 'reason', text: f.error || '' }),
        el('small', { text: `记录时间 ${fmtTime(f.time)}` })),
      rm));
  }
}
