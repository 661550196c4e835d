// The console's shell: hash routes to page modules, the navigation, the connection indicator.
// Each page module exports mount(container, {params, query}) and returns a cleanup function that
// closes its streams and timers when the user leaves the page.

import { h, errorBox, clear } from './lib/dom.js';
import { watchConnection, refreshLeader, get, watchFailover } from './lib/api.js';

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
};

const titles = {
  dashboard: 'Dashboard', produce: 'Produce', consume: 'Consume', topics: 'Topics',
  topic: 'Topic', cluster: 'Cluster', groups: 'Consumer groups',
};

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

async function render(event) {
  const route = parseHash(window.location.hash);
  const mine = ++generation;
  if (cleanup) { try { cleanup(); } catch (err) { console.error(err); } cleanup = null; }
  clear(main);
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
  get('/cluster', { retries: 0 }).catch(() => { /* The pages show their own errors. */ });
}

setupNavToggle();
setupConnectionIndicator();
setupFailoverBanner();
learnNodes();
setInterval(learnNodes, NODES_REFRESH_MS);
window.addEventListener('hashchange', render);
render();
refreshLeader();
