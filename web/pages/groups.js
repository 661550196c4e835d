// Consumer groups: each group's state, members and lag per partition, once the broker has them.

import { h, errorBox, clear, table, formatNumber } from '../lib/dom.js';
import { get } from '../lib/api.js';

export function mount(root) {
  const box = h('div', { 'data-testid': 'groups' }, h('p', { class: 'muted' }, 'Loading…'));
  let closed = false;

  async function load() {
    try {
      const answer = await get('/groups');
      if (closed) return;
      clear(box);
      if (!answer.available) {
        box.append(h('div', { class: 'notice', role: 'status' }, 'Consumer groups are not available yet.'));
        return;
      }
      const groups = answer.groups || [];
      if (!groups.length) { box.append(h('p', { class: 'muted' }, 'No consumer groups yet.')); return; }
      for (const group of groups) {
        const lag = group.lag || [];
        const total = lag.reduce((sum, l) => sum + (l.lag || 0), 0);
        const members = Array.isArray(group.members) ? group.members.length : group.members;
        box.append(h('section', { class: 'panel', dataset: { group: group.group_id } },
          h('h2', {}, group.group_id, ' ', h('span', { class: 'badge' }, group.state)),
          h('p', { class: 'muted' }, `${formatNumber(members)} members · total lag ${formatNumber(total)}`),
          table([
            { label: 'Topic', render: (l) => l.topic },
            { label: 'Partition', num: true, render: (l) => l.partition },
            { label: 'Committed', num: true, render: (l) => formatNumber(l.committed_offset) },
            { label: 'Log end', num: true, render: (l) => formatNumber(l.log_end_offset) },
            { label: 'Lag', num: true, render: (l) => formatNumber(l.lag) },
          ], lag, { caption: `Lag of ${group.group_id}`, empty: 'No committed offsets.' })));
      }
    } catch (err) {
      if (!closed) clear(box).append(errorBox(err, 'Could not read /groups'));
    }
  }

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Consumer groups'), h('button', { type: 'button', onclick: load }, 'Refresh')),
    box);
  load();
  return () => { closed = true; };
}
