// One topic: each partition's leader, replicas, ISR, offsets and size.

import { h, errorBox, clear, table, formatNumber, formatBytes, formatDuration } from '../lib/dom.js';
import { get } from '../lib/api.js';

export function mount(root, { params }) {
  const name = params.topic;
  const summary = h('dl', { class: 'kv' });
  const partitionsBox = h('div', { 'data-testid': 'partition-table' }, h('p', { class: 'muted' }, 'Loading…'));
  let closed = false;

  async function load() {
    try {
      const topic = await get(`/topics/${encodeURIComponent(name)}`);
      if (closed) return;
      const partitions = topic.partitions || [];
      const total = (key) => partitions.reduce((sum, p) => sum + (p[key] || 0), 0);
      clear(summary).append(
        h('dt', {}, 'Partitions'), h('dd', {}, formatNumber(partitions.length)),
        h('dt', {}, 'Replication factor'), h('dd', {}, formatNumber(topic.replication_factor)),
        h('dt', {}, 'Retention'), h('dd', {}, formatDuration(topic.retention_ms)),
        h('dt', {}, 'Records'), h('dd', {}, formatNumber(partitions.reduce((sum, p) => sum + Math.max(0, (p.high_watermark ?? 0) - (p.log_start_offset ?? 0)), 0))),
        h('dt', {}, 'Size'), h('dd', {}, formatBytes(total('size_bytes'))));
      clear(partitionsBox).append(table([
        { label: 'Partition', num: true, render: (p) => p.partition },
        { label: 'Leader', num: true, render: (p) => h('span', { class: 'badge leader' }, p.leader ?? '–') },
        { label: 'Replicas', render: (p) => (p.replicas || []).join(', ') },
        { label: 'ISR', render: (p) => (p.isr || []).join(', ') },
        { label: 'Log start', num: true, render: (p) => formatNumber(p.log_start_offset) },
        { label: 'Log end offset', num: true, render: (p) => formatNumber(p.log_end_offset) },
        { label: 'High watermark', num: true, render: (p) => formatNumber(p.high_watermark) },
        { label: 'Size', num: true, render: (p) => formatBytes(p.size_bytes) },
        { label: 'Tail', render: (p) => h('a', { href: `#/consume?topic=${encodeURIComponent(name)}&partition=${p.partition}&start=earliest`, 'aria-label': `Consume partition ${p.partition} from the earliest offset` }, 'Consume') },
      ], partitions, { caption: `Partitions of ${name}` }));
    } catch (err) {
      if (!closed) { clear(summary); clear(partitionsBox).append(errorBox(err, `Could not read topic ${name}`)); }
    }
  }

  root.append(
    h('p', {}, h('a', { href: '#/topics' }, '← All topics')),
    h('div', { class: 'page-head' }, h('h1', {}, 'Topic ', h('span', { class: 'mono' }, name)),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `#/consume?topic=${encodeURIComponent(name)}` }, 'Consume'),
        h('button', { type: 'button', onclick: load }, 'Refresh'))),
    h('section', { class: 'panel' }, h('h2', {}, 'Summary'), summary),
    h('section', { class: 'panel' }, h('h2', {}, 'Partitions'), partitionsBox));
  load();
  return () => { closed = true; };
}
