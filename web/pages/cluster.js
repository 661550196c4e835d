// Cluster: the nodes with their addresses, roles and liveness, the lease holder and epoch, the
// partitions' replicas and the history of elections. Reloads when /events reports a change.

import { h, errorBox, clear, table, formatNumber, formatTimestamp } from '../lib/dom.js';
import { get, stream } from '../lib/api.js';

export function mount(root) {
  const summary = h('div', { class: 'stats' });
  const nodesBox = h('div', { 'data-testid': 'node-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const partitionsBox = h('div', {});
  const electionsBox = h('div', {});
  const errors = h('div', {});
  let closed = false;

  function stat(label, value, testId) {
    return h('div', { class: 'stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value small', 'data-testid': testId }, value ?? '–'));
  }

  async function load() {
    try {
      const cluster = await get('/cluster');
      if (closed) return;
      clear(errors);
      clear(summary).append(
        stat('Cluster', cluster.cluster, 'cluster-name'),
        stat('This node', cluster.node_id, 'cluster-node'),
        stat('Lease holder (leader)', cluster.leader_id, 'cluster-leader'),
        stat('Epoch', cluster.epoch, 'cluster-epoch'),
        stat('Nodes alive', `${(cluster.nodes || []).filter((n) => n.alive).length} / ${(cluster.nodes || []).length}`, 'nodes-alive'));
      clear(nodesBox).append(table([
        { label: 'Node', num: true, render: (n) => n.node_id },
        { label: 'Role', render: (n) => h('span', { class: `badge ${n.role === 'leader' ? 'leader' : ''}` }, n.role) },
        { label: 'Alive', render: (n) => h('span', { class: `badge ${n.alive ? 'ok' : 'bad'}` }, n.alive ? 'alive' : 'down') },
        { label: 'HTTP', render: (n) => (n.http ? h('a', { href: n.http }, n.http) : '–') },
        { label: 'Kafka', render: (n) => h('span', { class: 'mono' }, n.kafka || '–') },
      ], cluster.nodes || [], { caption: 'Nodes', empty: 'No nodes reported.' }));
      clear(partitionsBox).append(table([
        { label: 'Topic', render: (p) => h('a', { href: `#/topics/${encodeURIComponent(p.topic)}` }, p.topic) },
        { label: 'Partition', num: true, render: (p) => p.partition },
        { label: 'Leader', num: true, render: (p) => p.leader ?? '–' },
        { label: 'Replicas', render: (p) => (p.replicas || []).join(', ') },
        { label: 'ISR', render: (p) => (p.isr || []).join(', ') },
        { label: 'Log end', num: true, render: (p) => formatNumber(p.log_end_offset) },
        { label: 'High watermark', num: true, render: (p) => formatNumber(p.high_watermark) },
      ], cluster.partitions || [], { caption: 'Partitions', empty: 'No partitions yet.' }));
      const elections = (cluster.elections || []).slice().sort((a, b) => b.epoch - a.epoch);
      clear(electionsBox).append(table([
        { label: 'Epoch', num: true, render: (e) => e.epoch },
        { label: 'Leader', num: true, render: (e) => e.leader_id },
        { label: 'At', render: (e) => formatTimestamp(e.at_ms) },
      ], elections, { caption: 'Elections', empty: 'No election yet: a standalone node leads without one.' }));
    } catch (err) {
      if (!closed) clear(errors).append(errorBox(err, 'Could not read /cluster'));
    }
  }

  let last = null;
  const events = stream(() => '/events', {
    onError: (err) => errors.append(errorBox(err, 'Live updates stopped')),
    events: {
      stats: (stats) => {
        const now = `${stats.leader_id}/${stats.epoch}/${stats.partitions}`;
        if (last !== null && now !== last) load();
        last = now;
      },
      activity: (entry) => { if (/^(leader_|isr_|topic_)/.test(entry.kind)) load(); },
    },
  });

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Cluster'), h('button', { type: 'button', onclick: load }, 'Refresh')),
    errors,
    summary,
    h('section', { class: 'panel' }, h('h2', {}, 'Nodes'), nodesBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Elections'), electionsBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Partitions'), partitionsBox));
  load();
  return () => { closed = true; events.close(); };
}
