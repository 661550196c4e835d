// The console's own activity log: what this browser did (sent, failed, reconnected), kept for the
// whole session so every page shows the same history.

import { h, formatClock, clear } from './dom.js';

const ENTRIES_MAX = 500;
const entries = [];
const listeners = new Set();

/** Records one event of this console; kind colours it (sent, info, error, reconnected, …). */
export function logClient(kind, message) {
  const entry = { ts_ms: Date.now(), kind, message };
  entries.push(entry);
  if (entries.length > ENTRIES_MAX) entries.shift();
  for (const listener of listeners) listener(entry);
  return entry;
}

export function clientEntries() { return entries.slice(); }

export function onClientLog(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** A list of log entries, newest first, coloured by kind. */
export function activityLog({ label = 'Activity log', shownMax = 300 } = {}) {
  const list = h('ol', { class: 'log', 'aria-label': label, 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' });
  const placeholder = h('li', { class: 'empty' }, 'No activity yet.');
  list.append(placeholder);
  function add(entry) {
    placeholder.remove();
    const item = h('li', { class: `kind-${entry.kind}`, dataset: { kind: entry.kind } },
      h('time', { datetime: new Date(entry.ts_ms).toISOString() }, formatClock(entry.ts_ms)),
      h('span', { class: 'kind' }, entry.kind.replaceAll('_', ' ')),
      h('span', { class: 'msg' }, entry.message));
    list.prepend(item);
    while (list.children.length > shownMax) list.lastElementChild.remove();
  }
  function reset() { clear(list); list.append(placeholder); }
  return { el: list, add, reset };
}
