// The Anneal dashboard: one page, hash-routed, drawn from the JSON endpoints.
// Every piece of data reaches the DOM as text (textContent, attribute values),
// never as HTML, so run and study names cannot inject markup.
'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';
const PALETTE = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bc4c00', '#1b7c83', '#bf3989', '#6e7781', '#9a6700', '#0550ae'];

// ---------- small helpers ----------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

async function getJSON(url) {
  const r = await fetch(url, { cache: 'no-store' });
  let body;
  try { body = await r.json(); } catch (_) { body = {}; }
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(+v.toPrecision(4));
}

function duration(ms) {
  if (ms < 1000) return ms + ' ms';
  const s = ms / 1000;
  if (s < 120) return s.toFixed(1) + ' s';
  return (s / 60).toFixed(1) + ' min';
}

function showSetting(v) {
  const n = Number(v);
  return v !== '' && Number.isFinite(n) ? fmt(n) : v;
}

function badge(status) {
  return el('span', { class: 'badge ' + status, 'data-status': status }, status);
}

const enc = encodeURIComponent;

// ---------- timers and routing ----------

let timers = [];
function every(ms, f) { timers.push(setInterval(f, ms)); }
function stopTimers() { timers.forEach(clearInterval); timers = []; }
function setLive(text) { document.getElementById('live').textContent = text; }

function route() {
  stopTimers();
  setLive('');
  const hash = location.hash.replace(/^#/, '') || '/';
  const parts = hash.split('/').slice(1);
  const main = document.getElementById('main');
  main.replaceChildren();
  document.getElementById('nav-runs').classList.toggle('active', parts[0] === '' || parts[0] === 'run');
  document.getElementById('nav-studies').classList.toggle('active', parts[0] === 'studies' || parts[0] === 'study');
  let page;
  if (parts[0] === 'run' && parts.length >= 2) page = runPage(main, decodeURIComponent(parts.slice(1).join('/')));
  else if (parts[0] === 'studies') page = studiesPage(main);
  else if (parts[0] === 'study' && parts.length >= 3) page = studyPage(main, decodeURIComponent(parts[1]), decodeURIComponent(parts.slice(2).join('/')));
  else page = runsPage(main);
  page.catch((e) => main.replaceChildren(el('p', { class: 'error', id: 'error' }, String(e.message || e))));
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);

// ---------- scales and charts ----------

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const span = hi - lo;
  let step = Math.pow(10, Math.floor(Math.log10(span / n)));
  const err = n / (span / step);
  if (err <= 0.15) step *= 10; else if (err <= 0.35) step *= 5; else if (err <= 0.75) step *= 2;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    const v = Math.pow(10, e);
    if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
  }
  return out.length >= 2 ? out : [lo, hi];
}

function extent(values, log) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return log ? [1, 10] : [0, 1];
  if (lo === hi) return log ? [lo / 2, hi * 2] : [lo - (Math.abs(lo) * 0.1 || 1), hi + (Math.abs(hi) * 0.1 || 1)];
  return [lo, hi];
}

function scale(domain, range, log) {
  const [d0, d1] = log ? domain.map(Math.log10) : domain;
  const [r0, r1] = range;
  return (v) => r0 + ((log ? Math.log10(v) : v) - d0) / (d1 - d0 || 1) * (r1 - r0);
}

// A chart frame: axes, grid, labels; returns the SVG and the scales.
function frame(o) {
  const W = o.width || 520, H = o.height || 280;
  const m = { l: 62, r: o.legend ? 130 : 16, t: 24, b: 40 };
  const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart ' + (o.cls || ''), role: 'img', 'aria-label': o.title || '' });
  if (o.id) root.setAttribute('id', o.id);
  root.appendChild(svg('text', { x: m.l, y: 15, class: 'title' }, o.title || ''));
  const xr = [m.l, W - m.r], yr = [H - m.b, m.t];
  const x = o.xcats ? (v) => xr[0] + (v + 0.5) / o.xcats.length * (xr[1] - xr[0]) : scale(o.xdom, xr, o.logx);
  const y = scale(o.ydom, yr, o.logy);
  const grid = svg('g', { class: 'grid' }), axes = svg('g', { class: 'axis' });
  const yt = o.logy ? logTicks(...o.ydom) : niceTicks(o.ydom[0], o.ydom[1], 5);
  for (const t of yt) {
    if (t < Math.min(...o.ydom) - 1e-12 || t > Math.max(...o.ydom) + 1e-12) continue;
    grid.appendChild(svg('line', { x1: xr[0], x2: xr[1], y1: y(t), y2: y(t) }));
    axes.appendChild(svg('text', { x: xr[0] - 6, y: y(t) + 4, 'text-anchor': 'end' }, fmt(t)));
  }
  if (o.xcats) {
    o.xcats.forEach((c, i) => axes.appendChild(svg('text', { x: x(i), y: yr[0] + 16, 'text-anchor': 'middle' }, String(c).slice(0, 14))));
  } else {
    const xt = o.logx ? logTicks(...o.xdom) : niceTicks(o.xdom[0], o.xdom[1], 6);
    for (const t of xt) {
      if (t < o.xdom[0] - 1e-12 || t > o.xdom[1] + 1e-12) continue;
      grid.appendChild(svg('line', { x1: x(t), x2: x(t), y1: yr[0], y2: yr[1] }));
      axes.appendChild(svg('text', { x: x(t), y: yr[0] + 16, 'text-anchor': 'middle' }, fmt(t)));
    }
  }
  axes.appendChild(svg('line', { x1: xr[0], x2: xr[1], y1: yr[0], y2: yr[0] }));
  axes.appendChild(svg('line', { x1: xr[0], x2: xr[0], y1: yr[0], y2: yr[1] }));
  axes.appendChild(svg('text', { x: (xr[0] + xr[1]) / 2, y: H - 6, 'text-anchor': 'middle' }, o.xlabel || ''));
  axes.appendChild(svg('text', { x: 12, y: (yr[0] + yr[1]) / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${(yr[0] + yr[1]) / 2})` }, o.ylabel || ''));
  root.append(grid, axes);
  return { root, x, y, W, H, m };
}

function pathOf(points, x, y) {
  let d = '';
  let pen = false;
  for (const [px, py] of points) {
    if (!Number.isFinite(px) || !Number.isFinite(py)) { pen = false; continue; }
    d += (pen ? 'L' : 'M') + x(px).toFixed(1) + ',' + y(py).toFixed(1);
    pen = true;
  }
  return d;
}

// Lines: series = [{name, points: [[x, y], ...], color, cls, width, dash}]
function lineChart(o) {
  const xs = [], ys = [];
  for (const s of o.series) for (const [px, py] of s.points) { xs.push(px); ys.push(py); }
  const logy = !!o.logy && ys.some((v) => v > 0);
  const f = frame({ ...o, xdom: extent(xs, false), ydom: extent(ys, logy), logy });
  const lines = svg('g', { class: 'lines' });
  o.series.forEach((s, i) => {
    const pts = logy ? s.points.filter((p) => p[1] > 0) : s.points;
    const color = s.color || PALETTE[i % PALETTE.length];
    lines.appendChild(svg('path', {
      d: pathOf(pts, f.x, f.y), class: s.cls || 'series', stroke: color, 'stroke-width': s.width || 1.8,
      'stroke-dasharray': s.dash, 'stroke-opacity': s.opacity, 'data-series': s.name, 'data-points': pts.length,
    }, svg('title', {}, s.name)));
  });
  f.root.appendChild(lines);
  if (o.legend) {
    o.series.slice(0, 12).forEach((s, i) => {
      const ly = f.m.t + 8 + i * 16, lx = f.W - f.m.r + 10;
      f.root.appendChild(svg('line', { x1: lx, x2: lx + 16, y1: ly, y2: ly, stroke: s.color || PALETTE[i % PALETTE.length], 'stroke-width': 2, 'stroke-dasharray': s.dash }));
      f.root.appendChild(svg('text', { x: lx + 20, y: ly + 4 }, String(s.name).slice(0, 16)));
    });
  }
  return f.root;
}

// ---------- runs ----------

const RUN_COLUMNS = [
  ['id', 'run'], ['status', 'status'], ['task', 'task'], ['data', 'data'], ['model', 'model'], ['settings', 'settings'], ['records', 'records'],
];

async function runsPage(main) {
  const state = { sort: 'id', desc: false, filter: '', selected: new Set(), metric: null, runs: [] };
  const filter = el('input', { type: 'search', id: 'run-filter', placeholder: 'filter: name, task, data, model, status' });
  const count = el('span', { id: 'run-count', class: 'muted' });
  const tableBox = el('div', { class: 'scroll' });
  const overlayBox = el('div', { id: 'overlay' });
  main.append(el('h1', {}, 'Runs'), el('div', { class: 'toolbar' }, filter, count), tableBox, overlayBox);
  filter.addEventListener('input', () => { state.filter = filter.value.toLowerCase(); draw(); });

  function metricColumns() {
    const freq = new Map();
    for (const r of state.runs) for (const k of Object.keys(r.metrics)) freq.set(k, (freq.get(k) || 0) + 1);
    return [...freq.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 8).map((e) => e[0]);
  }
  function cell(r, key) {
    if (key === 'settings') return Object.entries(r.settings).map(([k, v]) => `${k.split('.').pop()}=${showSetting(v)}`).join(' ');
    if (key.startsWith('m:')) return r.metrics[key.slice(2)];
    return r[key];
  }
  function draw() {
    const metrics = metricColumns();
    const cols = [...RUN_COLUMNS, ...metrics.map((k) => ['m:' + k, k])];
    let rows = state.runs.filter((r) => !state.filter || [r.id, r.task, r.data, r.model, r.status].join(' ').toLowerCase().includes(state.filter));
    const key = state.sort;
    rows = rows.slice().sort((a, b) => {
      const va = cell(a, key), vb = cell(b, key);
      const na = va === undefined || va === null, nb = vb === undefined || vb === null;
      if (na || nb) return na === nb ? 0 : na ? 1 : -1;
      const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb), undefined, { numeric: true });
      return state.desc ? -c : c;
    });
    const head = el('tr', {}, el('th', {}, ''), cols.map(([k, label]) => el('th', {
      class: 'sortable' + (k === state.sort ? (state.desc ? ' sorted-desc' : ' sorted-asc') : ''), 'data-key': k,
      onclick: () => { if (state.sort === k) state.desc = !state.desc; else { state.sort = k; state.desc = false; } draw(); },
    }, label)));
    const body = el('tbody', {}, rows.map((r) => el('tr', { 'data-run': r.id },
      el('td', {}, el('input', { type: 'checkbox', class: 'select-run', 'data-run': r.id, checked: state.selected.has(r.id),
        onchange: (e) => { if (e.target.checked) state.selected.add(r.id); else state.selected.delete(r.id); overlay(); } })),
      cols.map(([k]) => {
        const v = cell(r, k);
        if (k === 'id') return el('td', {}, el('a', { href: '#/run/' + enc(r.id) }, r.id));
        if (k === 'status') return el('td', {}, badge(r.status));
        if (k === 'settings') return el('td', { class: 'settings' }, v);
        return el('td', { class: typeof v === 'number' ? 'num' : '' }, typeof v === 'number' ? fmt(v) : (v || ''));
      }))));
    tableBox.replaceChildren(el('table', { id: 'runs-table' }, el('thead', {}, head), body));
    count.textContent = `${rows.length} of ${state.runs.length} runs`;
  }

  const curveCache = new Map();
  async function overlay() {
    const ids = [...state.selected];
    if (ids.length === 0) { overlayBox.replaceChildren(el('p', { class: 'muted' }, 'Tick runs to overlay their curves.')); return; }
    const all = await Promise.all(ids.map(async (id) => {
      if (!curveCache.has(id)) curveCache.set(id, await getJSON('/api/curves?id=' + enc(id) + '&from=0'));
      return [id, curveCache.get(id)];
    }));
    const keys = new Set();
    for (const [, c] of all) for (const r of c.records) for (const k of Object.keys(r)) if (k !== c.x) keys.add(k);
    const names = [...keys].sort();
    if (!state.metric || !keys.has(state.metric)) state.metric = names.find((k) => k.startsWith('val_loss')) || names.find((k) => k.includes('loss')) || names[0];
    const select = el('select', { id: 'overlay-metric', onchange: (e) => { state.metric = e.target.value; overlay(); } },
      names.map((k) => el('option', { value: k, selected: k === state.metric }, k)));
    const series = all.map(([id, c]) => ({ name: id, points: c.records.filter((r) => state.metric in r).map((r) => [r[c.x], r[state.metric]]) }));
    overlayBox.replaceChildren(el('h2', {}, 'Selected runs'), el('div', { class: 'toolbar' }, 'metric ', select),
      lineChart({ id: 'overlay-chart', title: state.metric, series, xlabel: all[0][1].x, ylabel: state.metric, width: 820, height: 340, legend: true }));
  }

  async function load() {
    const data = await getJSON('/api/runs');
    state.runs = data.runs;
    const running = state.runs.filter((r) => r.status === 'running').length;
    setLive(running ? `${running} running · refreshing` : '');
    draw();
  }
  await load();
  overlay();
  every(4000, () => load().catch(() => {}));
}

function groupOf(key) {
  return key.replace(/^(train|val|valid|validation|test)_/, '');
}

async function runPage(main, id) {
  const q = '?id=' + enc(id);
  const detail = await getJSON('/api/run' + q);
  const header = el('div', {});
  const chartsBox = el('div', { class: 'charts', id: 'run-charts' });
  const recordCount = el('span', { id: 'record-count', class: 'muted' });
  main.append(el('h1', {}, id), header, el('h2', {}, 'Training curves ', recordCount), chartsBox);
  const state = { x: 'epoch', records: [], next: 0, status: detail.row.status };

  function drawHeader(d) {
    const r = d.row;
    const kv = [['status', badge(r.status)], ['task', r.task], ['data', r.data], ['model', r.model]];
    for (const [k, v] of Object.entries(r.settings)) kv.push([k, showSetting(v)]);
    if (r.message) kv.push(['message', el('span', { class: 'error' }, r.message)]);
    header.replaceChildren(el('table', { class: 'kv', id: 'run-summary' }, kv.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, v)))));
  }
  function drawCharts() {
    const keys = new Set();
    for (const r of state.records) for (const k of Object.keys(r)) if (k !== state.x && k !== 'seconds') keys.add(k);
    const groups = new Map();
    for (const k of [...keys].sort()) {
      const g = groupOf(k);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(k);
    }
    // Losses first, the learning rate last, the rest by name.
    const rank = (g) => (g === 'loss' ? 0 : g === 'learning_rate' ? 2 : 1);
    const ordered = [...groups.entries()].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
    const charts = ordered.map(([g, ks]) => {
      const series = ks.map((k) => ({ name: k, points: state.records.filter((r) => k in r).map((r) => [r[state.x], r[k]]) }));
      const chart = lineChart({ title: g, series, xlabel: state.x, ylabel: g, width: 460, height: 260, legend: ks.length > 1, logy: g === 'learning_rate' });
      chart.classList.add('curve-chart');
      chart.setAttribute('data-group', g);
      return chart;
    });
    chartsBox.replaceChildren(...(charts.length ? charts : [el('p', { class: 'muted' }, 'No records yet.')]));
    recordCount.textContent = `${state.records.length} records`;
    recordCount.setAttribute('data-count', state.records.length);
  }
  async function pull() {
    const c = await getJSON('/api/curves' + q + '&from=' + state.next);
    state.x = c.x;
    if (c.reset) state.records = [];
    for (const r of c.records) {
      while (state.records.length && state.records[state.records.length - 1][c.x] >= r[c.x]) state.records.pop();
      state.records.push(r);
    }
    state.next = c.next;
    if (c.records.length || c.reset) drawCharts();
  }
  drawHeader(detail);
  await pull();
  drawCharts();

  const results = el('div', { id: 'run-results' });
  main.append(results);
  function drawResults(d) {
    const parts = [];
    if (d.results && typeof d.results === 'object') {
      const rows = [];
      for (const [k, v] of Object.entries(d.results)) {
        if (typeof v === 'number' || typeof v === 'string') rows.push(el('tr', {}, el('td', {}, k), el('td', { class: 'num' }, fmt(v))));
        else if (Array.isArray(v) && v.every(Array.isArray)) {
          rows.push(el('tr', {}, el('td', {}, k), el('td', {}, el('table', { class: 'matrix' }, v.map((row) => el('tr', {}, row.map((x) => el('td', { class: 'num' }, fmt(x)))))))));
        }
      }
      parts.push(el('h2', {}, d.row.task === 'reinforcement' ? 'Summary' : 'Test metrics'), el('table', { class: 'kv', id: 'test-metrics' }, rows));
    }
    if (d.energy) {
      const e = d.energy;
      const rows = ['energy_wh', 'co2_grams', 'wall_seconds', 'user_seconds', 'peak_memory_mb', 'source']
        .filter((k) => k in e).map((k) => el('tr', {}, el('td', {}, k), el('td', { class: 'num' }, fmt(e[k]))));
      parts.push(el('h2', {}, 'Energy estimate'), el('table', { class: 'kv', id: 'energy' }, rows));
    }
    if (d.figures.length) {
      parts.push(el('h2', {}, 'Figures'), el('div', { class: 'figures', id: 'figures' }, d.figures.map((f) =>
        el('figure', {}, el('img', { src: '/api/file' + q + '&name=' + enc(f), alt: f, loading: 'lazy' }), el('figcaption', {}, f)))));
    }
    if (d.report) parts.push(el('p', {}, el('a', { href: '/api/file' + q + '&name=report.md', target: '_blank' }, 'report.md')));
    if (d.config) parts.push(el('h2', {}, 'Config'), el('pre', { id: 'config' }, d.config));
    results.replaceChildren(...parts);
  }
  drawResults(detail);

  if (state.status === 'running') {
    setLive('running · live');
    every(1000, () => pull().catch(() => {}));
    every(3000, async () => {
      const d = await getJSON('/api/run' + q).catch(() => null);
      if (!d) return;
      drawHeader(d);
      if (d.row.status !== 'running') {
        await pull().catch(() => {});
        drawResults(d);
        stopTimers();
        setLive('');
      }
    });
  }
}

// ---------- studies ----------

async function studiesPage(main) {
  const data = await getJSON('/api/studies');
  const rows = data.studies.map((s) => el('tr', {},
    el('td', {}, el('a', { href: '#/study/' + enc(s.source) + '/' + enc(s.name) }, s.name)),
    el('td', {}, s.storage), el('td', {}, s.direction),
    ['complete', 'pruned', 'running', 'failed'].map((k) => el('td', { class: 'num' }, s.counts[k] || 0))));
  main.append(el('h1', {}, 'Studies'),
    data.studies.length ? el('table', { id: 'studies-table' },
      el('thead', {}, el('tr', {}, ['study', 'storage', 'direction', 'complete', 'pruned', 'running', 'failed'].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows))
      : el('p', { class: 'muted' }, 'No studies: pass --storage, or keep a study.db (anneal tune writes one) under the runs folder.'));
  every(5000, async () => {
    const d = await getJSON('/api/studies').catch(() => null);
    if (d && d.studies.length !== data.studies.length) route();
  });
}

function paramNumber(axis, v) {
  if (v === undefined || v === null) return undefined;
  if (axis.kind === 'categorical') return axis.choices.indexOf(String(v));
  return Number(v);
}

async function studyPage(main, source, name) {
  const url = '/api/study?source=' + enc(source) + '&name=' + enc(name);
  const state = { sort: 'number', desc: false, stateFilter: '' };
  const head = el('div', {}), charts = el('div', {}), tableBox = el('div', { class: 'scroll' });
  main.append(el('h1', {}, 'Study ', name), head, charts, el('h2', {}, 'Trials'), tableBox);
  let view;

  function drawHead() {
    const c = view.study.counts;
    head.replaceChildren(el('table', { class: 'kv', id: 'study-summary' },
      el('tr', {}, el('td', {}, 'storage'), el('td', {}, view.study.storage)),
      el('tr', {}, el('td', {}, 'direction'), el('td', {}, view.study.direction)),
      el('tr', {}, el('td', {}, 'trials'), el('td', {}, Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ') || 'none')),
      el('tr', {}, el('td', {}, 'best trial'), el('td', {}, view.best === null ? '—' : `#${view.best}: ${fmt(view.trials.find((t) => t.number === view.best).value)}`))));
  }

  function drawCharts() {
    const dir = view.study.direction;
    const complete = view.trials.filter((t) => t.state === 'complete' && Number.isFinite(t.value));
    // Optimisation history: every complete trial's value and the best so far.
    const hx = view.history.map((h) => h[0]), hy = view.history.map((h) => h[1]);
    const hf = frame({ id: 'history-chart', title: 'Optimisation history', xdom: extent(hx), ydom: extent(hy), xlabel: 'trial', ylabel: 'objective', width: 560, height: 300 });
    const pts = svg('g', {});
    for (const [n, v] of view.history) pts.appendChild(svg('circle', { cx: hf.x(n), cy: hf.y(v), r: 3, fill: PALETTE[0], 'fill-opacity': 0.55, class: 'trial-point', 'data-trial': n }, svg('title', {}, `#${n}: ${fmt(v)}`)));
    hf.root.appendChild(pts);
    const stair = [];
    view.history.forEach(([n, , b], i) => { if (i > 0) stair.push([n, view.history[i - 1][2]]); stair.push([n, b]); });
    hf.root.appendChild(svg('path', { d: pathOf(stair, hf.x, hf.y), class: 'best-line', stroke: PALETTE[1], 'stroke-width': 2 }));

    // Importances.
    const imp = view.importances;
    const iw = 420, ih = Math.max(120, 34 + imp.length * 24);
    const ic = svg('svg', { id: 'importance-chart', class: 'chart', width: iw, height: ih, viewBox: `0 0 ${iw} ${ih}` },
      svg('text', { x: 8, y: 15, class: 'title' }, 'Parameter importances (first-order variance share)'));
    if (!imp.length) ic.appendChild(svg('text', { x: 8, y: 44 }, 'needs 4 complete trials'));
    imp.forEach(([p, v], i) => {
      const y0 = 28 + i * 24;
      ic.appendChild(svg('text', { x: 130, y: y0 + 14, 'text-anchor': 'end' }, p.slice(0, 20)));
      ic.appendChild(svg('rect', { x: 136, y: y0 + 2, width: Math.max(1, v * (iw - 200)), height: 16, fill: PALETTE[0], class: 'bar', 'data-param': p }));
      ic.appendChild(svg('text', { x: 142 + v * (iw - 200), y: y0 + 14 }, (v * 100).toFixed(1) + '%'));
    });

    // Parallel coordinates: one axis per parameter, then the objective.
    const axes = view.params;
    const pw = Math.max(560, 130 * (axes.length + 1)), ph = 320, top = 36, bottom = ph - 34;
    const pc = svg('svg', { id: 'parallel-chart', class: 'chart', width: pw, height: ph, viewBox: `0 0 ${pw} ${ph}` },
      svg('text', { x: 8, y: 15, class: 'title' }, 'Parallel coordinates (complete trials; darker is better)'));
    const ax = (i) => 60 + i * (pw - 120) / Math.max(1, axes.length);
    const yScales = axes.map((a) => {
      if (a.kind === 'categorical') return (v) => bottom - (v + 0.5) / a.choices.length * (bottom - top);
      const vals = complete.map((t) => Number(t.params[a.name])).filter(Number.isFinite);
      const dom = a.low !== null && a.high !== null ? [a.low, a.high] : extent(vals, a.log);
      return scale(dom, [bottom, top], a.log && dom[0] > 0);
    });
    const vdom = extent(complete.map((t) => t.value));
    const vy = scale(vdom, [bottom, top], false);
    const ranked = complete.map((t) => t.value).sort((a, b) => a - b);
    const shade = (v) => {
      let r = ranked.length > 1 ? ranked.indexOf(v) / (ranked.length - 1) : 0.5;
      if (dir === 'maximize') r = 1 - r;
      return `hsl(${210 + 120 * r}, 70%, ${30 + 40 * r}%)`;
    };
    const lines = svg('g', {});
    for (const t of complete) {
      const pts2 = axes.map((a, i) => [ax(i), yScales[i](paramNumber(a, t.params[a.name]))]);
      pts2.push([ax(axes.length), vy(t.value)]);
      const d = pts2.filter((p) => Number.isFinite(p[1])).map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ',' + p[1].toFixed(1)).join('');
      lines.appendChild(svg('path', { d, class: 'pc-line', stroke: shade(t.value), 'stroke-opacity': 0.6, 'data-trial': t.number }));
    }
    pc.appendChild(lines);
    [...axes.map((a) => a.name), 'objective'].forEach((label, i) => {
      pc.appendChild(svg('line', { x1: ax(i), x2: ax(i), y1: top, y2: bottom, stroke: '#57606a', class: 'pc-axis' }));
      pc.appendChild(svg('text', { x: ax(i), y: ph - 12, 'text-anchor': 'middle' }, label.slice(0, 18)));
      const a = axes[i];
      if (a && a.kind === 'categorical') a.choices.forEach((c, j) => pc.appendChild(svg('text', { x: ax(i) + 4, y: yScales[i](j) + 4 }, c.slice(0, 12))));
      else if (a) [a.low, a.high].forEach((v) => pc.appendChild(svg('text', { x: ax(i) + 4, y: yScales[i](v) + (v === a.low ? -2 : 10) }, fmt(v))));
      else vdom.forEach((v, j) => pc.appendChild(svg('text', { x: ax(i) + 4, y: vy(v) + (j ? 10 : -2) }, fmt(v))));
    });

    // Slice plots: objective against each parameter.
    const slices = axes.map((a) => {
      const isCat = a.kind === 'categorical';
      const xs = complete.map((t) => paramNumber(a, t.params[a.name]));
      const f = frame({ title: a.name, cls: 'slice-chart', xcats: isCat ? a.choices : null, xdom: isCat ? null : extent(xs, a.log), logx: a.log,
        ydom: vdom, xlabel: a.name, ylabel: 'objective', width: 320, height: 240 });
      f.root.setAttribute('data-param', a.name);
      const g = svg('g', {});
      complete.forEach((t, i) => {
        if (!Number.isFinite(xs[i])) return;
        g.appendChild(svg('circle', { cx: f.x(xs[i]), cy: f.y(t.value), r: 2.5, fill: PALETTE[0], 'fill-opacity': 0.5, class: 'slice-point' }));
      });
      f.root.appendChild(g);
      return f.root;
    });

    // Intermediate values: pruned trials in red, the others in grey.
    const withCurves = view.trials.filter((t) => t.curve.length);
    const series = withCurves.map((t) => ({
      name: `#${t.number} ${t.state}`, points: t.curve,
      color: t.state === 'pruned' ? PALETTE[1] : t.state === 'running' ? PALETTE[0] : '#8c959f',
      cls: t.state === 'pruned' ? 'pruned-curve' : 'complete-curve', width: 1, opacity: t.state === 'pruned' ? 0.7 : 0.45,
    }));
    const curves = series.length ? lineChart({ id: 'curves-chart', title: 'Intermediate values (pruned in red)', series, xlabel: 'step', ylabel: 'reported value', width: 560, height: 300 })
      : el('p', { class: 'muted', id: 'curves-chart' }, 'No intermediate values reported.');

    charts.replaceChildren(
      el('h2', {}, 'History and importances'), el('div', { class: 'charts' }, hf.root, ic),
      el('h2', {}, 'Parallel coordinates'), el('div', { class: 'scroll' }, pc),
      el('h2', {}, 'Slices'), el('div', { class: 'charts', id: 'slices' }, slices),
      el('h2', {}, 'Learning curves'), el('div', { class: 'charts' }, curves));
  }

  function drawTable() {
    const names = view.params.map((a) => a.name);
    const cols = [['number', '#'], ['state', 'state'], ['value', 'value'], ['duration_ms', 'duration'], ['steps', 'steps'], ...names.map((n) => ['p:' + n, n])];
    const val = (t, k) => k.startsWith('p:') ? t.params[k.slice(2)] : k === 'steps' ? t.curve.length : t[k];
    let trials = view.trials.filter((t) => !state.stateFilter || t.state === state.stateFilter);
    trials = trials.slice().sort((a, b) => {
      const va = val(a, state.sort), vb = val(b, state.sort);
      const na = va === undefined || va === null, nb = vb === undefined || vb === null;
      if (na || nb) return na === nb ? 0 : na ? 1 : -1;
      const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb), undefined, { numeric: true });
      return state.desc ? -c : c;
    });
    const select = el('select', { id: 'trial-state', onchange: (e) => { state.stateFilter = e.target.value; drawTable(); } },
      ['', 'complete', 'pruned', 'running', 'failed'].map((s) => el('option', { value: s, selected: s === state.stateFilter }, s || 'all states')));
    const head = el('tr', {}, cols.map(([k, label]) => el('th', {
      class: 'sortable' + (k === state.sort ? (state.desc ? ' sorted-desc' : ' sorted-asc') : ''),
      onclick: () => { if (state.sort === k) state.desc = !state.desc; else { state.sort = k; state.desc = false; } drawTable(); },
    }, label)));
    const body = el('tbody', {}, trials.map((t) => el('tr', { class: t.number === view.best ? 'best' : '', 'data-trial': t.number },
      cols.map(([k]) => {
        const v = val(t, k);
        if (k === 'state') return el('td', {}, badge(t.state));
        if (k === 'duration_ms') return el('td', { class: 'num' }, duration(v));
        return el('td', { class: typeof v === 'number' ? 'num' : '' }, typeof v === 'number' ? fmt(v) : (v ?? ''));
      }))));
    tableBox.replaceChildren(el('div', { class: 'toolbar' }, select, el('span', { class: 'muted', id: 'trial-count' }, `${trials.length} of ${view.trials.length} trials`)),
      el('table', { id: 'trials-table' }, el('thead', {}, head), body));
  }

  async function load() {
    view = await getJSON(url);
    drawHead();
    drawCharts();
    drawTable();
    const running = view.study.counts.running || 0;
    setLive(running ? `${running} trials running · live` : '');
    return running;
  }
  let running = await load();
  let tick = 0;
  every(2000, async () => {
    tick += 1;
    // Every 2 s while trials run, every 20 s otherwise (a worker may start).
    if (running || tick % 10 === 0) running = await load().catch(() => running);
  });
}
