// Cluster: the live replication view. Reads GET /cluster every second and shows the lease
// holder, the epoch and a countdown to the lease's expiry, the nodes, each partition's ISR and
// offsets, each follower's lag as a live chart, and the replication history (elections, ISR
// changes, truncations, step-downs), newest first.
//
// Follower lag is known only to the leader, so on a follower the chart is replaced by a link to
// the leader's console. If this node stops answering, lib/api.js moves the page to another node.

import { h, errorBox, clear, table, formatNumber, formatClock, formatTimestamp } from '../lib/dom.js';
import { get } from '../lib/api.js';
import { lineChart } from '../lib/chart.js';

/** How often the page reads /cluster. */
const CLUSTER_POLL_MS = 1000;
/** How often the lease countdown is redrawn between two reads. */
const COUNTDOWN_TICK_MS = 100;
/** Seconds of history the lag chart keeps. */
const LAG_CHART_POINTS = 60;

const EVENT_BADGES = {
  election: 'leader', step_down: 'warn', isr_shrink: 'bad', isr_expand: 'ok', truncation: 'warn', node_joined: 'ok',
};

function stat(label, testId) {
  const value = h('div', { class: 'value small', 'data-testid': testId }, '–');
  return { el: h('div', { class: 'stat' }, h('div', { class: 'label' }, label), value), value };
}

/** Each follower's lag summed over the partitions, by node id. */
function lagByFollower(partitions) {
  const lag = new Map();
  for (const p of partitions) {
    for (const f of p.followers || []) lag.set(f.node_id, (lag.get(f.node_id) || 0) + Math.max(0, f.lag_records));
  }
  return new Map([...lag.entries()].sort((a, b) => a[0] - b[0]));
}

function partitionsTable(partitions) {
  return table([
    { label: 'Topic', render: (p) => h('a', { href: `#/topics/${encodeURIComponent(p.topic)}` }, p.topic) },
    { label: 'Partition', num: true, render: (p) => p.partition },
    { label: 'Leader', num: true, render: (p) => p.leader ?? '–' },
    { label: 'Epoch', num: true, render: (p) => p.leader_epoch ?? '–' },
    { label: 'Replicas', render: (p) => (p.replicas || []).join(', ') },
    { label: 'ISR', render: (p) => h('span', { 'data-testid': 'isr' }, (p.isr || []).join(', ') || '–') },
    { label: 'Log end', num: true, render: (p) => formatNumber(p.log_end_offset) },
    { label: 'High watermark', num: true, render: (p) => formatNumber(p.high_watermark) },
    {
      label: 'Followers (lag)',
      render: (p) => ((p.followers || []).length
        ? (p.followers || []).map((f) => `${f.node_id}: ${formatNumber(f.lag_records)}${f.in_isr ? '' : ' (out of ISR)'}`).join(', ')
        : '–'),
    },
    {
      label: 'Status',
      render: (p) => ((p.isr || []).length < (p.replicas || []).length
        ? h('span', { class: 'badge warn' }, 'under-replicated')
        : h('span', { class: 'badge ok' }, 'in sync')),
    },
  ], partitions, { caption: 'Partitions', empty: 'No partitions yet: produce a record or create a topic.' });
}

function historyTable(cluster) {
  // A node without a coordinator's history still knows its elections; show them the same way.
  const history = (cluster.history && cluster.history.length)
    ? cluster.history
    : (cluster.elections || []).map((e) => ({ at_ms: e.at_ms, kind: 'election', node_id: e.leader_id, epoch: e.epoch, message: `node ${e.leader_id} leads from epoch ${e.epoch}` }));
  const rows = history.slice().sort((a, b) => b.at_ms - a.at_ms);
  return table([
    { label: 'At', render: (e) => h('time', { datetime: new Date(e.at_ms).toISOString(), title: formatTimestamp(e.at_ms) }, formatClock(e.at_ms)) },
    { label: 'Event', render: (e) => h('span', { class: `badge ${EVENT_BADGES[e.kind] || ''}` }, e.kind.replace(/_/g, ' ')) },
    { label: 'Node', num: true, render: (e) => e.node_id },
    { label: 'Epoch', num: true, render: (e) => e.epoch },
    { label: 'Partition', render: (e) => (e.topic != null ? `${e.topic}-${e.partition ?? '*'}` : 'all') },
    { label: 'What happened', render: (e) => e.message },
  ], rows, {
    caption: 'Replication history, newest first',
    empty: 'No replication events yet.',
    rowAttrs: (e) => ({ dataset: { kind: e.kind } }),
  });
}

export function mount(root) {
  const cards = {
    cluster: stat('Cluster', 'cluster-name'),
    node: stat('This node', 'cluster-node'),
    leader: stat('Lease holder (leader)', 'cluster-leader'),
    epoch: stat('Epoch', 'cluster-epoch'),
    lease: stat('Lease expires in', 'lease-expiry'),
    alive: stat('Nodes alive', 'nodes-alive'),
  };
  const updated = h('span', { class: 'muted', 'data-testid': 'cluster-updated' }, 'loading…');
  const errors = h('div', {});
  const nodesBox = h('div', { 'data-testid': 'node-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const partitionsBox = h('div', { 'data-testid': 'partition-table' });
  const lagBox = h('div', { 'data-testid': 'lag-panel' });
  const historyBox = h('div', { 'data-testid': 'cluster-history' });
  let closed = false;
  let timer = null;
  let chart = null;
  let chartSeries = '';
  // The lease as last read, and when: the countdown runs on between reads.
  let lease = null;
  let leaseReadAt = 0;
  // What each table shows now: a table is rebuilt only when its content changed, so a link
  // being clicked or text being selected is not replaced under the pointer every second.
  const shown = new Map();

  function renderIfChanged(box, data, render) {
    const key = JSON.stringify(data);
    if (shown.get(box) === key) return;
    shown.set(box, key);
    clear(box).append(render(data));
  }

  function drawCountdown() {
    if (!lease) return;
    if (lease.holder < 0) {
      cards.lease.value.textContent = 'not held';
      return;
    }
    const left = Math.max(0, lease.expires_in_ms - (performance.now() - leaseReadAt));
    cards.lease.value.textContent = `${(left / 1000).toFixed(1)} s`;
  }
  const countdown = setInterval(drawCountdown, COUNTDOWN_TICK_MS);

  function showLag(cluster) {
    const lag = lagByFollower(cluster.partitions || []);
    if (!lag.size) {
      chart = null;
      chartSeries = '';
      let note;
      if (!cluster.lease) note = 'No followers: a standalone node replicates nothing.';
      else if (cluster.leader_id !== cluster.node_id && cluster.leader_id >= 0) {
        const leader = (cluster.nodes || []).find((n) => n.node_id === cluster.leader_id);
        note = h('span', {}, `Follower lag is measured by the leader, node ${cluster.leader_id}: `,
          leader && leader.http ? h('a', { href: `${leader.http}/#/cluster` }, `open its cluster page`) : 'open its console', '.');
      } else note = 'No follower has fetched yet.';
      clear(lagBox).append(h('p', { class: 'muted', 'data-testid': 'lag-note' }, note));
      return;
    }
    const names = [...lag.keys()].map((id) => `node ${id}`);
    if (names.join() !== chartSeries) {
      // A new leader has other followers: start a fresh chart for them.
      chart = lineChart({ title: 'Follower lag (records behind the leader)', series: names, points: LAG_CHART_POINTS });
      chartSeries = names.join();
      clear(lagBox).append(h('div', { 'data-testid': 'lag-chart' }, chart.el));
    }
    chart.push([...lag.values()]);
  }

  function show(cluster) {
    const nodes = cluster.nodes || [];
    cards.cluster.value.textContent = cluster.cluster;
    cards.node.value.textContent = cluster.node_id;
    cards.leader.value.textContent = cluster.leader_id >= 0 ? cluster.leader_id : 'none (election)';
    cards.epoch.value.textContent = cluster.epoch;
    cards.alive.value.textContent = `${nodes.filter((n) => n.alive).length} / ${nodes.length}`;
    lease = cluster.lease || null;
    leaseReadAt = performance.now();
    if (!lease) cards.lease.value.textContent = 'no lease (standalone)';
    drawCountdown();
    renderIfChanged(nodesBox, nodes, () => table([
      { label: 'Node', num: true, render: (n) => n.node_id },
      { label: 'Role', render: (n) => h('span', { class: `badge ${n.role === 'leader' ? 'leader' : ''}` }, n.role) },
      { label: 'Alive', render: (n) => h('span', { class: `badge ${n.alive ? 'ok' : 'bad'}` }, n.alive ? 'alive' : 'down') },
      { label: 'Console', render: (n) => (n.http ? h('a', { href: `${n.http}/#/cluster` }, n.http) : '–') },
      { label: 'Kafka', render: (n) => h('span', { class: 'mono' }, n.kafka || '–') },
    ], nodes, { caption: 'Nodes', empty: 'No nodes reported.', rowAttrs: (n) => ({ dataset: { node: n.node_id } }) }));
    // The time since a follower was caught up changes on every read but is not shown.
    const partitions = (cluster.partitions || []).map((p) => ({
      ...p, followers: (p.followers || []).map(({ caught_up_ms_ago: _, ...f }) => f),
    }));
    renderIfChanged(partitionsBox, partitions, partitionsTable);
    showLag(cluster);
    renderIfChanged(historyBox, { history: cluster.history, elections: cluster.elections }, () => historyTable(cluster));
    updated.textContent = `live · updated ${formatClock(Date.now())}`;
  }

  async function poll() {
    try {
      const cluster = await get('/cluster', { retries: 0 });
      if (closed) return;
      clear(errors);
      show(cluster);
    } catch (err) {
      if (closed) return;
      clear(errors).append(errorBox(err, 'Could not read /cluster'));
      updated.textContent = 'not updating';
    }
    if (!closed) timer = setTimeout(poll, CLUSTER_POLL_MS);
  }

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Cluster'), updated),
    errors,
    h('section', { class: 'stats', 'aria-label': 'Lease and epoch' }, Object.values(cards).map((c) => c.el)),
    h('section', { class: 'panel' }, h('h2', {}, 'Nodes'), nodesBox),
    h('section', { class: 'panel', 'aria-label': 'Follower lag' }, h('h2', {}, 'Follower lag'), lagBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Partitions'), partitionsBox),
    h('section', { class: 'panel' }, h('h2', {}, 'History'), historyBox));
  poll();
  return () => { closed = true; clearTimeout(timer); clearInterval(countdown); };
}
