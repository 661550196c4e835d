// Produce: send one record (topic, key, JSON payload, headers) or a whole CSV file in batches,
// with counters, a connection indicator naming the leader in use and an activity log.

import { h, errorBox, clear, table, formatNumber } from '../lib/dom.js';
import { get, post, watchConnection, reconnect, ApiError } from '../lib/api.js';
import { activityLog, clientEntries, onClientLog, logClient } from '../lib/log.js';
import { parseCsv, toRecords } from '../lib/csv.js';

// The API takes up to 10,000 records / 8 MiB per request; 500 rows keep each request small.
const CSV_BATCH_ROWS_DEFAULT = 500;
const CSV_BATCH_ROWS_MAX = 10000;
const CSV_PREVIEW_ROWS = 5;
const CSV_BATCH_RETRIES_MAX = 3;

// Counters live for the whole browser session, across visits to this page.
const counters = { sent: 0, failed: 0, batches: 0 };

let uid = 0;
function field(labelText, input, hint) {
  const id = input.id || `f${++uid}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, labelText), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

async function loadTopicNames(datalist) {
  try {
    const { topics } = await get('/topics');
    clear(datalist).append(...(topics || []).map((t) => h('option', { value: t.name })));
  } catch (err) {
    logClient('error', `Could not list topics: ${err.message} (${err.code})`);
  }
}

function headerEditor() {
  const rows = h('div', { class: 'headers', role: 'group', 'aria-label': 'Headers' });
  function addRow(name = '', value = '') {
    const n = rows.children.length + 1;
    const nameInput = h('input', { type: 'text', 'aria-label': `Header ${n} name`, placeholder: 'name', value: name, class: 'header-name' });
    const valueInput = h('input', { type: 'text', 'aria-label': `Header ${n} value`, placeholder: 'value', value, class: 'header-value' });
    const row = h('div', { class: 'header-row' }, nameInput, valueInput,
      h('button', { type: 'button', class: 'small', onclick: () => row.remove(), 'aria-label': `Remove header ${n}` }, 'Remove'));
    rows.append(row);
    nameInput.focus();
  }
  const add = h('button', { type: 'button', class: 'small', onclick: () => addRow() }, 'Add header');
  return {
    el: h('div', { class: 'field' }, h('span', { class: 'label-text' }, 'Headers'), rows, h('div', {}, add)),
    value() {
      const headers = {};
      for (const row of rows.children) {
        const name = row.querySelector('.header-name').value.trim();
        if (name) headers[name] = row.querySelector('.header-value').value;
      }
      return headers;
    },
  };
}

export function mount(root) {
  const topicList = h('datalist', { id: 'topic-names' });
  loadTopicNames(topicList);

  // Connection indicator and counters.
  const connectionText = h('span', { 'data-testid': 'produce-connection' }, 'Connecting…');
  const connectionDot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  const connectionBox = h('div', { class: 'conn', role: 'status', style: 'margin:0' }, connectionDot, connectionText);
  const stopWatch = watchConnection((c) => {
    connectionBox.dataset.state = c.status;
    const leader = c.leaderId != null ? `leader ${c.leaderId} at ${c.leaderUrl || window.location.origin} (epoch ${c.epoch})` : 'leader not known yet';
    connectionText.textContent = c.status === 'connected' ? `Producing through ${leader}` : `${c.status}: ${leader}`;
  });
  const counterEls = {
    sent: h('strong', { 'data-testid': 'count-sent' }, '0'),
    failed: h('strong', { 'data-testid': 'count-failed' }, '0'),
    batches: h('strong', { 'data-testid': 'count-batches' }, '0'),
  };
  function bump(name, by = 1) {
    counters[name] += by;
    counterEls[name].textContent = formatNumber(counters[name]);
  }
  for (const name of Object.keys(counters)) counterEls[name].textContent = formatNumber(counters[name]);

  // One record.
  const topic = h('input', { type: 'text', list: 'topic-names', required: true, autocomplete: 'off', placeholder: 'orders', id: 'single-topic' });
  const key = h('input', { type: 'text', placeholder: 'customer-42', id: 'single-key' });
  const partition = h('input', { type: 'number', min: '0', step: '1', placeholder: 'by key', id: 'single-partition' });
  const payload = h('textarea', { id: 'single-payload', spellcheck: 'false', 'aria-describedby': 'single-payload-hint' }, '{\n  "hello": "world"\n}');
  const headers = headerEditor();
  const result = h('div', { 'data-testid': 'single-result', 'aria-live': 'polite' });
  const sendButton = h('button', { type: 'submit', class: 'primary' }, 'Send record');

  async function sendOne(event) {
    event.preventDefault();
    clear(result);
    payload.removeAttribute('aria-invalid');
    let value;
    try {
      value = JSON.parse(payload.value);
    } catch (err) {
      payload.setAttribute('aria-invalid', 'true');
      const error = new ApiError('invalid_json', `The payload is not valid JSON: ${err.message}`);
      result.append(errorBox(error));
      logClient('error', error.message);
      payload.focus();
      return;
    }
    const body = { topic: topic.value.trim(), payload: value };
    if (key.value !== '') body.key = key.value;
    if (partition.value !== '') body.partition = Number(partition.value);
    const headerValues = headers.value();
    if (Object.keys(headerValues).length) body.headers = headerValues;
    sendButton.disabled = true;
    try {
      const answer = await post('/produce', body);
      bump('sent');
      result.append(h('div', { class: 'success result', role: 'status' },
        'Delivered to ', h('b', {}, answer.topic), ' partition ', h('b', { 'data-testid': 'result-partition' }, answer.partition),
        ' at offset ', h('b', { 'data-testid': 'result-offset' }, answer.offset),
        h('div', { class: 'muted mono' }, `msg_id ${answer.msg_id}`)));
      logClient('sent', `record to ${answer.topic}/${answer.partition} at offset ${answer.offset}${body.key != null ? ` (key ${body.key})` : ''}`);
      loadTopicNames(topicList);
    } catch (err) {
      bump('failed');
      result.append(errorBox(err, 'The record was not sent'));
      logClient('error', `send failed: ${err.message} (${err.code})`);
    } finally {
      sendButton.disabled = false;
    }
  }

  const singleForm = h('form', { onsubmit: sendOne, 'aria-label': 'Send one record' },
    h('div', { class: 'row' }, field('Topic', topic), field('Key', key), field('Partition (optional)', partition)),
    field('Payload (JSON)', payload),
    h('small', { class: 'muted', id: 'single-payload-hint' }, 'Any JSON value: an object, an array, a string in quotes, a number.'),
    headers.el,
    h('div', { class: 'actions' }, sendButton),
    result);

  // CSV upload.
  const file = h('input', { type: 'file', accept: '.csv,text/csv', id: 'csv-file' });
  const csvTopic = h('input', { type: 'text', list: 'topic-names', autocomplete: 'off', placeholder: 'orders', id: 'csv-topic' });
  const keyColumn = h('select', { id: 'csv-key-column', disabled: true }, h('option', { value: '' }, '(no key)'));
  const batchRows = h('input', { type: 'number', min: '1', max: String(CSV_BATCH_ROWS_MAX), value: String(CSV_BATCH_ROWS_DEFAULT), id: 'csv-batch-rows' });
  const preview = h('div', { 'data-testid': 'csv-preview' });
  const progress = h('progress', { max: '1', value: '0', 'aria-label': 'CSV upload progress', id: 'csv-progress' });
  const progressText = h('span', { class: 'muted', 'data-testid': 'csv-progress-text' }, '');
  const summary = h('div', { 'data-testid': 'csv-summary', 'aria-live': 'polite' });
  const csvButton = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Send every row');
  let parsed = null;

  file.addEventListener('change', async () => {
    clear(preview); clear(summary);
    parsed = null;
    csvButton.disabled = true;
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      parsed = toRecords(parseCsv(await chosen.text()));
    } catch (err) {
      preview.append(errorBox(new ApiError('invalid_csv', `Could not read ${chosen.name}: ${err.message}`)));
      return;
    }
    if (!parsed.columns.length || !parsed.records.length) {
      preview.append(errorBox(new ApiError('invalid_csv', `${chosen.name} has no rows under its header line.`)));
      parsed = null;
      return;
    }
    clear(keyColumn).append(h('option', { value: '' }, '(no key)'), ...parsed.columns.map((c) => h('option', { value: c }, c)));
    keyColumn.disabled = false;
    const guess = parsed.columns.find((c) => /^(key|id)$/i.test(c)) || parsed.columns.find((c) => /(_id|id)$/i.test(c));
    if (guess) keyColumn.value = guess;
    if (!csvTopic.value) csvTopic.value = chosen.name.replace(/\.csv$/i, '').replace(/[^A-Za-z0-9._-]/g, '-');
    preview.append(
      h('p', { class: 'muted' }, `${formatNumber(parsed.records.length)} rows, ${parsed.columns.length} columns. First ${Math.min(CSV_PREVIEW_ROWS, parsed.records.length)} rows:`),
      table(parsed.columns.map((c) => ({ label: c, render: (r) => r[c] })), parsed.records.slice(0, CSV_PREVIEW_ROWS), { caption: 'CSV preview' }));
    progress.max = parsed.records.length;
    progress.value = 0;
    progressText.textContent = `0 / ${formatNumber(parsed.records.length)}`;
    csvButton.disabled = false;
  });

  async function sendBatch(body, number) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await post('/produce', body);
      } catch (err) {
        if (err.code !== 'network_error' || attempt >= CSV_BATCH_RETRIES_MAX) throw err;
        logClient('warning', `batch ${number}: ${err.message}; retrying (a batch that did land before the failure is sent again)`);
        try { await reconnect(); } catch { /* The next attempt reports the failure. */ }
      }
    }
  }

  async function sendCsv(event) {
    event.preventDefault();
    if (!parsed) return;
    clear(summary);
    const topicName = csvTopic.value.trim();
    if (!topicName) {
      summary.append(errorBox(new ApiError('missing_topic', 'Choose a topic to send the rows to.')));
      csvTopic.focus();
      return;
    }
    const size = Math.min(CSV_BATCH_ROWS_MAX, Math.max(1, Number(batchRows.value) || CSV_BATCH_ROWS_DEFAULT));
    const column = keyColumn.value;
    const rows = parsed.records;
    const perPartition = new Map();
    const errorsByCode = new Map();
    let sent = 0;
    let failed = 0;
    let firstError = null;
    csvButton.disabled = true;
    file.disabled = true;
    logClient('info', `sending ${formatNumber(rows.length)} rows to ${topicName} in batches of ${size}`);
    for (let start = 0, number = 1; start < rows.length; start += size, number += 1) {
      const chunk = rows.slice(start, start + size);
      const messages = chunk.map((row) => (column ? { key: String(row[column]), payload: row } : { payload: row }));
      try {
        const answer = await sendBatch({ topic: topicName, messages }, number);
        bump('batches');
        const results = answer.results || [];
        results.forEach((r) => {
          if (r.error) {
            failed += 1;
            errorsByCode.set(r.error.code, (errorsByCode.get(r.error.code) || 0) + 1);
            firstError = firstError || new ApiError(r.error.code, r.error.message);
          } else {
            sent += 1;
            perPartition.set(r.partition, (perPartition.get(r.partition) || 0) + 1);
          }
        });
        // A short answer means the rest of the batch has no result: count it as failed.
        if (results.length < chunk.length) {
          failed += chunk.length - results.length;
          firstError = firstError || new ApiError('missing_results', `The broker answered ${results.length} results for ${chunk.length} records.`);
        }
        bump('sent', results.filter((r) => !r.error).length);
        bump('failed', chunk.length - results.filter((r) => !r.error).length);
        logClient(results.some((r) => r.error) ? 'warning' : 'sent', `batch ${number}: ${chunk.length} rows, ${results.filter((r) => !r.error).length} stored`);
      } catch (err) {
        failed += chunk.length;
        bump('failed', chunk.length);
        errorsByCode.set(err.code, (errorsByCode.get(err.code) || 0) + chunk.length);
        firstError = firstError || err;
        logClient('error', `batch ${number} failed: ${err.message} (${err.code})`);
      }
      progress.value = Math.min(rows.length, start + chunk.length);
      progressText.textContent = `${formatNumber(progress.value)} / ${formatNumber(rows.length)}`;
    }
    const partitions = [...perPartition.entries()].sort((a, b) => a[0] - b[0]);
    summary.append(...[
      h('div', { class: failed ? 'error' : 'success', role: 'status' },
        h('span', { 'data-testid': 'csv-sent' }, `${formatNumber(sent)} sent`), ', ',
        h('span', { 'data-testid': 'csv-failed' }, `${formatNumber(failed)} failed`),
        ` to ${topicName}.`),
      firstError ? errorBox(firstError, 'First error') : null,
      table([
        { label: 'Partition', num: true, render: ([partition]) => partition },
        { label: 'Records sent', num: true, render: ([partition, n]) => h('span', { dataset: { partition: String(partition) } }, String(n)) },
      ], partitions, { caption: 'Records sent per partition', empty: 'No record was stored.' }),
    ].filter(Boolean));
    summary.querySelector('table')?.setAttribute('data-testid', 'csv-partitions');
    logClient(failed ? 'warning' : 'sent', `CSV done: ${sent} sent, ${failed} failed, partitions ${partitions.map(([p, n]) => `${p}:${n}`).join(' ') || 'none'}`);
    csvButton.disabled = false;
    file.disabled = false;
    loadTopicNames(topicList);
  }
  const csvForm = h('form', { onsubmit: sendCsv, 'aria-label': 'Upload a CSV file' },
    field('CSV file (first line names the columns)', file),
    h('div', { class: 'row' }, field('Topic', csvTopic), field('Key column', keyColumn), field('Rows per batch', batchRows)),
    preview,
    h('p', { class: 'muted' }, 'Each row is sent as a JSON object of its columns (values as strings); the key column picks the partition.'),
    h('div', { class: 'actions' }, csvButton),
    h('div', { class: 'field' }, progress, progressText),
    summary);

  // Activity log: this console's history, including reconnections.
  const log = activityLog({ label: 'Producer activity' });
  clientEntries().forEach(log.add);
  const stopLog = onClientLog(log.add);

  root.append(
    topicList,
    h('div', { class: 'page-head' }, h('h1', {}, 'Produce'), connectionBox),
    h('section', { class: 'panel counter-row', 'aria-label': 'Counters' },
      h('span', { class: 'counter' }, 'Sent ', counterEls.sent),
      h('span', { class: 'counter' }, 'Failed ', counterEls.failed),
      h('span', { class: 'counter' }, 'Batches ', counterEls.batches)),
    h('div', { class: 'grid' },
      h('section', { class: 'panel' }, h('h2', {}, 'One record'), singleForm),
      h('section', { class: 'panel' }, h('h2', {}, 'CSV upload'), csvForm)),
    h('section', { class: 'panel' }, h('h2', {}, 'Activity log'), log.el));

  return () => { stopWatch(); stopLog(); };
}
