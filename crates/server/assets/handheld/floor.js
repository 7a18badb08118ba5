// cyltrace handheld, the filling floor: the checker's pre-, in- and post-fill checks (table C.2) as
// big toggles, the filler's 充装前查询 (fill-control with the scanned label, online only, answered
// on the whole screen) and the fill record (充装记录, table C.1). Checks and fills are events
// (POST /api/v1/events) with an id made on the device, sent through the same queue as the scans.

import {
  API, OPS, S, $, el, ctxOf, fetchT, goLogin, setNet, postJson, problemMessage, nowIso, nowMs, fmtTime,
  beep, recentPosition, savePrefs, getJson,
} from './core.js';
import { TYPES, enqueue, requestSync, noteRecent } from './queue.js';
import {
  showCard, showScreen, hideScreen, openPanel, closePanel, field, fieldError, toggles, missingContext,
  siteName, fillSelect, focusScan, chooseOp,
} from './ui.js';
import { duplicate } from './scan.js';

// Table C.2, every item phrased so that true = good (合格).
const CHECK_ITEMS = {
  pre_fill_check: [
    ['own_property', '自有产权气瓶'],
    ['medium_matches', '充装介质与制造钢印一致'],
    ['no_cracks', '外表面无裂纹'],
    ['no_corrosion', '外表面无严重腐蚀'],
    ['no_deformation', '外表面无明显变形'],
    ['no_damage', '外表面无损伤缺陷'],
    ['inspection_valid', '在检验有效期内'],
    ['valve_valid', '瓶阀在设计使用年限内'],
    ['residual_pressure_ok', '余压检查符合要求'],
  ],
  in_fill_check: [
    ['no_abnormal_sound', '瓶内无异常音响'],
    ['no_seal_leak', '各密封处无泄漏'],
    ['wall_temperature_normal', '瓶壁温度无异常'],
    ['no_other_abnormality', '无其他异常情况'],
  ],
  post_fill_check: [
    ['fill_within_limit', '充装量在规定范围内'],
    ['no_valve_neck_leak', '瓶阀与瓶口连接处无泄漏'],
    ['no_valve_outlet_leak', '瓶阀出口及阀杆处无泄漏'],
    ['no_bulge_or_defect', '瓶体无鼓包变形或泄漏等严重缺陷'],
    ['no_temperature_rise', '瓶体温度无异常升高'],
  ],
};
const itemLabel = (kind, key) => (CHECK_ITEMS[kind] || []).find(([k]) => k === key)?.[1] || key;

const mediumOf = (c) => c.medium || $('medium').value;

/// The context an operation needs, or a refusal card naming what is missing.
function ready(o, code) {
  const missing = missingContext(o, ctxOf());
  if (!missing.length) return true;
  showCard('refused', '请先选择', [`${o.label}须先选择${missing.join('、')}`], { code });
  beep(false);
  return false;
}

// ------------------------------------------------------------------------------- checks
function openCheck(kind, parsed) {
  const o = OPS[kind];
  if (!ready(o, parsed.code)) return;
  if (duplicate(`${kind}:${parsed.code}`) && !$('panel').hidden) return;
  hideScreen();
  const summary = el('div', { class: 'summary ok', id: 'check-summary', 'aria-live': 'polite' });
  const save = el('button', { type: 'button', class: 'btn primary wide', id: 'check-save' });
  const show = (failed) => {
    summary.className = `summary ${failed.length ? 'bad' : 'ok'}`;
    summary.textContent = failed.length ? `不合格 ${failed.length} 项：${failed.join('、')}` : '全部合格';
    save.textContent = failed.length ? `保存（不合格 ${failed.length} 项）` : '保存（全部合格）';
  };
  const box = el('div', { class: 'toggles' });
  const t = toggles(box, CHECK_ITEMS[kind], '合格', '不合格', show);
  show([]);
  const cancel = el('button', { type: 'button', class: 'btn', text: '取消' });
  cancel.addEventListener('click', () => { closePanel(); focusScan(); });
  save.addEventListener('click', () => saveCheck(kind, parsed.code, t.values(), t.failed()));
  openPanel(`${o.label} · ${parsed.code}`,
    el('div', { class: 'hint', text: `站点 ${siteName(ctxOf().site_id)} · 默认全部合格，点一下标记为不合格` }),
    box, summary, el('div', { class: 'formbar' }, save, cancel));
  $('result').hidden = true;
}

async function saveCheck(kind, code, values, failed) {
  const c = ctxOf(kind);
  const time = nowIso();
  const id = crypto.randomUUID();
  const event = {
    id, kind, codes: [code], time, site_id: c.site_id, data: values, ...recentPosition(),
  };
  const who = S.session.name || S.session.username;
  if (who) event.operator = who;
  if (!(await enqueue({ id, type: 'event', action: kind, code, time, event }))) return;
  const note = failed.length ? `不合格：${failed.join('、')}` : '全部合格';
  noteRecent(id, { note });
  closePanel();
  showCard('pending', failed.length ? '已记录（不合格），待同步' : '已记录（合格），待同步',
    failed.map((f) => `不合格：${f}`), { code, action: kind, time, timeLabel: '检查时间' });
  beep(!failed.length);
  requestSync();
  focusScan();
}

for (const kind of Object.keys(CHECK_ITEMS)) OPS[kind].onScan = (parsed) => openCheck(kind, parsed);

// ------------------------------------------------------------------------------- 充装前查询
// The answers of this page's fill-controls that allowed a fill, by code: the fill record starts
// from them (begin = when allowed, tare from the archive).
const allowed = {};

async function fillControl(parsed) {
  const o = OPS.fill_check;
  if (!ready(o, parsed.code)) return;
  const c = ctxOf();
  const offline = () => {
    setNet(false);
    showCard('refused', '充装前查询需要联网', ['当前离线：充装前查询须联网，不能离线记录，也不能视为允许充装。请检查网络后重新扫码。'], { code: parsed.code });
    beep(false);
  };
  if (!navigator.onLine) return offline();
  closePanel();
  showCard('pending', '正在查询…', [], { code: parsed.code });
  let r;
  try {
    const body = { code: parsed.code, site_id: c.site_id, medium: mediumOf(c) };
    // The QR URL goes as scanned: the server checks its anti-counterfeit signature (A8).
    if (parsed.url) body.label = parsed.label;
    r = await postJson('/fill-control', body);
  } catch {
    return offline();
  }
  if (r.status === 401) return goLogin();
  if (!r.ok) {
    showCard('failed', '查询失败', [await problemMessage(r)], { code: parsed.code });
    return beep(false);
  }
  setNet(true);
  const v = await r.json();
  $('result').hidden = true;
  const tare = v.target_gross_kg != null && v.fill_limit_kg != null
    ? Math.round((v.target_gross_kg - v.fill_limit_kg) * 100) / 100 : null;
  const a8 = (v.refusals || []).some((x) => x.rule === 'A8');
  const dl = [['充装站', siteName(c.site_id)], ['介质', mediumOf(c)]];
  if (v.allow) {
    dl.push(['充装限量', v.fill_limit_kg != null ? `${v.fill_limit_kg} kg` : null],
      ['目标总重', v.target_gross_kg != null ? `${v.target_gross_kg} kg` : null]);
  }
  if (!parsed.url) dl.push(['标签', '未扫描二维码，未校验防伪签名']);
  else dl.push(['标签', a8 ? '校验未通过' : '防伪签名校验通过']);
  if (v.allow) {
    allowed[parsed.code] = { at: nowIso(), tare, target: v.target_gross_kg, limit: v.fill_limit_kg, decision: v.decision_id };
    showScreen('ok', {
      title: '允许充装', code: parsed.code, dl,
      actions: [['记录充装', () => {
        // The fill is recorded at the same station, with the same medium.
        Object.assign(ctxOf('fill'), { site_id: c.site_id, medium: mediumOf(c) });
        savePrefs();
        chooseOp('fill');
        openFill(parsed.code);
      }, true]],
    });
  } else {
    delete allowed[parsed.code];
    showScreen('refused', {
      title: '禁止充装',
      subtitle: a8 ? '标签非正品' : `${(v.refusals || []).length} 项不符合充装条件`,
      code: parsed.code,
      lines: (v.refusals || []).map((x) => [x.rule, x.reason]),
      dl,
    });
  }
  beep(!!v.allow);
}
OPS.fill_check.onScan = fillControl;

// ------------------------------------------------------------------------------- 充装记录
const pad = (n) => String(n).padStart(2, '0');
/// A time as a datetime-local input shows it (the device's local time).
function localInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/// Today's batches of the station (by their number or name, else those created today), else the
/// station's newest: [[number, text]], today's first.
function batchChoices(c) {
  const cn = new Date(nowMs() + 8 * 3600 * 1000).toISOString().slice(0, 10);
  const compact = cn.replaceAll('-', '');
  const fits = (b) => (!b.site_id || b.site_id === c.site_id) && (!b.medium || b.medium === mediumOf(c));
  const all = S.refs.batches.filter(fits);
  const named = all.filter((b) => String(b.number).includes(compact) || (b.name || '').includes(cn));
  const created = all.filter((b) => new Date(Date.parse(b.created_at) + 8 * 3600 * 1000).toISOString().slice(0, 10) === cn);
  const today = named.length ? named : created;
  const list = today.length ? today : all.slice(0, 20);
  return { today: today.length > 0, items: list.map((b) => [b.number, b.name ? `${b.number} · ${b.name}` : b.number]) };
}

function num(v) {
  const t = String(v).trim();
  return /^\d+(\.\d+)?$/.test(t) ? Number(t) : NaN;
}

function openFill(code) {
  const o = OPS.fill;
  if (!ready(o, code)) return;
  hideScreen();
  const c = ctxOf('fill');
  const a = allowed[code];
  const inp = (attrs) => el('input', { type: 'text', autocomplete: 'off', ...attrs });
  const scale = inp({ id: 'fill-scale', value: S.prefs.scale_no || '' });
  const tare = inp({ id: 'fill-tare', inputMode: 'decimal', value: a && a.tare != null ? String(a.tare) : '' });
  const gross = inp({ id: 'fill-gross', inputMode: 'decimal' });
  const begin = el('input', { type: 'datetime-local', step: 1, id: 'fill-begin', value: localInput(a ? Date.parse(a.at) : nowMs()) });
  const end = el('input', { type: 'datetime-local', step: 1, id: 'fill-end', value: localInput(nowMs()) });
  let endTouched = false;
  end.addEventListener('input', () => { endTouched = true; });
  const batch = el('select', { id: 'fill-batch' });
  const bc = batchChoices(c);
  const keep = bc.items.some(([v]) => v === S.prefs.batch) ? S.prefs.batch : (bc.today && bc.items[0] ? bc.items[0][0] : '');
  fillSelect(batch, bc.items, keep, bc.today ? '（不选批次）' : '（今日无批次，可不选）');
  const targetHint = a && a.target != null ? `目标总重（切断重量）${a.target} kg` : '';
  const save = el('button', { type: 'button', class: 'btn primary wide', id: 'fill-save', text: '保存充装记录' });
  const cancel = el('button', { type: 'button', class: 'btn', text: '取消' });
  cancel.addEventListener('click', () => { closePanel(); focusScan(); });
  openPanel(`充装记录 · ${code}`,
    a ? null : el('div', { class: 'note', text: '本机没有该瓶的“允许充装”结果：请确认已做充装前查询。' }),
    el('div', { class: 'hint', text: `充装站 ${siteName(c.site_id)} · 介质 ${mediumOf(c)}` }),
    field('秤号', scale),
    el('div', { class: 'pair' }, field('皮重（kg）', tare, a && a.tare != null ? '取自气瓶档案' : ''), field('毛重（kg）', gross, targetHint)),
    field('开始时间', begin, a ? '允许充装的时间' : ''),
    field('结束时间', end, '默认为保存时的时间'),
    field('批次', batch),
    el('div', { class: 'formbar' }, save, cancel));
  if (!a || a.tare == null) prefillTare(code, tare);
  (scale.value ? gross : scale).focus({ preventScroll: true });
  save.addEventListener('click', () => {
    if (!endTouched) end.value = localInput(nowMs());
    saveFill(code, c, { scale, tare, gross, begin, end, batch }, a);
  });
}

/// The tare from the archive, when online and the field is still empty.
async function prefillTare(code, input) {
  if (!navigator.onLine) return;
  try {
    const v = await getJson(`/cylinders/${encodeURIComponent(code)}`);
    if (v.tare_kg != null && !input.value) input.value = String(v.tare_kg);
  } catch { /* typed by hand */ }
}

async function saveFill(code, c, f, a) {
  let ok = true;
  const err = (input, msg) => { fieldError(input, msg); if (msg) ok = false; };
  const scale = f.scale.value.trim();
  err(f.scale, scale ? '' : '请填写秤号');
  const tare = num(f.tare.value);
  err(f.tare, Number.isFinite(tare) && tare > 0 && tare < 500 ? '' : '皮重应为大于 0 的数字（kg）');
  const gross = num(f.gross.value);
  if (!Number.isFinite(gross) || gross <= 0) err(f.gross, '毛重应为大于 0 的数字（kg）');
  else if (Number.isFinite(tare) && gross <= tare) err(f.gross, `毛重应大于皮重 ${tare} kg`);
  else err(f.gross, '');
  const b = Date.parse(f.begin.value);
  const e = Date.parse(f.end.value);
  err(f.begin, Number.isNaN(b) ? '请填写开始时间' : '');
  if (Number.isNaN(e)) err(f.end, '请填写结束时间');
  else if (!Number.isNaN(b) && e < b) err(f.end, '结束时间早于开始时间');
  else if (e > nowMs() + 2 * 60 * 1000) err(f.end, '结束时间晚于当前时间');
  else err(f.end, '');
  if (!ok) { beep(false); return; }
  S.prefs.scale_no = scale;
  S.prefs.batch = f.batch.value;
  savePrefs();
  const data = {
    scale_no: scale, begin: new Date(b).toISOString(), end: new Date(e).toISOString(),
    tare_kg: tare, gross_kg: gross, medium: mediumOf(c),
  };
  if (f.batch.value) data.batch = f.batch.value;
  const id = crypto.randomUUID();
  const time = data.end;
  const event = { id, kind: 'fill', codes: [code], time, site_id: c.site_id, data, ...recentPosition() };
  const who = S.session.name || S.session.username;
  if (who) event.operator = who;
  if (!(await enqueue({ id, type: 'event', action: 'fill', code, time, event }))) return;
  const net = Math.round((gross - tare) * 100) / 100;
  noteRecent(id, { note: `净重 ${net} kg` });
  delete allowed[code];
  closePanel();
  const over = a && a.target != null && gross > a.target;
  showCard('pending', '充装记录已保存，待同步', over ? [`毛重超过目标总重 ${a.target} kg（超装）`] : [], {
    code, action: 'fill', time, timeLabel: '结束时间',
    dl: [['秤号', scale], ['皮重', `${tare} kg`], ['毛重', `${gross} kg`], ['净重', `${net} kg`], ['批次', data.batch]],
  });
  beep(!over);
  requestSync();
  focusScan();
}

OPS.fill.onScan = (parsed) => openFill(parsed.code);
OPS.fill.scanHint = '扫描允许充装的气瓶，填写秤号、皮重、毛重后保存；离线时保存在本机，联网后自动同步。';
OPS.fill_check.scanHint = '扫描气瓶标签二维码（校验防伪签名）；充装前查询须联网。';
for (const k of Object.keys(CHECK_ITEMS)) OPS[k].scanHint = '扫描气瓶后逐项检查：默认全部合格，点一下标记不合格，然后保存。';

// ------------------------------------------------------------------------------- the event type
TYPES.event = {
  async send(item) {
    return fetchT(`${API}/events`, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': S.session.csrf || '' },
      body: JSON.stringify({ events: [item.event] }),
    });
  },
  synced(item) {
    const ev = item.event;
    const label = OPS[item.action] ? OPS[item.action].label : ev.kind;
    if (ev.kind === 'fill') {
      const d = ev.data;
      noteRecent(item.id, { verdict: 'passed', note: `净重 ${Math.round((d.gross_kg - d.tare_kg) * 100) / 100} kg` });
      showCard('ok', '充装记录已同步', [], {
        code: item.code,
        dl: [['秤号', d.scale_no], ['净重', `${Math.round((d.gross_kg - d.tare_kg) * 100) / 100} kg`],
          ['结束时间', fmtTime(d.end)], ['批次', d.batch]],
      });
      return;
    }
    const failed = Object.entries(ev.data).filter(([, v]) => v === false).map(([k]) => itemLabel(ev.kind, k));
    noteRecent(item.id, { verdict: failed.length ? 'failed' : 'passed', note: failed.length ? `不合格：${failed.join('、')}` : '全部合格' });
    showCard(failed.length ? 'overdue' : 'ok', `${label}已同步：${failed.length ? '不合格' : '合格'}`,
      failed.map((f) => `不合格：${f}`), { code: item.code, dl: [['检查时间', fmtTime(ev.time)]] });
  },
};
