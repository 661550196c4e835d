// The console's shell: hash routes to page modules, the navigation, the connection indicator,
// and the login. Each page module exports mount(container, {params, query}) and returns a cleanup
// function that closes its streams and timers when the user leaves the page.
//
// On a node that requires a login, no page is mounted (and so nothing is fetched) until
// GET /auth/whoami answers with a session; until then, and whenever a request answers 401, every
// route shows the login form instead.

import { h, errorBox, clear } from './lib/dom.js';
import {
  watchConnection, refreshLeader, get, watchFailover, whoami, login, logout, watchUnauthenticated,
} from './lib/api.js';

/** How often the shell re-reads the cluster's nodes, the places the console can fail over to. */
const NODES_REFRESH_MS = 15000;

const routes = {
  dashboard: () => import('./pages/dashboard.js'),
  produce: () => import('./pages/produce.js'),
  consume: () => import('./pages/consume.js'),
  topics: () => import('./pages/topics.js'),
  topic: () => import('./pages/topic.js'),
  cluster: () => import('./pages/cluster.js'),
  groups: () => import('./pages/groups.js'),
  users: () => import('./pages/users.js'),
  acls: () => import('./pages/acls.js'),
};

const titles = {
  dashboard: 'Dashboard', produce: 'Produce', consume: 'Consume', topics: 'Topics',
  topic: 'Topic', cluster: 'Cluster', groups: 'Consumer groups', users: 'Users', acls: 'ACLs',
};

// Who the console acts as (GET /auth/whoami), or null while it must show the login form.
let me = null;
let booted = false;

/** "#/topics/orders?x=1" → {name: 'topic', params: {topic: 'orders'}, query}. */
function parseHash(hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [pathPart, queryPart = ''] = raw.split('?');
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(queryPart));
  if (parts[0] === 'topics' && parts[1]) return { name: 'topic', params: { topic: parts.slice(1).join('/') }, query };
  const name = parts[0] && routes[parts[0]] ? parts[0] : (parts[0] ? null : 'dashboard');
  return { name, params: {}, query };
}

const main = document.getElementById('main');
let cleanup = null;
let generation = 0;

function stopPage() {
  generation += 1;
  if (cleanup) { try { cleanup(); } catch (err) { console.error(err); } cleanup = null; }
  clear(main);
}

/** Shows who is logged in, the logout button, and the admin pages when ACLs are on. */
function showAccount() {
  const account = document.getElementById('account');
  const loggedIn = Boolean(me && !/^User:ANONYMOUS$/.test(me.principal));
  account.hidden = !loggedIn;
  document.getElementById('account-name').textContent = loggedIn ? me.principal.replace(/^User:/, '') : '';
  for (const link of document.querySelectorAll('.nav a[data-admin]')) {
    link.hidden = !(me && me.authorization_enabled);
  }
  document.getElementById('nav').hidden = !me;
}

/** Replaces whatever page is shown with the login form. */
function showLogin(note) {
  me = null;
  stopPage();
  showAccount();
  document.title = 'Log in · YAK console';
  main.dataset.page = 'login';
  const username = h('input', { type: 'text', id: 'login-username', name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', id: 'login-password', name: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const message = h('div', { 'aria-live': 'polite', 'data-testid': 'login-message' },
    note ? h('p', { class: 'muted' }, note) : null);
  async function submit(event) {
    event.preventDefault();
    button.disabled = true;
    clear(message);
    try {
      me = await login(username.value, password.value);
      signedIn();
    } catch (err) {
      message.append(errorBox(err, 'Could not log in'));
      password.select();
    } finally {
      button.disabled = false;
    }
  }
  main.append(h('div', { class: 'page login-page', dataset: { page: 'login' } },
    h('section', { class: 'panel login' },
      h('h1', {}, 'Log in to YAK'),
      h('form', { id: 'login-form', onsubmit: submit, 'aria-label': 'Log in' },
        h('div', { class: 'field' }, h('label', { for: 'login-username' }, 'User name'), username),
        h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password),
        message,
        h('div', { class: 'actions' }, button)))));
  username.focus();
}

function signedIn() {
  showAccount();
  if (!booted) {
    booted = true;
    learnNodes();
    setInterval(learnNodes, NODES_REFRESH_MS);
    refreshLeader();
  }
  render();
}

async function render(event) {
  if (!me) { showLogin(); return; }
  const route = parseHash(window.location.hash);
  stopPage();
  const mine = generation;
  const navName = route.name === 'topic' ? 'topics' : route.name;
  for (const link of document.querySelectorAll('.nav a')) {
    if (link.dataset.route === navName) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.getElementById('nav').classList.remove('open');
  document.querySelector('.nav-toggle').setAttribute('aria-expanded', 'false');
  if (!route.name) {
    main.append(h('h1', {}, 'Page not found'), h('p', {}, 'There is no page at ', h('code', {}, window.location.hash), '. ', h('a', { href: '#/dashboard' }, 'Go to the dashboard.')));
    document.title = 'Not found · YAK console';
    return;
  }
  document.title = `${route.params.topic || titles[route.name]} · YAK console`;
  main.dataset.page = route.name;
  try {
    const page = await routes[route.name]();
    if (mine !== generation) return;
    const container = h('div', { class: 'page', dataset: { page: route.name } });
    main.append(container);
    cleanup = page.mount(container, route) || null;
    // After a navigation, keyboard and screen reader users start at the new page's content.
    if (event) main.focus({ preventScroll: false });
  } catch (err) {
    main.append(errorBox(err, 'This page failed to load'));
  }
}

function setupNavToggle() {
  const toggle = document.querySelector('.nav-toggle');
  const nav = document.getElementById('nav');
  toggle.addEventListener('click', () => {
    const open = nav.classList.toggle('open');
    toggle.setAttribute('aria-expanded', String(open));
  });
}

function setupConnectionIndicator() {
  const el = document.getElementById('connection');
  const text = el.querySelector('.conn-text');
  watchConnection((c) => {
    el.dataset.state = c.status;
    const leader = c.leaderId != null ? `leader ${c.leaderId}${c.leaderUrl ? ` (${c.leaderUrl})` : ''}, epoch ${c.epoch}` : 'leader unknown';
    const words = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', disconnected: 'Disconnected, retrying' }[c.status] || c.status;
    text.textContent = `${words} · ${leader}`;
  });
}

/** A banner over the page while the console moves to another node, and after it arrived. */
function setupFailoverBanner() {
  const banner = h('div', { class: 'failover-banner', id: 'failover-banner', role: 'status', 'aria-live': 'assertive', hidden: true });
  document.querySelector('.topbar').after(banner);
  function show(text, state) {
    banner.textContent = text;
    banner.dataset.state = state;
    banner.hidden = false;
  }
  watchFailover(({ phase, from, to }) => {
    const node = from == null ? 'This node' : `Node ${from}`;
    if (phase === 'searching') show(`${node} stopped answering; looking for another node…`, 'searching');
    else if (phase === 'moving') show(`${node} stopped answering; switching to node ${to.node_id} at ${to.http}…`, 'moving');
    else show(`${node} stopped answering and no other node answers; still retrying.`, 'none');
  });
  const params = new URLSearchParams(window.location.search);
  const from = params.get('failover_from');
  if (from !== null) {
    show(`Node ${from} stopped answering; this page moved to ${window.location.origin}.`, 'arrived');
    // The note is shown once; a reload should not repeat it.
    window.history.replaceState(null, '', `${window.location.pathname}${window.location.hash}`);
  }
}

function learnNodes() {
  if (!me) return;
  get('/cluster', { retries: 0 }).catch(() => { /* The pages show their own errors. */ });
}

function setupLogout() {
  document.getElementById('logout').addEventListener('click', async () => {
    try {
      await logout();
    } catch (err) {
      console.error(err);
    }
    showLogin('You are logged out.');
  });
  watchUnauthenticated(() => {
    if (me) showLogin('Your session has ended; log in again.');
  });
}

/** Asks who the console is; shows the login form when the node requires one. */
async function boot() {
  try {
    me = await whoami();
  } catch (err) {
    if (err.status === 401) { showLogin(); return; }
    // The node does not answer (or answers oddly): the pages show their own errors and retry.
    me = { principal: 'User:ANONYMOUS', authentication_required: false, authorization_enabled: false };
  }
  signedIn();
}

setupNavToggle();
setupConnectionIndicator();
setupFailoverBanner();
setupLogout();
window.addEventListener('hashchange', () => { if (me) render(true); else showLogin(); });
boot();
