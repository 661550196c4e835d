// Talks to the broker's HTTP API. Every failure becomes an ApiError with the API's own code and
// message, so pages can show it in words. When the connection drops, requests and streams retry
// with backoff, ask GET /metadata/leader who leads now, and log the reconnection.
//
// URLs are relative: the pages only ever talk to the origin that served them (brokers send no
// cross-origin headers). A broker serves its own pages; `yak console` serves them and forwards
// the API to the first of its --brokers that answers, so failing over between brokers is its job.
//
// The console fails over too: it remembers the cluster's nodes from every GET /cluster, and when
// the node that served the page stops answering it asks the others' /health and moves the page
// to the first that answers, on the same hash route (`?failover_from=N` tells the new page why).
// A cross-origin fetch in `no-cors` mode cannot read the answer, but it resolves only when the
// node answered at all, which is all the move needs to know.
//
// Login: on a node that requires it, the console holds a session cookie (`yak_session`, set by
// POST /auth/login, unreadable by scripts) and the session's CSRF token, which every write sends
// in `X-CSRF-Token`. A 401 from any request means the session is gone: the shell is told and
// shows the login form again.

import { logClient } from './log.js';
import { sleep } from './dom.js';

const BACKOFF_MS_MIN = 500;
const BACKOFF_MS_MAX = 8000;
const RECONNECT_ROUNDS_MAX = 6;
/** How long a probe of another node's /health may take before the next node is tried. */
const FAILOVER_PROBE_MS_MAX = 1500;
/**
 * How long the reconnection probe of the page's own node may take: a machine that vanished
 * answers nothing at all, and the browser's own connect timeout is far longer than a failover.
 */
const RECONNECT_PROBE_MS_MAX = 3000;

export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const state = {
  status: 'connecting',  // connecting | connected | reconnecting | disconnected
  leaderId: null,
  leaderUrl: null,
  epoch: null,
  lostConnection: false, // True between a failure and the next success.
};
const watchers = new Set();

export function connection() { return { ...state }; }

export function watchConnection(fn) {
  watchers.add(fn);
  fn(connection());
  return () => watchers.delete(fn);
}

function setState(patch) {
  Object.assign(state, patch);
  for (const fn of watchers) fn(connection());
}

export function apiUrl(path) { return path; }

// The session's CSRF token (from the login or GET /auth/whoami), sent with every write.
let csrfToken = null;
const unauthenticatedWatchers = new Set();

export function setCsrfToken(token) { csrfToken = token || null; }

/** fn(error) is called whenever the node answers 401: the session ended or never was. */
export function watchUnauthenticated(fn) {
  unauthenticatedWatchers.add(fn);
  return () => unauthenticatedWatchers.delete(fn);
}

function unauthenticated(err) {
  for (const fn of unauthenticatedWatchers) fn(err);
}

// The cluster's other nodes, as the last GET /cluster listed them: [{node_id, http}].
let knownNodes = [];
let selfNodeId = null;
const failoverWatchers = new Set();

/** Remembers the nodes of a /cluster answer, for the console's own failover. */
export function rememberNodes(cluster) {
  if (!cluster || !Array.isArray(cluster.nodes)) return;
  selfNodeId = cluster.node_id;
  knownNodes = cluster.nodes
    .filter((n) => n && typeof n.http === 'string' && /^https?:\/\//.test(n.http))
    .map((n) => ({ node_id: n.node_id, http: n.http.replace(/\/+$/, '') }));
}

/** fn({phase: 'searching'|'moving'|'none', from, to}) is told what the failover does. */
export function watchFailover(fn) {
  failoverWatchers.add(fn);
  return () => failoverWatchers.delete(fn);
}

function announceFailover(event) {
  for (const fn of failoverWatchers) fn(event);
}

/** Whether a node answers its /health at all (the answer itself is opaque cross-origin). */
async function answers(base) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), FAILOVER_PROBE_MS_MAX);
  try {
    await fetch(`${base}/health`, { mode: 'no-cors', cache: 'no-store', signal: abort.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

let failingOver = null;

/**
 * The page's own node does not answer: moves the page to the first other node that does.
 * Resolves false when no other node is known or none answers (the caller keeps retrying).
 */
export function failover() {
  if (!failingOver) {
    failingOver = (async () => {
      const others = knownNodes.filter((n) => n.http !== window.location.origin);
      if (!others.length) return false;
      const from = selfNodeId;
      announceFailover({ phase: 'searching', from });
      for (const node of others) {
        if (await answers(node.http)) {
          announceFailover({ phase: 'moving', from, to: node });
          logClient('failover', `node ${from ?? '?'} stopped answering; moving to node ${node.node_id} at ${node.http}`);
          const query = from == null ? '' : `?failover_from=${encodeURIComponent(from)}`;
          window.location.assign(`${node.http}/${query}${window.location.hash}`);
          return true;
        }
      }
      announceFailover({ phase: 'none', from });
      return false;
    })().finally(() => { failingOver = null; });
  }
  return failingOver;
}

async function errorFrom(response) {
  let text = '';
  try { text = await response.text(); } catch { /* The body is gone; the status still says enough. */ }
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      return new ApiError(body.error.code || `http_${response.status}`, body.error.message || text, response.status);
    }
  } catch { /* Not JSON: fall through to the raw text. */ }
  const detail = text.trim().slice(0, 300) || response.statusText || 'request failed';
  return new ApiError(`http_${response.status}`, `HTTP ${response.status}: ${detail}`, response.status);
}

function networkError(cause) {
  const where = window.location.origin;
  return new ApiError('network_error', `Cannot reach the broker at ${where} (${cause.message || cause})`);
}

async function requestOnce(method, path, body, signal) {
  let response;
  const headers = body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  try {
    response = await fetch(path, {
      method,
      signal,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (cause) {
    if (cause.name === 'AbortError') throw cause;
    throw networkError(cause);
  }
  if (!response.ok) {
    const err = await errorFrom(response);
    // The login itself answers 401 for a wrong password; that is the form's to show.
    if (response.status === 401 && path !== '/auth/login') unauthenticated(err);
    throw err;
  }
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('bad_response', `The broker answered with something that is not JSON: ${text.slice(0, 200)}`, response.status);
  }
}

function isLeaderError(err) {
  return err instanceof ApiError && /leader/.test(err.code || '');
}

/** Marks the connection good; if it had been lost, says which leader we are talking to now. */
function connected() {
  if (state.status === 'connected' && !state.lostConnection) return;
  const wasLost = state.lostConnection;
  setState({ status: 'connected', lostConnection: false });
  if (wasLost) refreshLeader({ announce: true });
}

function lost(err) {
  if (!state.lostConnection) {
    logClient('disconnected', `Lost the connection: ${err.message}`);
  }
  setState({ status: 'reconnecting', lostConnection: true });
}

/**
 * One request. GETs retry after a network failure (with backoff and leader discovery); writes
 * are retried only when the broker says it is not the leader, so a record is never sent twice
 * behind the user's back.
 */
export async function api(method, path, body, { signal, retries } = {}) {
  let left = retries ?? (method === 'GET' ? 3 : 0);
  let leaderRetry = 1;
  for (;;) {
    try {
      const result = await requestOnce(method, path, body, signal);
      connected();
      if (method === 'GET' && path === '/cluster') rememberNodes(result);
      return result;
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      if (isLeaderError(err) && leaderRetry-- > 0) {
        await reconnect(signal);
        continue;
      }
      if (err.code !== 'network_error') {
        connected();
        throw err;
      }
      lost(err);
      if (left-- <= 0) {
        reconnect().catch(() => {});
        throw err;
      }
      await reconnect(signal);
    }
  }
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body, options);
export const del = (path, options) => api('DELETE', path, undefined, options);

/**
 * Who the console acts as: {principal, authentication_required, authorization_enabled,
 * csrf_token?}; an ApiError with status 401 when the node requires a login and there is none.
 */
export async function whoami() {
  const me = await requestOnce('GET', '/auth/whoami');
  setCsrfToken(me.csrf_token);
  return me;
}

/** Starts a console session; the cookie is the browser's, the CSRF token ours. */
export async function login(username, password) {
  const me = await requestOnce('POST', '/auth/login', { username, password });
  setCsrfToken(me.csrf_token);
  return me;
}

/** Ends the session on the node (with its CSRF token) and forgets the token. */
export async function logout() {
  try {
    await requestOnce('POST', '/auth/logout', {});
  } finally {
    setCsrfToken(null);
  }
}

/** Asks who leads; remembers it for the connection indicator. */
export async function refreshLeader({ announce = false } = {}) {
  try {
    const leader = await requestOnce('GET', '/metadata/leader');
    const patch = { leaderId: leader.leader_id, leaderUrl: leader.leader_http, epoch: leader.epoch, status: 'connected', lostConnection: false };
    setState(patch);
    if (announce) logClient('reconnected', `reconnected to leader ${leader.leader_id} at ${leader.leader_http || window.location.origin}`);
    return leader;
  } catch {
    return null;
  }
}

let reconnecting = null;

/**
 * Waits until this page's origin answers GET /metadata/leader again, backing off between tries.
 * Shared by every caller that notices a failure.
 */
export function reconnect(signal) {
  if (!reconnecting) {
    reconnecting = (async () => {
      setState({ status: 'reconnecting', lostConnection: true });
      for (let round = 0; round < RECONNECT_ROUNDS_MAX; round += 1) {
        await sleep(Math.min(BACKOFF_MS_MIN * 2 ** round, BACKOFF_MS_MAX));
        try {
          const leader = await requestOnce('GET', '/metadata/leader', undefined, AbortSignal.timeout(RECONNECT_PROBE_MS_MAX));
          setState({ leaderId: leader.leader_id, leaderUrl: leader.leader_http, epoch: leader.epoch, status: 'connected', lostConnection: false });
          logClient('reconnected', `reconnected to leader ${leader.leader_id} at ${leader.leader_http || window.location.origin}`);
          return leader;
        } catch (err) {
          // Not back yet. A node that does not answer at all (rather than answering an error,
          // such as no leader during an election) is left for another node's console.
          if (err.code === 'network_error' && await failover()) {
            await new Promise(() => {}); // The page is being replaced.
          }
        }
      }
      setState({ status: 'disconnected' });
      throw new ApiError('network_error', 'The broker does not answer; still retrying in the background.');
    })().finally(() => { reconnecting = null; });
  }
  if (!signal) return reconnecting;
  return Promise.race([reconnecting, new Promise((_, reject) => signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), { once: true }))]);
}

/**
 * A server-sent event stream that survives broker failures. `path()` is asked again before every
 * (re)connection, so a consumer can resume from the next offset. Server `error` events are
 * reported through onError and end the stream; connection failures retry with backoff.
 */
export function stream(path, { events = {}, onError, onStatus } = {}) {
  let source = null;
  let closed = false;
  let failures = 0;
  let timer = null;
  let serverFailed = false;
  const abort = new AbortController();

  function report(status) { if (onStatus) onStatus(status); }

  function fail(err) {
    serverFailed = true;
    if (source) source.close();
    report('stopped');
    if (onError) onError(err);
  }

  async function probe(url) {
    // EventSource hides the body of a refused request; fetch it once to show the API's reason.
    try {
      const response = await fetch(url, { signal: abort.signal, headers: { accept: 'text/event-stream' } });
      if (!response.ok) {
        const err = await errorFrom(response);
        if (response.status === 401) unauthenticated(err);
        return err;
      }
      response.body?.cancel().catch(() => {});
      return null;
    } catch (err) {
      return err.name === 'AbortError' ? null : networkError(err);
    }
  }

  function open() {
    if (closed) return;
    const url = apiUrl(path());
    source = new EventSource(url);
    source.onopen = () => { failures = 0; connected(); report('open'); };
    for (const [name, handler] of Object.entries(events)) {
      source.addEventListener(name, (event) => {
        let data;
        try { data = JSON.parse(event.data); } catch { data = event.data; }
        handler(data, event);
      });
    }
    source.addEventListener('error', async (event) => {
      if (closed || serverFailed) return;
      if (event.data) {
        let body = null;
        try { body = JSON.parse(event.data); } catch { /* Shown raw below. */ }
        const error = body && body.error
          ? new ApiError(body.error.code || 'error', body.error.message || event.data)
          : new ApiError('stream_error', String(event.data));
        fail(error);
        return;
      }
      source.close();
      report('reconnecting');
      const refused = await probe(url);
      if (closed) return;
      if (refused && refused.code !== 'network_error') {
        fail(refused);
        return;
      }
      lost(refused || new ApiError('network_error', 'The event stream closed'));
      failures += 1;
      const delay = Math.min(BACKOFF_MS_MIN * 2 ** (failures - 1), BACKOFF_MS_MAX);
      timer = setTimeout(async () => {
        try { await reconnect(); } catch { /* open() below retries again with more backoff. */ }
        open();
      }, delay);
    });
  }

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      abort.abort();
      if (source) source.close();
    },
  };
}
