// Small DOM helpers: build elements from plain calls, format numbers, times and sizes.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

function applyAttributes(el, attrs) {
  const late = {};
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (name === 'class') el.setAttribute('class', value);
    else if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'value' || name === 'checked' || name === 'selected') late[name] = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  return late;
}

/** Creates an HTML element: h('button', {class: 'primary', onclick}, 'Send'). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  const late = applyAttributes(el, attrs);
  append(el, children);
  // A select's value can only be set once its options exist.
  Object.assign(el, late);
  return el;
}

/** Creates an SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttributes(el, attrs);
  append(el, children);
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Shows an error in words: the API's message and its stable code. */
export function errorBox(err, prefix) {
  const message = err && err.message ? err.message : String(err);
  const code = err && err.code ? err.code : null;
  return h('div', { class: 'error', role: 'alert' },
    prefix ? `${prefix}: ` : '', message, code ? [' ', h('code', {}, `(${code})`)] : null);
}

export function formatNumber(n) {
  if (n == null || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: 1 });
}

export function formatBytes(n) {
  if (n == null || Number.isNaN(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  const digits = unit === 0 ? (Number.isInteger(value) ? 0 : 1) : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

function pad(n, width = 2) { return String(n).padStart(width, '0'); }

/** Local wall-clock time with milliseconds, for logs. */
export function formatClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Local date and time, for record timestamps. */
export function formatTimestamp(ms) {
  if (ms == null) return '–';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(ms)}`;
}

export function formatDuration(ms) {
  if (ms == null) return 'broker default';
  if (ms < 0) return 'forever';
  const hours = ms / 3_600_000;
  if (hours >= 24 && hours % 24 === 0) return `${hours / 24} d`;
  if (hours >= 1) return `${formatNumber(hours)} h`;
  return `${formatNumber(ms / 1000)} s`;
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** A table from column definitions: [{label, num?, render(row) → node|string}]. */
export function table(columns, rows, { caption, empty = 'Nothing to show.', rowAttrs } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'sr-only' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
      h('tbody', {}, rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : {},
        columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.render(row))))))));
}
