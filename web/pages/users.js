// Users: the SCRAM users of the node (list, add or set a password, delete). Managing them needs
// ALTER on the cluster and listing DESCRIBE; a principal without it sees the node's refusal.

import { h, errorBox, clear, table } from '../lib/dom.js';
import { get, post, del } from '../lib/api.js';
import { logClient } from '../lib/log.js';

export function mount(root) {
  const listBox = h('div', { 'data-testid': 'user-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const message = h('div', { 'aria-live': 'polite' });
  let closed = false;

  async function remove(name) {
    if (!window.confirm(`Delete user ${name}? Its clients can no longer log in.`)) return;
    clear(message);
    try {
      await del(`/users/${encodeURIComponent(name)}`);
      message.append(h('div', { class: 'success', role: 'status' }, `Deleted user ${name}.`));
      logClient('info', `deleted user ${name}`);
      load();
    } catch (err) {
      message.append(errorBox(err, `Could not delete user ${name}`));
    }
  }

  async function load() {
    try {
      const { users } = await get('/users');
      if (closed) return;
      clear(listBox).append(table([
        { label: 'Name', render: (u) => u.name },
        { label: 'Mechanisms', render: (u) => u.mechanisms.map((m) => `${m.mechanism} (${m.iterations} iterations)`).join(', ') },
        { label: 'Actions', render: (u) => h('button', { type: 'button', class: 'small danger', onclick: () => remove(u.name), 'aria-label': `Delete user ${u.name}` }, 'Delete') },
      ], users || [], { caption: 'Users', empty: 'No users yet.', rowAttrs: (u) => ({ dataset: { user: u.name } }) }));
    } catch (err) {
      if (closed) return;
      const note = err.status === 403 ? 'Only administrators (DESCRIBE on the cluster) see the users' : 'Could not list users';
      clear(listBox).append(errorBox(err, note));
    }
  }

  const name = h('input', { type: 'text', id: 'new-user-name', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', id: 'new-user-password', required: true, autocomplete: 'new-password' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Save user');
  async function save(event) {
    event.preventDefault();
    clear(message);
    button.disabled = true;
    try {
      await post('/users', { name: name.value.trim(), password: password.value });
      message.append(h('div', { class: 'success', role: 'status' }, `Saved user ${name.value.trim()}.`));
      logClient('info', `saved user ${name.value.trim()}`);
      name.value = '';
      password.value = '';
      load();
    } catch (err) {
      message.append(errorBox(err, 'Could not save the user'));
    } finally {
      button.disabled = false;
    }
  }

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Users'), h('button', { type: 'button', onclick: load }, 'Refresh')),
    message,
    h('section', { class: 'panel' }, h('h2', {}, 'All users'), listBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Add a user or set a password'),
      h('form', { onsubmit: save, 'aria-label': 'Add a user' },
        h('div', { class: 'row' },
          h('div', { class: 'field' }, h('label', { for: 'new-user-name' }, 'Name'), name),
          h('div', { class: 'field' }, h('label', { for: 'new-user-password' }, 'Password'), password)),
        h('small', { class: 'muted' }, 'The node keeps SCRAM-SHA-256 and SCRAM-SHA-512 credentials, never the password.'),
        h('div', { class: 'actions' }, button))));
  load();
  return () => { closed = true; };
}
