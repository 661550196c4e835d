// Topics: the list with partitions, records and sizes; create (partitions, replication factor,
// retention); delete after a confirmation dialog.

import { h, errorBox, clear, table, formatNumber, formatBytes, formatDuration } from '../lib/dom.js';
import { get, post, del } from '../lib/api.js';
import { logClient } from '../lib/log.js';

let uid = 0;
function field(labelText, input, hint) {
  input.id = input.id || `t${++uid}`;
  return h('div', { class: 'field' }, h('label', { for: input.id }, labelText), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

export function mount(root) {
  const listBox = h('div', { 'data-testid': 'topic-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const message = h('div', { 'aria-live': 'polite' });
  let closed = false;

  async function load() {
    try {
      const { topics } = await get('/topics');
      if (closed) return;
      const sorted = (topics || []).slice().sort((a, b) => a.name.localeCompare(b.name));
      clear(listBox).append(table([
        { label: 'Name', render: (t) => h('a', { href: `#/topics/${encodeURIComponent(t.name)}` }, t.name) },
        { label: 'Partitions', num: true, render: (t) => formatNumber(t.partitions) },
        { label: 'Replication', num: true, render: (t) => formatNumber(t.replication_factor) },
        { label: 'Records', num: true, render: (t) => formatNumber(t.records) },
        { label: 'Size', num: true, render: (t) => formatBytes(t.size_bytes) },
        { label: 'Retention', num: true, render: (t) => formatDuration(t.retention_ms) },
        { label: 'Actions', render: (t) => h('button', { type: 'button', class: 'small danger', onclick: () => confirmDelete(t.name), 'aria-label': `Delete topic ${t.name}` }, 'Delete') },
      ], sorted, { caption: 'Topics', empty: 'No topics yet. Create one here, or produce a record and its topic is created.', rowAttrs: (t) => ({ dataset: { topic: t.name } }) }));
    } catch (err) {
      if (!closed) clear(listBox).append(errorBox(err, 'Could not list topics'));
    }
  }

  // Create.
  const name = h('input', { type: 'text', required: true, autocomplete: 'off', id: 'new-topic-name', placeholder: 'orders', pattern: '[A-Za-z0-9._\\-]+' });
  const partitions = h('input', { type: 'number', min: '1', step: '1', value: '3', id: 'new-topic-partitions' });
  const replication = h('input', { type: 'number', min: '1', step: '1', value: '1', id: 'new-topic-replication' });
  const retention = h('input', { type: 'number', min: '0', step: 'any', id: 'new-topic-retention', placeholder: 'broker default' });
  const createButton = h('button', { type: 'submit', class: 'primary' }, 'Create topic');

  async function create(event) {
    event.preventDefault();
    clear(message);
    const body = { name: name.value.trim() };
    if (partitions.value !== '') body.partitions = Number(partitions.value);
    if (replication.value !== '') body.replication_factor = Number(replication.value);
    if (retention.value !== '') body.retention_ms = Math.round(Number(retention.value) * 3_600_000);
    createButton.disabled = true;
    try {
      const detail = await post('/topics', body);
      const created = detail.name || body.name;
      message.append(h('div', { class: 'success', role: 'status' }, 'Created topic ', h('a', { href: `#/topics/${encodeURIComponent(created)}` }, created),
        ` with ${(detail.partitions || []).length || body.partitions} partitions.`));
      logClient('sent', `created topic ${created}`);
      name.value = '';
      load();
    } catch (err) {
      message.append(errorBox(err, `Could not create topic ${body.name}`));
      logClient('error', `create topic ${body.name}: ${err.message} (${err.code})`);
    } finally {
      createButton.disabled = false;
    }
  }

  // Delete, behind a dialog that names the topic.
  const dialogText = h('p', {});
  const dialogError = h('div', {});
  const confirmButton = h('button', { type: 'button', class: 'danger', value: 'delete' }, 'Delete');
  const cancelButton = h('button', { type: 'button' }, 'Cancel');
  const dialog = h('dialog', { 'aria-labelledby': 'delete-title', 'data-testid': 'delete-dialog' },
    h('h2', { id: 'delete-title' }, 'Delete topic?'), dialogText, dialogError,
    h('div', { class: 'actions' }, cancelButton, confirmButton));
  let pendingName = null;
  function confirmDelete(topicName) {
    pendingName = topicName;
    clear(dialogText).append('Delete topic ', h('b', {}, topicName), ' and all of its records? This cannot be undone.');
    clear(dialogError);
    dialog.showModal();
    cancelButton.focus();
  }
  cancelButton.addEventListener('click', () => dialog.close());
  confirmButton.addEventListener('click', async () => {
    confirmButton.disabled = true;
    try {
      await del(`/topics/${encodeURIComponent(pendingName)}`);
      dialog.close();
      clear(message).append(h('div', { class: 'success', role: 'status' }, `Deleted topic ${pendingName}.`));
      logClient('info', `deleted topic ${pendingName}`);
      load();
    } catch (err) {
      dialogError.append(errorBox(err, `Could not delete ${pendingName}`));
      logClient('error', `delete topic ${pendingName}: ${err.message} (${err.code})`);
    } finally {
      confirmButton.disabled = false;
    }
  });

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Topics'),
      h('button', { type: 'button', onclick: load }, 'Refresh')),
    message,
    h('section', { class: 'panel' }, h('h2', {}, 'All topics'), listBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Create a topic'),
      h('form', { onsubmit: create, 'aria-label': 'Create a topic' },
        h('div', { class: 'row' },
          field('Name', name),
          field('Partitions', partitions),
          field('Replication factor', replication),
          field('Retention (hours)', retention, 'Empty: the broker default.')),
        h('div', { class: 'actions' }, createButton))),
    dialog);
  load();
  return () => { closed = true; if (dialog.open) dialog.close(); };
}

