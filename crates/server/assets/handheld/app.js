// cyltrace handheld (G9): the entry module. It starts the app and wires the page: the scan field
// (a hardware scanner types into it and it keeps the focus), the context selectors, sync, logout and
// the service worker. Plain JavaScript modules, no framework; all the words the user sees are
// Chinese. The pieces:
//   core.js      operations and roles, state, storage, network, session, reference data
//   queue.js     the offline queue in IndexedDB and its exactly-once sync by id
//   ui.js        menu, context, result card, full-screen verdict, panels, camera
//   scan.js      scan-to-act operations, label check, 查询
//   floor.js     filling floor: pre-/in-/post-fill checks, 充装前查询, 充装记录
//   delivery.js  入户安检, 回收单 and its confirmation

import {
  S, $, el, loadPrefs, savePrefs, setNet, loadSession, forgetSession, refreshSession, loadRefs,
  loadCachedRefs, renderUser, csrf, ctxOf, toast, watchPosition,
} from './core.js';
import {
  openDb, updateCounts, requestSync, syncNow, renderSyncInfo, listenOthers, startTicker, pendingCount,
} from './queue.js';
import {
  renderOps, renderContext, renderCustomers, contextChanged, focusScan, openCamera, closeCamera,
} from './ui.js';
import { onScan, parseScanned } from './scan.js';
import './floor.js';
import './delivery.js';

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
    if (!(t instanceof Element) || !t.closest('select, input, textarea, canvas, .camera')) setTimeout(focusScan, 0);
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
    if (!navigator.onLine) toast('当前离线，联网后自动同步');
    syncNow();
  });
  const changed = () => { savePrefs(); contextChanged(); focusScan(); };
  $('site').addEventListener('change', () => { ctxOf().site_id = $('site').value; changed(); });
  $('vehicle').addEventListener('change', () => { ctxOf().vehicle = $('vehicle').value; ctxOf().waybill = ''; renderContext(); changed(); });
  $('waybill').addEventListener('change', () => { ctxOf().waybill = $('waybill').value; changed(); });
  $('order').addEventListener('change', () => {
    const c = ctxOf();
    c.order_id = $('order').value;
    const o = S.refs.orders.find((x) => x.id === c.order_id);
    if (o) c.customer_id = o.customer_id;
    renderContext();
    changed();
  });
  $('customer').addEventListener('change', () => { ctxOf().customer_id = $('customer').value; changed(); });
  $('customer-filter').addEventListener('input', () => {
    const c = ctxOf();
    const before = c.customer_id;
    renderCustomers(c);
    savePrefs();
    if (c.customer_id !== before) contextChanged();
  });
  $('medium').addEventListener('change', () => { ctxOf().medium = $('medium').value; changed(); });
  if ('BarcodeDetector' in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    $('camera-btn').hidden = false;
    $('camera-btn').addEventListener('click', () => openCamera((t) => !!parseScanned(t), onScan));
  }
  $('camera-close').addEventListener('click', closeCamera);
  $('logout').addEventListener('click', logout);

  window.addEventListener('online', () => {
    setNet(true);
    syncNow().then(() => {
      // Started offline: the sites, vehicles and customers are refreshed once the server answers.
      if (!S.refsFresh && S.sessionVerified && !S.leaving) loadRefs().then(() => renderContext()).catch(() => {});
    });
  });
  window.addEventListener('offline', () => { setNet(false); renderSyncInfo(); });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') { updateCounts(); if (pendingCount && navigator.onLine) requestSync(); }
  });
  listenOthers();
  startTicker();
}

async function logout() {
  await updateCounts();
  if (pendingCount > 0 && !window.confirm(`还有 ${pendingCount} 条记录未同步。退出后这些记录保留在本机，须用本账号重新登录才能同步。确定退出？`)) return;
  const token = await csrf();
  // The copy kept for offline starts goes; the queue stays (it syncs when this account is back).
  forgetSession();
  const f = el('form', { method: 'post', action: '/logout' });
  f.append(el('input', { type: 'hidden', name: '_csrf', value: token }));
  document.body.append(f);
  S.leaving = true;
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
  loadPrefs();
  setNet(navigator.onLine);
  registerSW();
  try {
    await openDb();
  } catch {
    fatal('本机浏览器无法使用离线存储（IndexedDB），不能保证记录不丢失。请关闭隐身模式或更换浏览器。');
    return;
  }
  S.session = loadSession();
  const fresh = await refreshSession();
  if (S.leaving) return;
  if (!S.session) {
    fatal('当前无法连接服务器，且本机没有登录记录。请联网后重试。');
    return;
  }
  renderUser();
  if (fresh) await loadRefs(); else loadCachedRefs();
  if (S.leaving) return;
  bindUI();
  renderOps();
  watchPosition();
  await updateCounts();
  focusScan();
  document.body.dataset.ready = '1';
  requestSync();
}

start();
