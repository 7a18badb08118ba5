// cyltrace handheld, the scans: what a scanner typed, the scan-to-act operations (入库, 出库, 装车,
// 卸车, 配送交付, 回收空瓶) sent to POST /api/v1/scan/{action} through the queue, the background check
// of a scanned label, and 查询. Other operations take a scan through their `onScan`.

import {
  API, OPS, S, VERDICT_ZH, SCAN_ACTIONS, ctxOf, fetchT, goLogin, setNet, csrf, problemMessage, fmtTime,
  nowIso, beep, toast, recentPosition,
} from './core.js';
import { TYPES, enqueue, requestSync, noteRecent, notifyOthers } from './queue.js';
import { showCard, hideScreen, missingContext, siteName } from './ui.js';

const DUPLICATE_MS = 3000;
let lastScan = { key: '', at: 0 };

/// The cylinder code in what a scanner typed: a bare 10-digit code, the 16-digit label id or a
/// label URL (`…/Q?id=<16 digits>&s=…`, whose last ten digits are the code), or a `/q/<code>` link.
/// `label` is the scanned label (its signature is checked where it matters); `url` says it is the
/// QR URL itself (with its signature, if any).
export function parseScanned(text) {
  const t = text.trim();
  if (/^\d{10}$/.test(t)) return { code: t, label: null };
  if (/^\d{16}$/.test(t)) return { code: t.slice(6), label: t };
  try {
    const u = new URL(t);
    const id = u.searchParams.get('id');
    if (id && /^\d{16}$/.test(id)) return { code: id.slice(-10), label: t, url: true };
    const m = /\/q\/(\d{10})\/?$/i.exec(u.pathname);
    if (m) return { code: m[1], label: null };
  } catch { /* not a URL */ }
  return null;
}

/// A repeated scan of the same code within a few seconds (a scanner's double read) is ignored.
export function duplicate(key) {
  const now = Date.now();
  if (lastScan.key === key && now - lastScan.at < DUPLICATE_MS) return true;
  lastScan = { key, at: now };
  return false;
}

export async function onScan(text) {
  const raw = text.trim();
  if (!raw) return;
  hideScreen();
  const parsed = parseScanned(raw);
  if (!parsed) {
    showCard('refused', '无法识别', [`扫描内容不是气瓶编码或本平台标签：${raw.slice(0, 80)}`]);
    beep(false);
    return;
  }
  const o = OPS[S.op];
  if (o.lookup) return lookup(parsed);
  if (o.onScan) return o.onScan(parsed);
  if (!SCAN_ACTIONS.includes(S.op)) return;

  const c = ctxOf();
  const missing = missingContext(o, c);
  if (missing.length) {
    showCard('refused', '请先选择', [`${o.label}须先选择${missing.join('、')}`]);
    beep(false);
    return;
  }
  if (duplicate(`${S.op}:${parsed.code}`)) {
    toast(`${parsed.code} 重复扫码，已忽略`);
    return;
  }
  const uses = new Set([...(o.needs || []), ...(o.optional || [])]);
  const item = {
    id: crypto.randomUUID(),
    type: 'scan',
    action: S.op,
    code: parsed.code,
    time: nowIso(),
    site_id: uses.has('site') ? (c.site_id || null) : null,
    vehicle: uses.has('vehicle') ? (c.vehicle || null) : null,
    waybill: uses.has('waybill') ? (c.waybill || null) : null,
    customer_id: uses.has('customer') ? (c.customer_id || null) : null,
    order_id: uses.has('order') ? (c.order_id || null) : null,
    ...recentPosition(),
  };
  if (!(await enqueue(item))) return;
  showCard('pending', '已记录，待同步', [], item);
  beep(true);
  if (parsed.label && navigator.onLine) verifyLabel(parsed.label, item.id);
  requestSync();
}

// ------------------------------------------------------------------------------- the scan type
function scanBody(item) {
  const b = {};
  for (const k of ['site_id', 'vehicle', 'waybill', 'customer_id', 'order_id', 'lat', 'lon']) {
    if (item[k] !== null && item[k] !== undefined && item[k] !== '') b[k] = item[k];
  }
  b.scans = [{ id: item.id, code: item.code, time: item.time }];
  return b;
}

TYPES.scan = {
  async send(item) {
    return fetchT(`${API}/scan/${encodeURIComponent(item.action)}`, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': S.session.csrf || '' },
      body: JSON.stringify(scanBody(item)),
    });
  },
  synced(item, json) {
    const res = json && Array.isArray(json.results) ? json.results[0] || null : null;
    noteRecent(item.id, {
      state: res && res.new === false ? 'dup' : 'synced',
      verdict: res ? res.verdict : null,
      note: res ? [res.location_zh, ...(res.warnings || [])].filter(Boolean).join('；') : '',
    });
    if (!res) return;
    const kind = res.verdict || 'ok';
    showCard(kind, VERDICT_ZH[kind] || kind, (res.warnings || []).slice(), {
      code: res.code || item.code,
      dl: [['操作', OPS[item.action] ? OPS[item.action].label : item.action],
        ['位置', `${res.location_zh || ''}${res.full === true ? '（重瓶）' : res.full === false ? '（空瓶）' : ''}`],
        ['下次检验', res.next_check_date], ['扫码时间', fmtTime(item.time)],
        ['同步', res.new === false ? '服务器已有此记录（未重复记录）' : '已同步']],
    });
    if (kind !== 'ok') beep(false);
  },
};

// A label URL is checked in the background: a forged one is flagged, the scan stays recorded.
async function verifyLabel(label, itemId) {
  try {
    const r = await fetchT(`${API}/labels/verify`, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': (S.session && S.session.csrf) || '' },
      body: JSON.stringify({ label }),
    });
    if (!r.ok) return;
    const v = await r.json();
    if (v.label && v.label.genuine === false) {
      noteRecent(itemId, { note: `标签非正品：${v.label.reason || ''}` });
      showCard('invalid_label', '标签非正品', [v.label.reason || '标签防伪签名不符', '请核实气瓶来源，并报告管理员'], { code: v.code || '' });
      beep(false);
      notifyOthers();
    }
  } catch { /* offline: nothing to check now */ }
}

// ------------------------------------------------------------------------------- 查询
const LOCATION_ZH = {
  unknown: '未知', empty_store: '空瓶库', full_store: '重瓶库', in_transport: '运输中', at_dealer: '经销点',
  at_customer: '用户处', in_inspection: '检验中', scrapped: '已报废',
};
function verdictOf(v) {
  const s = v.status || {};
  const today = new Date().toISOString().slice(0, 10);
  if (s.state === 'scrapped' || v.state === 'scrapped') return 'scrapped';
  if (s.label === 'void') return 'invalid_label';
  if (v.discard_date && v.discard_date < today) return 'expired';
  const n = s.next_check_date || v.next_check_date;
  if (!n || n < today) return 'overdue';
  return 'ok';
}

async function lookup(parsed) {
  showCard('pending', '正在查询…', [], { code: parsed.code });
  try {
    let v;
    if (parsed.label) {
      const r = await fetchT(`${API}/labels/verify`, {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': await csrf() },
        body: JSON.stringify({ label: parsed.label }),
      });
      if (r.status === 401) return goLogin();
      if (!r.ok) return showCard('failed', '查询失败', [await problemMessage(r)], { code: parsed.code });
      v = await r.json();
      setNet(true);
      const lines = [];
      if (v.label && !v.label.genuine) lines.push(`标签非正品：${v.label.reason || ''}`);
      return showCard(v.verdict || 'refused', v.verdict_zh || VERDICT_ZH[v.verdict] || '', lines, {
        code: v.code || parsed.code,
        dl: [['产权单位', v.owner], ['充装介质', v.medium], ['下次检验', v.next_check_date],
          ['最近充装', v.last_fill ? `${v.last_fill.station || ''} ${fmtTime(v.last_fill.time)}` : null],
          ['最近流转', v.trace && v.trace[0] ? `${v.trace[0].what} ${v.trace[0].site || ''} ${fmtTime(v.trace[0].time)}` : null]],
      });
    }
    const r = await fetchT(`${API}/cylinders/${encodeURIComponent(parsed.code)}`, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } });
    if (r.status === 401) return goLogin();
    if (!r.ok) return showCard('failed', '查询失败', [await problemMessage(r)], { code: parsed.code });
    setNet(true);
    v = await r.json();
    const s = v.status || {};
    const verdict = verdictOf(v);
    const site = s.site_id ? siteName(s.site_id) : '';
    showCard(verdict, VERDICT_ZH[verdict], [], {
      code: v.code,
      dl: [['规格', [v.style, v.medium].filter(Boolean).join(' · ')], ['内部编号', v.inner_no],
        ['位置', `${LOCATION_ZH[s.location_kind] || s.location_kind || '未知'}${site ? ` · ${site}` : ''}`],
        ['空/重', s.full ? '重瓶' : '空瓶'], ['下次检验', s.next_check_date || v.next_check_date],
        ['报废日期', v.discard_date], ['最近充装', fmtTime(s.last_fill_at)]],
    });
  } catch {
    setNet(false);
    showCard('refused', '离线无法查询', ['查询需要联网；扫码作业可离线进行，联网后自动同步'], { code: parsed.code });
  }
}
