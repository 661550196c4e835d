// Dashboard: this node's role and status, the leader and epoch, live throughput charts from the
// /events stream, topic and partition counts, replication status and the activity log.

import { h, errorBox, clear, table, formatNumber, formatBytes } from '../lib/dom.js';
import { get, stream } from '../lib/api.js';
import { lineChart } from '../lib/chart.js';
import { activityLog, clientEntries, onClientLog } from '../lib/log.js';

const CLUSTER_REFRESH_MS_MIN = 3000;

function statCard(label, testId) {
  const value = h('div', { class: 'value', 'data-testid': testId }, '–');
  return { el: h('div', { class: 'stat' }, h('div', { class: 'label' }, label), value), value };
}

function replicationTable(partitions) {
  return table([
    { label: 'Topic', render: (p) => h('a', { href: `#/topics/${encodeURIComponent(p.topic)}` }, p.topic) },
    { label: 'Partition', num: true, render: (p) => p.partition },
    { label: 'Leader', num: true, render: (p) => p.leader ?? '–' },
    { label: 'Replicas', render: (p) => (p.replicas || []).join(', ') },
    { label: 'ISR', render: (p) => (p.isr || []).join(', ') },
    { label: 'Log end', num: true, render: (p) => formatNumber(p.log_end_offset) },
    { label: 'High watermark', num: true, render: (p) => formatNumber(p.high_watermark) },
    { label: 'Follower lag', num: true, render: (p) => formatNumber(Math.max(0, (p.log_end_offset ?? 0) - (p.high_watermark ?? 0))) },
    {
      label: 'Status',
      render: (p) => ((p.isr || []).length < (p.replicas || []).length
        ? h('span', { class: 'badge warn' }, 'under-replicated')
        : h('span', { class: 'badge ok' }, 'in sync')),
    },
  ], partitions, { caption: 'Replication status', empty: 'No partitions yet: produce a record or create a topic.' });
}

export function mount(root) {
  const cards = {
    node: statCard('Node', 'node-id'),
    role: statCard('Role', 'node-role'),
    status: statCard('Status', 'node-status'),
    leader: statCard('Leader', 'leader-id'),
    epoch: statCard('Epoch', 'epoch'),
    topics: statCard('Topics', 'topic-count'),
    partitions: statCard('Partitions', 'partition-count'),
  };
  const recordsChart = lineChart({ title: 'Records per second', series: ['in', 'out'] });
  const bytesChart = lineChart({ title: 'Bytes per second', series: ['in', 'out'], format: (v) => `${formatBytes(v)}/s` });
  const errors = h('div', { class: 'errors' });
  const replication = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const streamState = h('span', { class: 'muted', 'data-testid': 'stream-state' }, 'connecting to live stats…');
  const log = activityLog({ label: 'Broker activity' });

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Dashboard'), streamState),
    errors,
    h('section', { class: 'stats', 'aria-label': 'Node summary' }, Object.values(cards).map((c) => c.el)),
    h('div', { class: 'grid' },
      h('section', { class: 'panel', 'aria-label': 'Records per second' }, recordsChart.el),
      h('section', { class: 'panel', 'aria-label': 'Bytes per second' }, bytesChart.el)),
    h('section', { class: 'panel' }, h('h2', {}, 'Replication status'), replication),
    h('section', { class: 'panel' }, h('h2', {}, 'Activity log'), log.el),
  );

  function showError(err, what) {
    errors.append(errorBox(err, what));
    while (errors.children.length > 3) errors.firstElementChild.remove();
  }

  let closed = false;
  async function loadHealth() {
    try {
      const health = await get('/health');
      cards.node.value.textContent = health.node_id;
      cards.role.value.textContent = health.role;
      cards.status.value.textContent = health.status;
      cards.epoch.value.textContent = health.epoch;
    } catch (err) { if (!closed) showError(err, 'Could not read /health'); }
  }
  async function loadCluster() {
    try {
      const cluster = await get('/cluster');
      if (closed) return;
      const partitions = cluster.partitions || [];
      clear(replication).append(replicationTable(partitions));
      // The counts come from the same answer as the table, so the two never disagree; stats
      // events only say when to ask again (their counts can be a tick behind an activity).
      cards.topics.value.textContent = formatNumber(new Set(partitions.map((p) => p.topic)).size);
      cards.partitions.value.textContent = formatNumber(partitions.length);
      cards.leader.value.textContent = cluster.leader_id ?? '–';
      cards.epoch.value.textContent = cluster.epoch ?? '–';
    } catch (err) {
      if (!closed) clear(replication).append(errorBox(err, 'Could not read /cluster'));
    }
  }
  async function loadActivity() {
    const seen = [];
    try {
      const history = await get('/activity');
      seen.push(...(history.events || []));
    } catch (err) { if (!closed) showError(err, 'Could not read /activity'); }
    // The console's own reconnections belong in the same log.
    seen.push(...clientEntries().filter((e) => e.kind === 'reconnected' || e.kind === 'disconnected'));
    seen.sort((a, b) => a.ts_ms - b.ts_ms).forEach(log.add);
  }

  loadHealth();
  loadCluster();
  loadActivity();

  let previous = null;
  let last = { topics: null, partitions: null, epoch: null, leader: null };
  let lastClusterRecords = null;
  let lastClusterMs = 0;
  const events = stream(() => '/events', {
    onStatus: (status) => {
      streamState.textContent = { open: 'live', reconnecting: 'reconnecting…', stopped: 'live stats stopped' }[status] || status;
      if (status === 'open') { loadHealth(); }
    },
    onError: (err) => showError(err, 'Live stats stream failed'),
    events: {
      stats: (stats) => {
        cards.node.value.textContent = stats.node_id;
        cards.role.value.textContent = stats.role;
        cards.status.value.textContent = 'ok';
        cards.leader.value.textContent = stats.leader_id ?? '–';
        cards.epoch.value.textContent = stats.epoch;
        if (previous && stats.ts_ms > previous.ts_ms) {
          const seconds = (stats.ts_ms - previous.ts_ms) / 1000;
          const rate = (key) => Math.max(0, (stats[key] - previous[key]) / seconds);
          recordsChart.push([rate('records_in_total'), rate('records_out_total')]);
          bytesChart.push([rate('bytes_in_total'), rate('bytes_out_total')]);
        }
        previous = stats;
        // Replication changes with topics, leaders and new records; reload it then, at most every
        // few seconds while records flow, instead of polling.
        const now = { topics: stats.topics, partitions: stats.partitions, epoch: stats.epoch, leader: stats.leader_id };
        const shapeChanged = JSON.stringify(now) !== JSON.stringify(last);
        const recordsMoved = stats.records_in_total !== lastClusterRecords && stats.ts_ms - lastClusterMs >= CLUSTER_REFRESH_MS_MIN;
        if (shapeChanged || recordsMoved) {
          lastClusterRecords = stats.records_in_total;
          lastClusterMs = stats.ts_ms;
          loadCluster();
        }
        last = now;
      },
      activity: (entry) => {
        log.add(entry);
        if (/^(topic_|isr_|leader_)/.test(entry.kind)) loadCluster();
      },
    },
  });
  const stopClientLog = onClientLog((entry) => {
    if (entry.kind === 'reconnected' || entry.kind === 'disconnected') log.add(entry);
  });

  return () => {
    closed = true;
    events.close();
    stopClientLog();
  };
}
