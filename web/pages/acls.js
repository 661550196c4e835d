// ACLs: list with filters, add, delete, as Kafka's kafka-acls does. Listing needs DESCRIBE on
// the cluster, changes ALTER; a principal without it sees the node's refusal.

import { h, errorBox, clear, table } from '../lib/dom.js';
import { get, post, api } from '../lib/api.js';
import { logClient } from '../lib/log.js';

const RESOURCE_TYPES = ['TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID'];
const PATTERN_TYPES = ['LITERAL', 'PREFIXED'];
const OPERATIONS = ['ALL', 'READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE', 'CLUSTER_ACTION', 'DESCRIBE_CONFIGS', 'ALTER_CONFIGS', 'IDEMPOTENT_WRITE'];
const PERMISSIONS = ['ALLOW', 'DENY'];

function select(id, values, { any = false, value } = {}) {
  return h('select', { id, value },
    any ? h('option', { value: '' }, 'any') : null,
    values.map((v) => h('option', { value: v }, v)));
}

function field(label, input) {
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
}

/** The fields of an ACL as query parameters, leaving out the empty ones. */
function query(fields) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) if (value) params.set(key, value);
  return params.toString();
}

export function mount(root) {
  const listBox = h('div', { 'data-testid': 'acl-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const message = h('div', { 'aria-live': 'polite' });
  let closed = false;

  // Filters of the list.
  const filterType = select('acl-filter-type', RESOURCE_TYPES, { any: true });
  const filterName = h('input', { type: 'text', id: 'acl-filter-name', placeholder: 'any' });
  const filterPrincipal = h('input', { type: 'text', id: 'acl-filter-principal', placeholder: 'User:alice' });

  async function remove(acl) {
    const { resource_type, resource_name, pattern_type, principal, host, operation, permission } = acl;
    clear(message);
    try {
      await api('DELETE', `/acls?${query({ resource_type, resource_name, pattern_type, principal, host, operation, permission })}`);
      message.append(h('div', { class: 'success', role: 'status' }, `Deleted ${permission} ${operation} on ${resource_type} ${resource_name} for ${principal}.`));
      logClient('info', `deleted ACL ${permission} ${operation} ${resource_type}:${resource_name} ${principal}`);
      load();
    } catch (err) {
      message.append(errorBox(err, 'Could not delete the ACL'));
    }
  }

  async function load(event) {
    if (event) event.preventDefault();
    try {
      const q = query({ resource_type: filterType.value, resource_name: filterName.value.trim(), principal: filterPrincipal.value.trim() });
      const { acls } = await get(`/acls${q ? `?${q}` : ''}`);
      if (closed) return;
      clear(listBox).append(table([
        { label: 'Principal', render: (a) => a.principal },
        { label: 'Permission', render: (a) => a.permission },
        { label: 'Operation', render: (a) => a.operation },
        { label: 'Resource', render: (a) => `${a.resource_type} ${a.resource_name}` },
        { label: 'Pattern', render: (a) => a.pattern_type },
        { label: 'Host', render: (a) => a.host },
        { label: 'Actions', render: (a) => h('button', { type: 'button', class: 'small danger', onclick: () => remove(a), 'aria-label': `Delete ACL ${a.permission} ${a.operation} on ${a.resource_name} for ${a.principal}` }, 'Delete') },
      ], acls || [], { caption: 'ACLs', empty: 'No ACL matches.' }));
    } catch (err) {
      if (closed) return;
      const note = err.status === 403 ? 'Only administrators (DESCRIBE on the cluster) see the ACLs' : 'Could not list ACLs';
      clear(listBox).append(errorBox(err, note));
    }
  }

  // A new ACL.
  const principal = h('input', { type: 'text', id: 'acl-principal', required: true, placeholder: 'User:alice' });
  const resourceType = select('acl-resource-type', RESOURCE_TYPES, { value: 'TOPIC' });
  const resourceName = h('input', { type: 'text', id: 'acl-resource-name', required: true, placeholder: 'orders, * or kafka-cluster' });
  const patternType = select('acl-pattern-type', PATTERN_TYPES, { value: 'LITERAL' });
  const operation = select('acl-operation', OPERATIONS, { value: 'READ' });
  const permission = select('acl-permission', PERMISSIONS, { value: 'ALLOW' });
  const host = h('input', { type: 'text', id: 'acl-host', value: '*' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Add ACL');
  resourceType.addEventListener('change', () => {
    if (resourceType.value === 'CLUSTER') resourceName.value = 'kafka-cluster';
  });

  async function add(event) {
    event.preventDefault();
    clear(message);
    button.disabled = true;
    const acl = {
      principal: principal.value.trim(), resource_type: resourceType.value, resource_name: resourceName.value.trim(),
      pattern_type: patternType.value, operation: operation.value, permission: permission.value, host: host.value.trim() || '*',
    };
    try {
      const { created } = await post('/acls', acl);
      message.append(h('div', { class: 'success', role: 'status' },
        created ? `Added ${acl.permission} ${acl.operation} on ${acl.resource_type} ${acl.resource_name} for ${acl.principal}.` : 'That ACL exists already.'));
      logClient('info', `added ACL ${acl.permission} ${acl.operation} ${acl.resource_type}:${acl.resource_name} ${acl.principal}`);
      load();
    } catch (err) {
      message.append(errorBox(err, 'Could not add the ACL'));
    } finally {
      button.disabled = false;
    }
  }

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'ACLs')),
    message,
    h('section', { class: 'panel' }, h('h2', {}, 'ACLs'),
      h('form', { onsubmit: load, 'aria-label': 'Filter ACLs' },
        h('div', { class: 'row' },
          field('Resource type', filterType), field('Resource name', filterName), field('Principal', filterPrincipal)),
        h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'))),
      listBox),
    h('section', { class: 'panel' }, h('h2', {}, 'Add an ACL'),
      h('form', { onsubmit: add, 'aria-label': 'Add an ACL' },
        h('div', { class: 'row' },
          field('Principal', principal), field('Permission', permission), field('Operation', operation)),
        h('div', { class: 'row' },
          field('Resource type', resourceType), field('Resource name', resourceName), field('Pattern', patternType), field('Host', host)),
        h('div', { class: 'actions' }, button))));
  load();
  return () => { closed = true; };
}
