// Consume: live tails of several topic-partitions at once over server-sent events, each from the
// earliest, latest or a chosen offset, or as a consumer group (from its committed offsets, which the
// broker commits as it streams); pause, jump, unsubscribe, filter and export as JSON lines.

import { h, errorBox, clear, formatNumber, formatTimestamp } from '../lib/dom.js';
import { get, stream, ApiError } from '../lib/api.js';
import { activityLog, clientEntries, onClientLog, logClient } from '../lib/log.js';

// The page keeps the newest records in memory and draws only the newest of those that match.
const RECORDS_KEPT_MAX = 20000;
const RECORDS_DRAWN_MAX = 500;

let uid = 0;
function field(labelText, input) {
  input.id = input.id || `c${++uid}`;
  return h('div', { class: 'field' }, h('label', { for: input.id }, labelText), input);
}

function isoTime(ms) {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function payloadText(record) {
  if (record.payload === undefined && record.payload_base64 !== undefined) return `base64: ${record.payload_base64}`;
  try { return JSON.stringify(record.payload, null, 2); } catch { return String(record.payload); }
}

export function mount(root, { query }) {
  const subscriptions = new Map(); // "topic/partition" → subscription
  let records = [];
  const topicList = h('datalist', { id: 'consume-topic-names' });
  get('/topics').then(({ topics }) => {
    topicList.append(...(topics || []).map((t) => h('option', { value: t.name })));
  }).catch((err) => logClient('error', `Could not list topics: ${err.message} (${err.code})`));

  // Subscribe form.
  const topic = h('input', { type: 'text', list: 'consume-topic-names', required: true, autocomplete: 'off', id: 'consume-topic', value: query.topic || '' });
  const partition = h('input', { type: 'text', id: 'consume-partition', value: 'all', inputmode: 'numeric', 'aria-describedby': 'consume-partition-hint' });
  const from = h('select', { id: 'consume-from' },
    h('option', { value: 'earliest' }, 'earliest'), h('option', { value: 'latest' }, 'latest'), h('option', { value: 'offset' }, 'offset…'));
  const offset = h('input', { type: 'number', min: '0', step: '1', id: 'consume-offset', disabled: true, placeholder: '0' });
  from.addEventListener('change', () => { offset.disabled = from.value !== 'offset'; if (!offset.disabled) offset.focus(); });
  const group = h('input', { type: 'text', id: 'consume-group', autocomplete: 'off', placeholder: 'optional', value: query.group || '', 'aria-describedby': 'consume-group-hint' });
  group.addEventListener('input', () => {
    const grouped = group.value.trim() !== '';
    from.disabled = grouped;
    offset.disabled = grouped || from.value !== 'offset';
  });
  const formErrors = h('div', { 'aria-live': 'polite' });

  async function subscribe(event) {
    event.preventDefault();
    clear(formErrors);
    const name = topic.value.trim();
    let start = from.value;
    if (start === 'offset') {
      if (offset.value === '') { formErrors.append(errorBox(new ApiError('missing_offset', 'Type the offset to start from.'))); offset.focus(); return; }
      start = String(Number(offset.value));
    }
    let partitions;
    const wanted = partition.value.trim().toLowerCase();
    if (wanted === '' || wanted === 'all') {
      try {
        const detail = await get(`/topics/${encodeURIComponent(name)}`);
        partitions = detail.partitions.map((p) => p.partition);
      } catch (err) {
        formErrors.append(errorBox(err, `Could not read topic ${name}`));
        return;
      }
    } else {
      partitions = wanted.split(',').map((p) => Number(p.trim()));
      if (partitions.some((p) => !Number.isInteger(p) || p < 0)) {
        formErrors.append(errorBox(new ApiError('invalid_partition', `"${partition.value}" is not a partition number, a comma-separated list or "all".`)));
        partition.focus();
        return;
      }
    }
    const groupId = group.value.trim();
    for (const p of partitions) addSubscription(name, p, groupId ? 'committed' : start, groupId || null);
  }

  const form = h('form', { onsubmit: subscribe, 'aria-label': 'Subscribe' },
    h('div', { class: 'row' },
      field('Topic', topic),
      field('Partitions', partition),
      field('Start from', from),
      field('Offset', offset),
      field('Group', group),
      h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Subscribe'))),
    h('small', { class: 'muted', id: 'consume-partition-hint' }, 'Partitions: "all", one number, or a list such as 0,2.'),
    ' ',
    h('small', { class: 'muted', id: 'consume-group-hint' }, 'Group: read from the group\'s committed offsets and commit as records arrive (refused while Kafka consumers are in the group).'),
    formErrors);

  // Subscriptions.
  const subList = h('ul', { class: 'subs', 'aria-label': 'Subscriptions' });
  const subEmpty = h('p', { class: 'muted' }, 'No subscription yet.');

  function addSubscription(topicName, partitionNumber, start, groupId = null) {
    const id = `${topicName}/${partitionNumber}`;
    if (subscriptions.has(id)) { subscriptions.get(id).jump(start, groupId); return; }
    const sub = { id, topic: topicName, partition: partitionNumber, start, group: groupId, next: null, paused: false, handle: null, received: 0 };
    const status = h('span', { class: 'badge', 'data-testid': 'sub-status' }, 'connecting');
    const position = h('span', { class: 'muted mono' }, groupId ? `group ${groupId}` : `from ${start}`);
    const error = h('div', {});
    const pauseButton = h('button', { type: 'button', class: 'small' }, 'Pause');
    const jumpInput = h('input', { type: 'number', min: '0', step: '1', 'aria-label': `Jump ${id} to offset`, placeholder: 'offset' });
    const jumpButton = h('button', { type: 'button', class: 'small', 'aria-label': `Jump ${id}` }, 'Jump');
    const removeButton = h('button', { type: 'button', class: 'small danger', 'aria-label': `Unsubscribe from ${id}` }, 'Unsubscribe');
    const item = h('li', { class: 'sub', dataset: { sub: id } },
      h('span', { class: 'name' }, id), status, position, pauseButton,
      h('span', { class: 'actions' }, jumpInput, jumpButton), removeButton,
      h('div', { style: 'flex-basis:100%' }, error));

    function setStatus(text, kind) {
      status.textContent = text;
      status.className = `badge ${kind || ''}`;
    }
    function open() {
      clear(error);
      setStatus('connecting', 'warn');
      sub.handle = stream(() => {
        // A group resumes where the broker committed for it: no offset.
        if (sub.group) return `/consume/stream?topic=${encodeURIComponent(sub.topic)}&partition=${sub.partition}&group=${encodeURIComponent(sub.group)}`;
        const at = sub.next != null ? sub.next : sub.start;
        return `/consume/stream?topic=${encodeURIComponent(sub.topic)}&partition=${sub.partition}&offset=${encodeURIComponent(at)}`;
      }, {
        onStatus: (s) => {
          if (s === 'open') setStatus('live', 'ok');
          else if (s === 'reconnecting') setStatus('reconnecting', 'warn');
          else if (s === 'stopped') setStatus('stopped', 'bad');
        },
        onError: (err) => {
          error.append(errorBox(err, `Stream ${id}`));
          logClient('error', `stream ${id}: ${err.message} (${err.code})`);
        },
        events: {
          record: (record) => {
            sub.next = record.offset + 1;
            sub.received += 1;
            position.textContent = `${sub.group ? `group ${sub.group} · ` : ''}next offset ${formatNumber(sub.next)}`;
            addRecord({ ...record, topic: record.topic ?? sub.topic, partition: record.partition ?? sub.partition });
          },
        },
      });
    }
    function close() { if (sub.handle) { sub.handle.close(); sub.handle = null; } }

    pauseButton.addEventListener('click', () => {
      sub.paused = !sub.paused;
      if (sub.paused) { close(); setStatus('paused', ''); pauseButton.textContent = 'Resume'; logClient('info', `paused ${id}`); }
      else { open(); pauseButton.textContent = 'Pause'; logClient('info', `resumed ${id}`); }
    });
    sub.jump = (to, groupId = null) => {
      close();
      sub.start = to;
      sub.group = groupId;
      sub.next = null;
      // Records of this partition are drawn again from the new position.
      records = records.filter((r) => !(r.topic === sub.topic && r.partition === sub.partition));
      redraw();
      position.textContent = sub.group ? `group ${sub.group}` : `from ${to}`;
      sub.paused = false;
      pauseButton.textContent = 'Pause';
      logClient('info', `${id} jumps to offset ${to}`);
      open();
    };
    jumpButton.addEventListener('click', () => {
      if (jumpInput.value === '') { jumpInput.focus(); return; }
      sub.jump(String(Number(jumpInput.value)));
    });
    removeButton.addEventListener('click', () => {
      close();
      subscriptions.delete(id);
      item.remove();
      if (!subscriptions.size) subList.before(subEmpty);
      logClient('info', `unsubscribed from ${id}`);
    });
    sub.close = close;
    subscriptions.set(id, sub);
    subEmpty.remove();
    subList.append(item);
    logClient('info', groupId ? `subscribed to ${id} as group ${groupId}` : `subscribed to ${id} from ${start}`);
    open();
  }

  // Records, filters and export.
  const keyFilter = h('input', { type: 'search', id: 'filter-key', placeholder: 'key contains…' });
  const textFilter = h('input', { type: 'search', id: 'filter-text', placeholder: 'payload contains…' });
  const shownCount = h('span', { class: 'muted', 'data-testid': 'shown-count', 'aria-live': 'polite' }, '0 records');
  const list = h('div', { class: 'records', 'data-testid': 'records', 'aria-label': 'Records, newest first', tabindex: '0' });

  function matches(record) {
    const k = keyFilter.value.toLowerCase();
    const t = textFilter.value.toLowerCase();
    if (k && !String(record.key ?? '').toLowerCase().includes(k)) return false;
    if (t && !payloadText(record).toLowerCase().includes(t)) return false;
    return true;
  }
  function recordView(record) {
    return h('article', { class: 'record', dataset: { offset: String(record.offset), partition: String(record.partition), topic: record.topic } },
      h('div', { class: 'meta' },
        h('span', {}, 'topic ', h('b', {}, record.topic)),
        h('span', {}, 'partition ', h('b', { class: 'partition' }, record.partition)),
        h('span', {}, 'offset ', h('b', { class: 'offset' }, record.offset)),
        h('span', {}, 'key ', h('b', { class: 'key' }, record.key == null ? '(none)' : record.key)),
        h('span', {}, h('time', { datetime: isoTime(record.timestamp) }, formatTimestamp(record.timestamp))),
        record.headers && Object.keys(record.headers).length
          ? h('span', {}, 'headers ', h('b', {}, Object.entries(record.headers).map(([n, v]) => `${n}=${v}`).join(', ')))
          : null),
      h('pre', { class: 'payload' }, payloadText(record)));
  }
  function shown() { return records.filter(matches); }
  function updateCount() {
    const n = shown().length;
    shownCount.textContent = `${formatNumber(n)} shown of ${formatNumber(records.length)} records`;
  }
  function redraw() {
    const visible = shown();
    clear(list).append(...visible.slice(-RECORDS_DRAWN_MAX).reverse().map(recordView));
    shownCount.textContent = `${formatNumber(visible.length)} shown of ${formatNumber(records.length)} records`;
  }
  // Records arrive in bursts; draw them once per frame.
  let pending = [];
  let frame = 0;
  function addRecord(record) {
    records.push(record);
    if (records.length > RECORDS_KEPT_MAX) records.splice(0, records.length - RECORDS_KEPT_MAX);
    pending.push(record);
    if (!frame) frame = requestAnimationFrame(flush);
  }
  function flush() {
    frame = 0;
    const batch = pending.filter(matches);
    pending = [];
    for (const record of batch) list.prepend(recordView(record));
    while (list.children.length > RECORDS_DRAWN_MAX) list.lastElementChild.remove();
    updateCount();
  }
  keyFilter.addEventListener('input', redraw);
  textFilter.addEventListener('input', redraw);

  function exportShown() {
    const lines = shown().map((r) => JSON.stringify(r)).join('\n');
    const blob = new Blob([lines ? `${lines}\n` : ''], { type: 'application/x-ndjson' });
    const link = h('a', { href: URL.createObjectURL(blob), download: `yak-records-${Date.now()}.jsonl` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    logClient('info', `exported ${shown().length} records as JSON lines`);
  }

  const log = activityLog({ label: 'Consumer activity' });
  clientEntries().forEach(log.add);
  const stopLog = onClientLog(log.add);

  root.append(
    topicList,
    h('div', { class: 'page-head' }, h('h1', {}, 'Consume')),
    h('div', { class: 'grid' },
      h('section', { class: 'panel' }, h('h2', {}, 'Subscribe'), form),
      h('section', { class: 'panel' }, h('h2', {}, 'Subscriptions'), subEmpty, subList)),
    h('section', { class: 'panel' },
      h('h2', {}, 'Records'),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: keyFilter.id }, 'Filter by key'), keyFilter),
        h('div', { class: 'field' }, h('label', { for: textFilter.id }, 'Filter by payload text'), textFilter),
        h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: exportShown }, 'Export JSON lines'),
          h('button', { type: 'button', onclick: () => { records = []; redraw(); } }, 'Clear'))),
      h('p', {}, shownCount),
      list),
    h('section', { class: 'panel' }, h('h2', {}, 'Activity log'), log.el));

  if (query.topic && query.start) addSubscription(query.topic, Number(query.partition || 0), query.start);

  return () => {
    for (const sub of subscriptions.values()) sub.close();
    if (frame) cancelAnimationFrame(frame);
    stopLog();
  };
}
