// Consumer groups. Without `?group=`: every group with its state, members and total lag. With
// `?group=G`: that group's members and their assignments, committed offsets and lag per
// partition (a live chart, read every second), and a form to reset its offsets behind a
// confirmation dialog (disabled while the group has members: Kafka refuses a reset then).

import { h, errorBox, clear, table, formatNumber } from '../lib/dom.js';
import { get, post } from '../lib/api.js';
import { lineChart } from '../lib/chart.js';
import { logClient } from '../lib/log.js';

/** How often a group's page re-reads the group. */
const GROUP_REFRESH_MS = 1000;

const groupHref = (id) => `#/groups?group=${encodeURIComponent(id)}`;
const groupPath = (id) => `/groups/${encodeURIComponent(id)}`;

export function mount(root, { query = {} } = {}) {
  return query.group ? mountGroup(root, query.group) : mountList(root);
}

function mountList(root) {
  const box = h('div', { 'data-testid': 'groups' }, h('p', { class: 'muted' }, 'Loading…'));
  let closed = false;

  async function load() {
    try {
      const answer = await get('/groups');
      if (closed) return;
      clear(box).append(table([
        { label: 'Group', render: (g) => h('a', { href: groupHref(g.group_id) }, g.group_id) },
        { label: 'State', render: (g) => h('span', { class: 'badge' }, g.state) },
        { label: 'Assignor', render: (g) => g.protocol || '–' },
        { label: 'Members', num: true, render: (g) => formatNumber(g.members) },
        { label: 'Lag', num: true, render: (g) => formatNumber(g.lag) },
      ], answer.groups || [], {
        caption: 'Consumer groups',
        empty: 'No consumer groups yet. A Kafka consumer with a group.id, or GET /consume?group=G, makes one.',
        rowAttrs: (g) => ({ dataset: { group: g.group_id } }),
      }));
    } catch (err) {
      if (!closed) clear(box).append(errorBox(err, 'Could not read /groups'));
    }
  }

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Consumer groups'), h('button', { type: 'button', onclick: load }, 'Refresh')),
    h('section', { class: 'panel' }, box));
  load();
  return () => { closed = true; };
}

let uid = 0;
function field(labelText, input, hint) {
  input.id = input.id || `g${++uid}`;
  return h('div', { class: 'field' }, h('label', { for: input.id }, labelText), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

function mountGroup(root, groupId) {
  const summary = h('dl', { class: 'kv', 'data-testid': 'group-summary' });
  const membersBox = h('div', { 'data-testid': 'group-members' }, h('p', { class: 'muted' }, 'Loading…'));
  const offsetsBox = h('div', { 'data-testid': 'group-offsets' });
  const chartBox = h('div', { 'data-testid': 'lag-chart' });
  const message = h('div', { 'aria-live': 'polite' });
  let chart = null;
  let chartKeys = '';
  let closed = false;
  let timer = null;
  let hasMembers = false;

  function drawChart(offsets) {
    // One series per partition; a new set of partitions starts a new chart.
    const keys = offsets.map((o) => `${o.topic}/${o.partition}`);
    if (keys.join(',') !== chartKeys) {
      chartKeys = keys.join(',');
      chart = keys.length ? lineChart({ title: 'Lag per partition (records)', series: keys }) : null;
      clear(chartBox).append(chart ? chart.el : h('p', { class: 'muted' }, 'No committed offsets yet.'));
    }
    if (chart) chart.push(offsets.map((o) => o.lag));
  }

  async function load() {
    try {
      const group = await get(groupPath(groupId), { retries: 0 });
      if (closed) return;
      hasMembers = group.members.length > 0;
      clear(summary).append(
        h('dt', {}, 'State'), h('dd', {}, h('span', { class: 'badge', 'data-testid': 'group-state' }, group.state)),
        h('dt', {}, 'Protocol'), h('dd', {}, group.protocol_type ? `${group.protocol_type} / ${group.protocol || '–'}` : '–'),
        h('dt', {}, 'Members'), h('dd', {}, formatNumber(group.members.length)),
        h('dt', {}, 'Total lag'), h('dd', { 'data-testid': 'group-lag' }, formatNumber(group.lag)));
      clear(membersBox).append(table([
        { label: 'Member', render: (m) => h('span', { class: 'mono' }, m.member_id) },
        { label: 'Client', render: (m) => m.client_id },
        { label: 'Host', render: (m) => m.client_host },
        { label: 'Assignment', render: (m) => (m.assignment || []).map((a) => `${a.topic}: ${a.partitions.join(', ')}`).join('; ') || '–' },
      ], group.members, { caption: `Members of ${groupId}`, empty: 'No members: the group is empty.' }));
      clear(offsetsBox).append(table([
        { label: 'Topic', render: (o) => o.topic },
        { label: 'Partition', num: true, render: (o) => o.partition },
        { label: 'Committed', num: true, render: (o) => (o.committed < 0 ? '–' : formatNumber(o.committed)) },
        { label: 'High watermark', num: true, render: (o) => formatNumber(o.high_watermark) },
        { label: 'Lag', num: true, render: (o) => formatNumber(o.lag) },
        { label: 'Member', render: (o) => o.member_id || '–' },
      ], group.offsets, { caption: `Committed offsets of ${groupId}`, empty: 'No committed offsets.', rowAttrs: (o) => ({ dataset: { topic: o.topic, partition: String(o.partition) } }) }));
      drawChart(group.offsets);
      updateResetForm(group);
    } catch (err) {
      if (!closed) clear(membersBox).append(errorBox(err, `Could not read group ${groupId}`));
    }
  }

  async function tick() {
    await load();
    if (!closed) timer = setTimeout(tick, GROUP_REFRESH_MS);
  }

  // Reset offsets.
  const topic = h('input', { type: 'text', required: true, autocomplete: 'off', id: 'reset-topic' });
  const to = h('select', { id: 'reset-to' },
    h('option', { value: 'earliest' }, 'Earliest'),
    h('option', { value: 'latest' }, 'Latest'),
    h('option', { value: 'offset' }, 'Offset'),
    h('option', { value: 'timestamp' }, 'Date and time'));
  const offset = h('input', { type: 'number', min: '0', step: '1', id: 'reset-offset', placeholder: '0' });
  const datetime = h('input', { type: 'datetime-local', step: '1', id: 'reset-datetime' });
  const resetButton = h('button', { type: 'submit', class: 'primary', id: 'reset-submit' }, 'Reset offsets…');
  const resetNote = h('p', { class: 'muted', id: 'reset-note', role: 'status' });
  const form = h('form', { 'aria-label': 'Reset offsets', onsubmit: askReset },
    h('div', { class: 'row' }, field('Topic', topic), field('Reset to', to),
      field('Offset', offset, 'For "Offset".'), field('Date and time (local)', datetime, 'For "Date and time".')),
    h('div', { class: 'actions' }, resetButton), resetNote);

  function updateResetForm(group) {
    resetButton.disabled = hasMembers;
    resetNote.textContent = hasMembers
      ? `The group has ${group.members.length} member(s). Offsets can be reset only while the group is empty: stop its consumers first.`
      : '';
    if (!topic.value && group.offsets.length) topic.value = group.offsets[0].topic;
  }

  function requestBody(dryRun) {
    const body = { topic: topic.value.trim(), to: to.value, dry_run: dryRun };
    if (to.value === 'offset') body.to = { offset: Number(offset.value || 0) };
    if (to.value === 'timestamp') body.to = { timestamp_ms: new Date(datetime.value).getTime() };
    return body;
  }

  const dialogText = h('div', {});
  const dialogError = h('div', {});
  const confirmButton = h('button', { type: 'button', class: 'danger' }, 'Reset');
  const cancelButton = h('button', { type: 'button' }, 'Cancel');
  const dialog = h('dialog', { 'aria-labelledby': 'reset-title', 'data-testid': 'reset-dialog' },
    h('h2', { id: 'reset-title' }, 'Reset offsets?'), dialogText, dialogError,
    h('div', { class: 'actions' }, cancelButton, confirmButton));

  // The dialog shows the plan (a dry run) so the user confirms the very offsets.
  async function askReset(event) {
    event.preventDefault();
    clear(message);
    if (to.value === 'timestamp' && Number.isNaN(new Date(datetime.value).getTime())) {
      message.append(h('div', { class: 'error', role: 'alert' }, 'Pick a date and time.'));
      return;
    }
    try {
      const plan = await post(`${groupPath(groupId)}/offsets`, requestBody(true));
      clear(dialogError);
      clear(dialogText).append(
        h('p', {}, 'Move the committed offsets of ', h('b', {}, groupId), ' on ', h('b', {}, plan.offsets[0]?.topic ?? topic.value), ' to:'),
        table([
          { label: 'Partition', num: true, render: (o) => o.partition },
          { label: 'New offset', num: true, render: (o) => formatNumber(o.committed) },
          { label: 'Lag after', num: true, render: (o) => formatNumber(o.lag) },
        ], plan.offsets, { caption: 'New offsets' }));
      dialog.showModal();
      cancelButton.focus();
    } catch (err) {
      message.append(errorBox(err, 'Could not plan the reset'));
    }
  }
  cancelButton.addEventListener('click', () => dialog.close());
  confirmButton.addEventListener('click', async () => {
    confirmButton.disabled = true;
    try {
      const done = await post(`${groupPath(groupId)}/offsets`, requestBody(false));
      dialog.close();
      clear(message).append(h('div', { class: 'success', role: 'status' }, `Reset ${done.offsets.length} partition(s) of ${groupId}.`));
      logClient('info', `reset offsets of group ${groupId} on ${topic.value}`);
      load();
    } catch (err) {
      dialogError.append(errorBox(err, `Could not reset ${groupId}`));
      logClient('error', `reset group ${groupId}: ${err.message} (${err.code})`);
    } finally {
      confirmButton.disabled = false;
    }
  });

  root.append(
    h('p', {}, h('a', { href: '#/groups' }, '← All groups')),
    h('div', { class: 'page-head' }, h('h1', {}, 'Group ', h('span', { class: 'mono' }, groupId))),
    message,
    h('section', { class: 'panel' }, h('h2', {}, 'Summary'), summary),
    h('section', { class: 'panel' }, h('h2', {}, 'Lag'), chartBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Members'), membersBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Committed offsets'), offsetsBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Reset offsets'), form),
    dialog);
  tick();
  return () => { closed = true; clearTimeout(timer); if (dialog.open) dialog.close(); };
}
