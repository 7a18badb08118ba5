// cyltrace handheld (G9): scans are written to IndexedDB first, then sent one by one to
// POST /api/v1/scan/{action} with the session cookie and the CSRF header. A scan whose answer is
// lost is resent later with the same id (the server is idempotent on it), so nothing is lost and
// nothing is recorded twice. Plain JavaScript, no framework; all the words the user sees are Chinese.
'use strict';

(() => {
  const API = '/api/v1';
  const LOGIN = '/login?next=/app/';
  const LS_SESSION = 'cyltrace.hh.session';
  const LS_REFS = 'cyltrace.hh.refs';
  const LS_PREFS = 'cyltrace.hh.prefs';
  const DB_NAME = 'cyltrace-handheld';
  const DB_VERSION = 1;
  const QUEUE = 'queue';
  const SYNC_EVERY_MS = 15000;
  const DUPLICATE_MS = 3000;
  const RECENT_MAX = 30;
  const FETCH_TIMEOUT_MS = 20000;
  const START_TIMEOUT_MS = 6000;

  // The operations, in display order. `needs`: context that must be chosen; `optional`: may be.
  const OPS = {
    receive_empty: { label: '空瓶入库', needs: ['site'], siteKinds: ['warehouse', 'store', 'delivery_station', 'filling_station'] },
    store_full: { label: '重瓶入库', needs: ['site'], siteKinds: ['warehouse', 'store', 'delivery_station', 'filling_station'] },
    dispatch: { label: '重瓶出库', needs: ['site'], siteKinds: ['warehouse', 'store', 'delivery_station', 'filling_station'] },
    load: { label: '装车', needs: ['vehicle'], optional: ['waybill'] },
    unload: { label: '卸车', needs: ['vehicle'], optional: ['waybill', 'site'], siteKinds: ['warehouse', 'store', 'delivery_station', 'filling_station'] },
    deliver: { label: '配送交付', needs: ['customer'], optional: ['order'] },
    recycle: { label: '回收空瓶', optional: ['customer', 'site'], siteKinds: ['store', 'delivery_station', 'warehouse', 'filling_station'] },
    fill_check: { label: '充装前查询', needs: ['site', 'medium'], online: true, siteKinds: ['filling_station'] },
    lookup: { label: '查询', lookup: true },
  };
  const SCAN_ACTIONS = ['receive_empty', 'store_full', 'dispatch', 'load', 'unload', 'deliver', 'recycle'];
  const ROLE_OPS = {
    warehouse: ['receive_empty', 'store_full', 'dispatch', 'recycle'],
    driver: ['load', 'unload'],
    courier: ['deliver', 'recycle'],
    filler: ['fill_check'],
    checker: [],
  };
  const ALL_ROLES = ['enterprise_admin', 'node_admin'];
  const VERDICT_ZH = {
    ok: '可以使用', overdue: '已超期未检', expired: '已超过使用年限', scrapped: '已报废', invalid_label: '标签非正品',
  };
  const SITE_KIND_ZH = {
    warehouse: '仓库', store: '供应站', filling_station: '充装站', delivery_station: '配送站',
  };

  // ------------------------------------------------------------------------------------ state
  let session = null;          // the user (from the server, or the copy kept for offline starts)
  let sessionVerified = false; // the server confirmed it in this page's life (so csrf is known)
  let refsFresh = false;       // sites, vehicles… came from the server in this page's life
  let refs = { sites: [], vehicles: [], waybills: [], customers: [], orders: [] };
  let prefs = {};
  let op = null;
  let db = null;
  let leaving = false;
  let netOk = navigator.onLine;
  let pendingCount = 0;
  let recent = [];             // { id, action, code, time, state: pending|synced|dup|failed, verdict, note }
  let lastScan = { key: '', at: 0 };
  let retryTimer = null;
  let retryDelay = 0;
  let lastSyncAt = null;
  let syncNote = '';
  const channel = 'BroadcastChannel' in window ? new BroadcastChannel('cyltrace-hh') : null;

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  };

  // ------------------------------------------------------------------------------- IndexedDB
  function openDb() {
    return new Promise((resolve, reject) => {
      const rq = indexedDB.open(DB_NAME, DB_VERSION);
      rq.onupgradeneeded = () => {
        const d = rq.result;
        if (!d.objectStoreNames.contains(QUEUE)) {
          const s = d.createObjectStore(QUEUE, { keyPath: 'id' });
          s.createIndex('status', 'status');
        }
      };
      rq.onsuccess = () => resolve(rq.result);
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
  const dbGet = (id) => tx('readonly', (s) => s.get(id));
  const dbPut = (item) => tx('readwrite', (s) => s.put(item));
  const dbDelete = (id) => tx('readwrite', (s) => s.delete(id));

  // ------------------------------------------------------------------------------- storage
  function loadJson(key, dflt) {
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
  function savePrefs() { saveJson(LS_PREFS, prefs); }

  // ------------------------------------------------------------------------------- network
  function setNet(ok) {
    netOk = ok;
    const n = $('net');
    const online = ok && navigator.onLine;
    n.textContent = online ? '在线' : (navigator.onLine ? '网络异常' : '离线');
    n.classList.toggle('offline', !online);
    n.title = online ? '已连接服务器' : '扫码照常记录在本机，联网后自动同步';
  }

  function goLogin() {
    if (leaving) return;
    leaving = true;
    location.href = LOGIN;
  }

  /// fetch with a time limit: a request that hangs (a weak signal) counts as a network error, and a
  /// scan sent that way simply goes again later with the same id.
  async function fetchT(url, opts, ms) {
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

  /// The device's clock may be wrong: scans are stamped with the server's time as last seen (the
  /// `Date` header of its answers), so that a device running ahead does not record the future.
  const LS_CLOCK = 'cyltrace-handheld-clock-offset';
  let clockOffsetMs = Number(localStorage.getItem(LS_CLOCK)) || 0;
  function noteServerClock(r) {
    const d = Date.parse(r.headers.get('date') || '');
    if (Number.isNaN(d)) return;
    // The header has whole seconds: only offsets beyond a few seconds are worth correcting.
    const off = d - Date.now();
    clockOffsetMs = Math.abs(off) > 5000 ? off : 0;
    localStorage.setItem(LS_CLOCK, String(clockOffsetMs));
  }
  function nowIso() {
    return new Date(Date.now() + clockOffsetMs).toISOString();
  }

  async function getJson(path) {
    const r = await fetchT(API + path, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } });
    if (r.status === 401) { goLogin(); throw new Error('401'); }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    setNet(true);
    return r.json();
  }

  // The server's Chinese message from a problem+json answer.
  async function problemMessage(r) {
    let p = null;
    try { p = await r.json(); } catch { /* not JSON */ }
    if (p && Array.isArray(p.errors) && p.errors.length) {
      return p.errors.map((e) => e.message || e.field).filter(Boolean).join('；');
    }
    if (p && (p.detail || p.title)) return p.detail || p.title;
    return `服务器拒绝（HTTP ${r.status}）`;
  }

  /// Asks the server who we are. true: confirmed; false: offline, failed or leaving for the login.
  async function refreshSession() {
    let r;
    try {
      r = await fetchT(`${API}/session`, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } }, sessionVerified ? FETCH_TIMEOUT_MS : START_TIMEOUT_MS);
    } catch {
      setNet(false);
      return false;
    }
    setNet(true);
    if (r.status === 401) { goLogin(); return false; }
    if (!r.ok) return false;
    let s;
    try { s = await r.json(); } catch { return false; }
    if (session && session.username && session.username !== s.username) {
      // Another account signed in on this device meanwhile: start again as that account.
      saveSession(s);
      leaving = true;
      location.reload();
      return false;
    }
    session = s;
    sessionVerified = true;
    saveSession(s);
    renderUser();
    return true;
  }

  // ------------------------------------------------------------------------------- reference data
  async function loadRefs() {
    const roles = session.roles || [];
    const all = roles.some((r) => ALL_ROLES.includes(r));
    const ops = opsFor(roles);
    const want = {
      sites: true,
      vehicles: all || ops.includes('load') || ops.includes('unload'),
      waybills: all || ops.includes('load') || ops.includes('unload'),
      customers: all || ops.includes('deliver') || ops.includes('recycle'),
      orders: all || ops.includes('deliver'),
    };
    const paths = {
      sites: '/sites?limit=500',
      vehicles: '/vehicles',
      waybills: '/waybills?limit=200',
      customers: '/customers?limit=500',
      orders: '/orders?state=dispatched&limit=200',
    };
    const cached = loadJson(LS_REFS, {});
    const mine = cached.user === session.username ? cached : {};
    await Promise.all(Object.keys(paths).map(async (k) => {
      if (!want[k]) { refs[k] = []; return; }
      try {
        const v = await getJson(paths[k]);
        refs[k] = Array.isArray(v.items) ? v.items : [];
        // A courier sees the orders dispatched to them (an admin sees all).
        if (k === 'orders' && !all && session.user_id) {
          refs[k] = refs[k].filter((o) => !o.courier_id || o.courier_id === session.user_id);
        }
      } catch {
        refs[k] = mine[k] || [];
      }
    }));
    saveJson(LS_REFS, { user: session.username, saved_at: new Date().toISOString(), ...refs });
    refsFresh = true;
  }
  function loadCachedRefs() {
    const cached = loadJson(LS_REFS, {});
    if (session && cached.user === session.username) {
      for (const k of Object.keys(refs)) refs[k] = Array.isArray(cached[k]) ? cached[k] : [];
    }
  }

  // ------------------------------------------------------------------------------- rendering
  function opsFor(roles) {
    if (roles.some((r) => ALL_ROLES.includes(r))) return Object.keys(OPS);
    const set = new Set();
    for (const r of roles) for (const o of ROLE_OPS[r] || []) set.add(o);
    set.add('lookup');
    return Object.keys(OPS).filter((o) => set.has(o));
  }

  function renderUser() {
    if (!session) return;
    $('user').textContent = session.name && session.name !== session.username ? `${session.name}（${session.username}）` : session.username;
    $('role').textContent = (session.roles_zh && session.roles_zh.length) ? session.roles_zh.join('、') : '';
    $('org').textContent = session.org_name || '';
    $('logout').hidden = false;
  }

  function renderOps() {
    const box = $('ops');
    box.textContent = '';
    const list = opsFor(session.roles || []);
    for (const key of list) {
      const b = el('button', { type: 'button', 'data-op': key, class: key === op ? 'on' : '' }, OPS[key].label);
      if (OPS[key].online) b.append(el('span', { class: 'sub', text: '需联网' }));
      b.addEventListener('click', () => { chooseOp(key); });
      box.append(b);
    }
    if (!op || !list.includes(op)) {
      const saved = prefs.op;
      chooseOp(list.includes(saved) ? saved : list[0], true);
    }
  }

  function chooseOp(key, quiet) {
    op = key;
    prefs.op = key;
    savePrefs();
    for (const b of $('ops').querySelectorAll('button')) b.classList.toggle('on', b.dataset.op === key);
    renderContext();
    $('scan-title').textContent = OPS[key].lookup ? '扫码查询' : `扫码 · ${OPS[key].label}`;
    if (!quiet) focusScan();
  }

  function option(value, text, selected) {
    const o = el('option', { value, text });
    if (selected) o.selected = true;
    return o;
  }

  function fillSelect(sel, items, current, emptyText) {
    sel.textContent = '';
    if (emptyText !== undefined) sel.append(option('', emptyText, !current));
    for (const [v, t] of items) sel.append(option(v, t, v === current));
    if (emptyText === undefined && !items.some(([v]) => v === current) && items.length) sel.value = items[0][0];
  }

  function customerName(id) {
    const c = refs.customers.find((x) => x.id === id);
    return c ? c.name : '';
  }
  function customerText(c) {
    const a = c.addresses && c.addresses[0] && c.addresses[0].address;
    return [c.name, c.phone, a].filter(Boolean).join(' · ');
  }

  function renderContext() {
    const o = OPS[op] || {};
    const uses = new Set([...(o.needs || []), ...(o.optional || [])]);
    const ctx = prefs.ctx || (prefs.ctx = {});
    const c = ctx[op] || (ctx[op] = {});

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
      $('site-label').textContent = required ? '作业站点' : '站点（可不选）';
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
      const required = (o.needs || []).includes('customer');
      $('customer-label').textContent = required ? '交付给用户' : '从哪位用户回收（可不选）';
      renderCustomers(c);
    }

    $('medium-row').hidden = !uses.has('medium');
    if (uses.has('medium')) {
      if (c.medium) $('medium').value = c.medium;
      c.medium = $('medium').value;
    }
    savePrefs();
  }

  function renderCustomers(c) {
    const o = OPS[op] || {};
    const required = (o.needs || []).includes('customer');
    const f = $('customer-filter').value.trim().toLowerCase();
    let list = refs.customers;
    if (f) list = list.filter((x) => customerText(x).toLowerCase().includes(f));
    const items = list.slice(0, 300).map((x) => [x.id, customerText(x)]);
    // Keep the chosen customer selectable even when the filter hides them.
    if (c.customer_id && !items.some(([v]) => v === c.customer_id)) {
      const cur = refs.customers.find((x) => x.id === c.customer_id);
      if (cur) items.unshift([cur.id, customerText(cur)]);
    }
    fillSelect($('customer'), items, c.customer_id || '', required ? '（请选择用户）' : '（不指定用户）');
    c.customer_id = $('customer').value || '';
  }

  function ctxOf() {
    const c = ((prefs.ctx || {})[op]) || {};
    return c;
  }

  // ------------------------------------------------------------------------------- scan input
  function focusScan() {
    const s = $('scan');
    if (document.activeElement !== s && $('camera').hidden) s.focus({ preventScroll: true });
  }

  /// The cylinder code in what a scanner typed: a bare 10-digit code, the 16-digit label id or a
  /// label URL (`…/Q?id=<16 digits>&s=…`, whose last ten digits are the code), or a `/q/<code>` link.
  function parseScanned(text) {
    const t = text.trim();
    if (/^\d{10}$/.test(t)) return { code: t, label: null };
    if (/^\d{16}$/.test(t)) return { code: t.slice(6), label: t };
    try {
      const u = new URL(t);
      const id = u.searchParams.get('id');
      if (id && /^\d{16}$/.test(id)) return { code: id.slice(-10), label: t };
      const m = /\/q\/(\d{10})\/?$/i.exec(u.pathname);
      if (m) return { code: m[1], label: null };
    } catch { /* not a URL */ }
    return null;
  }

  async function onScan(text) {
    const raw = text.trim();
    if (!raw) return;
    const parsed = parseScanned(raw);
    if (!parsed) {
      showCard('refused', '无法识别', [`扫描内容不是气瓶编码或本平台标签：${raw.slice(0, 80)}`]);
      beep(false);
      return;
    }
    const o = OPS[op];
    if (o.lookup) return lookup(parsed);
    if (op === 'fill_check') return fillCheck(parsed);

    const c = ctxOf();
    const missing = (o.needs || []).filter((n) => !c[n === 'site' ? 'site_id' : n === 'customer' ? 'customer_id' : n]);
    if (missing.length) {
      const zh = { site: '作业站点', vehicle: '车辆', customer: '用户', medium: '介质' };
      showCard('refused', '请先选择', [`${o.label}须先选择${missing.map((m) => zh[m] || m).join('、')}`]);
      beep(false);
      return;
    }
    const key = `${op}:${parsed.code}`;
    const now = Date.now();
    if (lastScan.key === key && now - lastScan.at < DUPLICATE_MS) {
      toast(`${parsed.code} 重复扫码，已忽略`);
      return;
    }
    lastScan = { key, at: now };

    const uses = new Set([...(o.needs || []), ...(o.optional || [])]);
    const item = {
      id: crypto.randomUUID(),
      action: op,
      code: parsed.code,
      time: nowIso(),
      site_id: uses.has('site') ? (c.site_id || null) : null,
      vehicle: uses.has('vehicle') ? (c.vehicle || null) : null,
      waybill: uses.has('waybill') ? (c.waybill || null) : null,
      customer_id: uses.has('customer') ? (c.customer_id || null) : null,
      order_id: uses.has('order') ? (c.order_id || null) : null,
      status: 'pending',
      user: session.username,
      tries: 0,
      created: now,
    };
    if (position && now - position.at < 5 * 60 * 1000) { item.lat = position.lat; item.lon = position.lon; }
    // IndexedDB first: once this resolves the scan survives a closed page, a crash or a reload.
    try {
      await dbPut(item);
    } catch (e) {
      showCard('failed', '未能保存', [`本机存储失败，请重新扫码（${e && e.message ? e.message : e}）`]);
      beep(false);
      return;
    }
    addRecent({ id: item.id, action: item.action, code: item.code, time: item.time, state: 'pending' });
    showCard('pending', '已记录，待同步', [], item);
    beep(true);
    await updateCounts();
    notifyOthers();
    if (parsed.label && navigator.onLine) verifyLabel(parsed.label, item.id);
    requestSync();
  }

  // A label URL is checked in the background: a forged one is flagged, the scan stays recorded.
  async function verifyLabel(label, itemId) {
    try {
      const r = await fetchT(`${API}/labels/verify`, {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': (session && session.csrf) || '' },
        body: JSON.stringify({ label }),
      });
      if (!r.ok) return;
      const v = await r.json();
      if (v.label && v.label.genuine === false) {
        const rec = recent.find((x) => x.id === itemId);
        if (rec) { rec.note = `标签非正品：${v.label.reason || ''}`; renderRecent(); }
        showCard('invalid_label', '标签非正品', [v.label.reason || '标签防伪签名不符', '请核实气瓶来源，并报告管理员'], { code: v.code || '' });
        beep(false);
      }
    } catch { /* offline: nothing to check now */ }
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
      const site = s.site_id ? refs.sites.find((x) => x.id === s.site_id) : null;
      showCard(verdict, VERDICT_ZH[verdict], [], {
        code: v.code,
        dl: [['规格', [v.style, v.medium].filter(Boolean).join(' · ')], ['内部编号', v.inner_no],
          ['位置', `${LOCATION_ZH[s.location_kind] || s.location_kind || '未知'}${site ? ` · ${site.name}` : ''}`],
          ['空/重', s.full ? '重瓶' : '空瓶'], ['下次检验', s.next_check_date || v.next_check_date],
          ['报废日期', v.discard_date], ['最近充装', fmtTime(s.last_fill_at)]],
      });
    } catch {
      setNet(false);
      showCard('refused', '离线无法查询', ['查询需要联网；扫码作业可离线进行，联网后自动同步'], { code: parsed.code });
    }
  }

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

  async function fillCheck(parsed) {
    const c = ctxOf();
    if (!c.site_id) return showCard('refused', '请先选择', ['充装前查询须先选择充装站'], { code: parsed.code });
    if (!navigator.onLine) return showCard('refused', '离线无法查询', ['充装前查询须联网，请检查网络'], { code: parsed.code });
    showCard('pending', '正在查询…', [], { code: parsed.code });
    try {
      const r = await fetchT(`${API}/fill-control`, {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': await csrf() },
        body: JSON.stringify({ code: parsed.code, site_id: c.site_id, medium: c.medium || $('medium').value }),
      });
      if (r.status === 401) return goLogin();
      if (!r.ok) return showCard('failed', '查询失败', [await problemMessage(r)], { code: parsed.code });
      setNet(true);
      const v = await r.json();
      const lines = (v.refusals || []).map((x) => `${x.reason}${x.rule ? `（${x.rule}）` : ''}`);
      showCard(v.allow ? 'ok' : 'refused', v.allow ? '允许充装' : '禁止充装', lines, {
        code: parsed.code,
        dl: [['充装限量', v.fill_limit_kg != null ? `${v.fill_limit_kg} kg` : null],
          ['目标总重', v.target_gross_kg != null ? `${v.target_gross_kg} kg` : null]],
      });
      beep(!!v.allow);
    } catch {
      setNet(false);
      showCard('refused', '离线无法查询', ['充装前查询须联网，请检查网络'], { code: parsed.code });
    }
  }

  async function csrf() {
    if (!sessionVerified || !session.csrf) await refreshSession();
    return (session && session.csrf) || '';
  }

  // ------------------------------------------------------------------------------- the queue, sync
  function scanBody(item) {
    const b = {};
    for (const k of ['site_id', 'vehicle', 'waybill', 'customer_id', 'order_id', 'lat', 'lon']) {
      if (item[k] !== null && item[k] !== undefined && item[k] !== '') b[k] = item[k];
    }
    b.scans = [{ id: item.id, code: item.code, time: item.time }];
    return b;
  }

  async function updateCounts() {
    let items = [];
    try { items = await dbAll(); } catch { /* keep the last numbers */ return; }
    const me = session ? session.username : null;
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

  function renderSyncInfo() {
    const parts = [];
    if (syncRunning) parts.push('正在同步…');
    else if (syncNote) parts.push(syncNote);
    if (lastSyncAt) parts.push(`上次同步 ${fmtTime(lastSyncAt)}`);
    if (!parts.length) parts.push(pendingCount ? '联网后自动同步' : '全部已同步');
    $('sync-info').textContent = parts.join(' · ');
    $('sync-now').disabled = !!syncRunning;
  }

  let syncRunning = null;
  let syncAgain = false;

  /// Starts a sync, or notes that another pass is wanted when one is running: one at a time.
  function requestSync() {
    if (leaving) return Promise.resolve();
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
        } while (syncAgain && !leaving);
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

  /// Sends the pending scans one by one, oldest first. Stops at a network error (the rest would
  /// fail too); a refused scan is set aside as failed and the others go on.
  async function syncOnce() {
    let items;
    items = (await dbAll()).filter((i) => i.status === 'pending' && i.user === session.username)
      .sort((a, b) => a.created - b.created);
    if (!items.length) { syncNote = ''; retryDelay = 0; return; }
    if (!navigator.onLine) { syncNote = '离线，联网后自动同步'; return; }
    if (!sessionVerified && !(await refreshSession())) {
      syncNote = leaving ? '' : '无法连接服务器，稍后自动重试';
      bumpRetry();
      return;
    }
    let sent = 0;
    for (const it of items) {
      if (leaving) return;
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
    let r;
    try {
      r = await fetchT(`${API}/scan/${encodeURIComponent(item.action)}`, {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': session.csrf || '' },
        body: JSON.stringify(scanBody(item)),
      });
    } catch {
      // Sent or not, we cannot tell: keep it pending, it goes again later with the same id.
      setNet(false);
      await touch(item, '网络不可用，稍后自动重试');
      return 'network';
    }
    setNet(true);
    if (r.ok) {
      let res = null;
      try { res = ((await r.json()).results || [])[0] || null; } catch { /* stored all the same */ }
      await dbDelete(item.id);
      onSynced(item, res);
      return 'ok';
    }
    if (r.status === 401) { goLogin(); return 'auth'; }
    if (r.status === 403 && !retried) {
      // The CSRF token may be stale (a new session): ask again and retry once if it changed.
      const before = session.csrf;
      if (!(await refreshSession())) return leaving ? 'auth' : 'network';
      if (session.csrf && session.csrf !== before) return sendItem(item, true);
    }
    if (r.status >= 500 || r.status === 408 || r.status === 429) {
      await touch(item, `服务器暂时不可用（${r.status}），稍后自动重试`);
      return 'server';
    }
    const msg = await problemMessage(r);
    await dbPut({ ...item, status: 'failed', error: msg, failed_at: new Date().toISOString() });
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
    if (leaving || !pendingCount || !retryDelay || !navigator.onLine) return;
    retryTimer = setTimeout(() => { if (pendingCount && navigator.onLine) requestSync(); }, retryDelay);
  }

  function onSynced(item, res) {
    const rec = recent.find((x) => x.id === item.id);
    const entry = rec || { id: item.id, action: item.action, code: item.code, time: item.time };
    entry.state = res && res.new === false ? 'dup' : 'synced';
    entry.verdict = res ? res.verdict : null;
    entry.note = res ? [res.location_zh, ...(res.warnings || [])].filter(Boolean).join('；') : '';
    if (!rec) addRecent(entry); else renderRecent();
    if (res) {
      const kind = res.verdict || 'ok';
      const lines = (res.warnings || []).slice();
      showCard(kind, VERDICT_ZH[kind] || kind, lines, {
        code: res.code || item.code,
        action: item.action,
        dl: [['操作', OPS[item.action] ? OPS[item.action].label : item.action],
          ['位置', `${res.location_zh || ''}${res.full === true ? '（重瓶）' : res.full === false ? '（空瓶）' : ''}`],
          ['下次检验', res.next_check_date], ['扫码时间', fmtTime(item.time)],
          ['同步', res.new === false ? '服务器已有此记录（未重复记录）' : '已同步']],
      });
      if (kind !== 'ok') beep(false);
    }
    notifyOthers();
  }

  function onFailed(item, msg) {
    const rec = recent.find((x) => x.id === item.id);
    if (rec) { rec.state = 'failed'; rec.note = msg; renderRecent(); }
    showCard('failed', '未记录', [msg], { code: item.code, action: item.action, dl: [['操作', OPS[item.action] ? OPS[item.action].label : item.action]] });
    beep(false);
    notifyOthers();
  }

  // ------------------------------------------------------------------------------- lists and cards
  function addRecent(e) {
    recent = recent.filter((x) => x.id !== e.id);
    recent.unshift(e);
    const pend = recent.filter((x) => x.state === 'pending');
    const done = recent.filter((x) => x.state !== 'pending').slice(0, RECENT_MAX);
    recent = [...pend, ...done].sort((a, b) => (a.time < b.time ? 1 : -1));
    renderRecent();
  }

  function renderRecent() {
    const ul = $('recent');
    ul.textContent = '';
    const stateText = { pending: ['待同步', 'pending'], synced: ['已同步', 'ok'], dup: ['已同步', 'ok'], failed: ['失败', 'bad'] };
    for (const r of recent) {
      const [t, cls] = stateText[r.state] || ['', ''];
      let vcls = cls;
      if ((r.state === 'synced' || r.state === 'dup') && r.verdict && r.verdict !== 'ok') vcls = r.verdict === 'overdue' ? 'overdue' : 'bad';
      const label = r.verdict && r.state !== 'pending' && r.state !== 'failed' ? `${t} · ${VERDICT_ZH[r.verdict] || r.verdict}` : t;
      ul.append(el('li', { 'data-id': r.id, 'data-state': r.state },
        el('span', { class: 'm' },
          el('span', { class: 'c', text: r.code }), ` ${OPS[r.action] ? OPS[r.action].label : r.action}`,
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
          el('span', { class: 'c', text: f.code }), ` ${OPS[f.action] ? OPS[f.action].label : f.action}`,
          el('small', { class: 'reason', text: f.error || '' }),
          el('small', { text: `扫码时间 ${fmtTime(f.time)}` })),
        rm));
    }
  }

  function showCard(kind, title, lines, extra) {
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
      dl.append(el('dt', { text: '扫码时间' }), el('dd', { text: fmtTime(x.time) }));
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

  function fmtTime(t) {
    if (!t) return '';
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) return String(t);
    const p = (n) => String(n).padStart(2, '0');
    const today = new Date();
    const sameDay = d.toDateString() === today.toDateString();
    return `${sameDay ? '' : `${d.getMonth() + 1}月${d.getDate()}日 `}${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  let toastTimer = null;
  function toast(msg) {
    const t = $('toast');
    t.textContent = msg;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 2500);
  }

  // A short beep and vibration: high for recorded, low for a problem.
  let audio = null;
  function beep(good) {
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

  function notifyOthers() { if (channel) channel.postMessage('queue'); }

  // ------------------------------------------------------------------------------- position
  let position = null;
  function watchPosition() {
    // Only when already allowed: the app never asks on its own.
    if (!navigator.geolocation || !navigator.permissions) return;
    navigator.permissions.query({ name: 'geolocation' }).then((p) => {
      if (p.state !== 'granted') return;
      navigator.geolocation.watchPosition((pos) => {
        position = { lat: Math.round(pos.coords.latitude * 1e6) / 1e6, lon: Math.round(pos.coords.longitude * 1e6) / 1e6, at: Date.now() };
      }, () => {}, { enableHighAccuracy: false, maximumAge: 60000 });
    }).catch(() => {});
  }

  // ------------------------------------------------------------------------------- camera
  let camStream = null;
  let camTimer = null;
  async function openCamera() {
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
          const hit = codes.map((c) => c.rawValue).find((t) => parseScanned(t || ''));
          if (hit) { closeCamera(); onScan(hit); return; }
        }
      } catch { /* try the next frame */ }
      camTimer = setTimeout(tick, 200);
    };
    tick();
  }
  function closeCamera() {
    clearTimeout(camTimer);
    if (camStream) for (const t of camStream.getTracks()) t.stop();
    camStream = null;
    $('camera-video').srcObject = null;
    $('camera').hidden = true;
    focusScan();
  }

  // ------------------------------------------------------------------------------- wiring
  function bindUI() {
    $('scan-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const s = $('scan');
      const v = s.value;
      s.value = '';
      onScan(v);
      focusScan();
    });
    // Some scanners end with Tab instead of Enter: treat it as Enter rather than leave the field.
    $('scan').addEventListener('keydown', (e) => {
      if (e.key === 'Tab' && $('scan').value.trim()) {
        e.preventDefault();
        $('scan-form').requestSubmit();
      }
    });
    // The field keeps the focus (a hardware scanner types into it) unless another control takes it.
    $('scan').addEventListener('blur', () => {
      setTimeout(() => {
        const a = document.activeElement;
        if (!a || a === document.body || a === document.documentElement) focusScan();
      }, 150);
    });
    document.addEventListener('click', (e) => {
      const t = e.target;
      if (!(t instanceof Element) || !t.closest('select, input, textarea, .camera')) setTimeout(focusScan, 0);
    });
    $('kbd-btn').addEventListener('click', () => {
      const s = $('scan');
      const manual = s.getAttribute('inputmode') === 'none';
      s.setAttribute('inputmode', manual ? 'numeric' : 'none');
      $('kbd-btn').textContent = manual ? '收起键盘' : '手动输入';
      s.blur();
      setTimeout(focusScan, 50);
    });
    $('sync-now').addEventListener('click', () => {
      retryDelay = 0;
      if (!navigator.onLine) toast('当前离线，联网后自动同步');
      requestSync();
    });
    const ctx = () => { prefs.ctx = prefs.ctx || {}; return (prefs.ctx[op] = prefs.ctx[op] || {}); };
    $('site').addEventListener('change', () => { ctx().site_id = $('site').value; savePrefs(); focusScan(); });
    $('vehicle').addEventListener('change', () => { ctx().vehicle = $('vehicle').value; ctx().waybill = ''; renderContext(); focusScan(); });
    $('waybill').addEventListener('change', () => { ctx().waybill = $('waybill').value; savePrefs(); focusScan(); });
    $('order').addEventListener('change', () => {
      const c = ctx();
      c.order_id = $('order').value;
      const o = refs.orders.find((x) => x.id === c.order_id);
      if (o) c.customer_id = o.customer_id;
      renderContext();
      focusScan();
    });
    $('customer').addEventListener('change', () => { ctx().customer_id = $('customer').value; savePrefs(); focusScan(); });
    $('customer-filter').addEventListener('input', () => { renderCustomers(ctx()); savePrefs(); });
    $('medium').addEventListener('change', () => { ctx().medium = $('medium').value; savePrefs(); focusScan(); });
    if ('BarcodeDetector' in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
      $('camera-btn').hidden = false;
      $('camera-btn').addEventListener('click', openCamera);
    }
    $('camera-close').addEventListener('click', closeCamera);
    $('logout').addEventListener('click', logout);

    window.addEventListener('online', () => {
      setNet(true);
      retryDelay = 0;
      requestSync().then(() => {
        // Started offline: the sites, vehicles and customers are refreshed once the server answers.
        if (!refsFresh && sessionVerified && !leaving) loadRefs().then(() => renderContext()).catch(() => {});
      });
    });
    window.addEventListener('offline', () => { setNet(false); renderSyncInfo(); });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') { updateCounts(); if (pendingCount && navigator.onLine) requestSync(); }
    });
    if (channel) channel.onmessage = () => { updateCounts(); };
    setInterval(() => { if (pendingCount > 0 && navigator.onLine) requestSync(); }, SYNC_EVERY_MS);
  }

  async function logout() {
    await updateCounts();
    if (pendingCount > 0 && !window.confirm(`还有 ${pendingCount} 条扫码记录未同步。退出后这些记录保留在本机，须用本账号重新登录才能同步。确定退出？`)) return;
    const token = await csrf();
    // The copy kept for offline starts goes; the queue stays (it syncs when this account is back).
    try { localStorage.removeItem(LS_SESSION); } catch { /* ignore */ }
    const f = el('form', { method: 'post', action: '/logout' });
    f.append(el('input', { type: 'hidden', name: '_csrf', value: token }));
    document.body.append(f);
    leaving = true;
    f.submit();
  }

  function registerSW() {
    if (!('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch(() => { /* the app works without it, online */ });
  }

  function fatal(msg) {
    const m = $('app');
    m.textContent = '';
    const b = el('button', { type: 'button', class: 'btn primary', text: '重试' });
    b.addEventListener('click', () => location.reload());
    m.append(el('div', { class: 'card fatal' }, el('p', { text: msg }), b));
  }

  async function start() {
    prefs = loadJson(LS_PREFS, {});
    setNet(navigator.onLine);
    registerSW();
    try {
      db = await openDb();
    } catch {
      fatal('本机浏览器无法使用离线存储（IndexedDB），不能保证扫码记录不丢失。请关闭隐身模式或更换浏览器。');
      return;
    }
    session = loadJson(LS_SESSION, null);
    const fresh = await refreshSession();
    if (leaving) return;
    if (!session) {
      fatal('当前无法连接服务器，且本机没有登录记录。请联网后重试。');
      return;
    }
    renderUser();
    if (fresh) await loadRefs(); else loadCachedRefs();
    if (leaving) return;
    bindUI();
    renderOps();
    watchPosition();
    await updateCounts();
    focusScan();
    document.body.dataset.ready = '1';
    requestSync();
  }

  start();
})();
