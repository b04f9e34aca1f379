// Shared helpers for the Conversations pages: the stored session, the API helper,
// a Server-Sent Events reader over fetch() and a few DOM helpers.
// Everything that comes from the API is inserted as text, never as markup.

const KEY = 'conversations.session';
const EVENTS_PATH = '/api/v1/contacts/me/events';
const NOT_SIGNED_IN =
  'You are not signed in. Open the “View the conversation” link in one of your notification emails to see your conversations.';
const SESSION_ENDED = 'Your session has ended. Open the link from your email again.';
const STATES = ['loading', 'signed-out', 'link-error', 'conversation', 'inbox'];

/** Set once a valid session was seen on this page, to tell "ended" from "never signed in". */
let seenSession = false;
const endHooks = [];

/** An API failure: `status` (0 for network errors) and the problem's `detail`. */
export class ApiError extends Error {
  constructor(status, detail, problem = null) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.problem = problem;
  }
}

// ---------------------------------------------------------------- session

/** The stored session, or null when absent, unreadable or expired. */
export function getSession() {
  let raw = null;
  try { raw = localStorage.getItem(KEY); } catch { return null; }
  if (!raw) return null;
  let s = null;
  try {
    s = JSON.parse(raw);
  } catch {
    clearSession();
    return null;
  }
  if (!s || typeof s.token !== 'string' || !s.token || typeof s.email !== 'string') return null;
  const expires = Date.parse(s.expires_at);
  if (!Number.isFinite(expires) || expires <= Date.now()) {
    clearSession();
    return null;
  }
  seenSession = true;
  return s;
}

export function saveSession(s) {
  try {
    localStorage.setItem(KEY, JSON.stringify(s));
  } catch {
    // Storage may be unavailable (private mode); the page still works until reload.
  }
  seenSession = true;
}

export function clearSession() {
  try { localStorage.removeItem(KEY); } catch { /* nothing to clear */ }
}

/** Compares two addresses case-insensitively. */
export function sameEmail(a, b) {
  return typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();
}

/** Registers a function to run when the session ends (stop listening, reset titles). */
export function onSessionEnd(fn) {
  endHooks.push(fn);
}

/** Shows the signed-out state; `ended` when a session ran out while the page was in use. */
export function showSignedOut(ended = false) {
  const text = $('signed-out-text');
  if (text) text.textContent = ended ? SESSION_ENDED : NOT_SIGNED_IN;
  showState('signed-out');
  if (ended) announce(SESSION_ENDED);
  for (const fn of endHooks.splice(0)) {
    try { fn(); } catch { /* a failing hook must not stop the others */ }
  }
}

function sessionOver() {
  clearSession();
  showSignedOut(seenSession);
  return new ApiError(401, SESSION_ENDED);
}

// ---------------------------------------------------------------- API

async function problemError(res) {
  let problem = null;
  try { problem = await res.json(); } catch { /* not a problem document */ }
  const detail =
    (problem && (problem.detail || problem.title)) ||
    `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}.`;
  return new ApiError(res.status, detail, problem);
}

function networkError() {
  return new ApiError(0, 'Could not reach the server. Check your connection and try again.');
}

/** Calls the API with the session's token; resolves to parsed JSON (null for 204). */
export async function api(method, path, body) {
  const s = getSession();
  if (!s) throw sessionOver();
  const headers = {
    Accept: 'application/json, application/problem+json',
    Authorization: `Bearer ${s.token}`,
  };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw networkError();
  }
  if (res.status === 401) throw sessionOver();
  if (!res.ok) throw await problemError(res);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/**
 * Exchanges a sign-in code from a notification link for a session. Throws an ApiError
 * whose status tells why: 410 expired, 400 not valid, 404 no longer in the
 * conversation, 501 links not enabled.
 */
export async function signIn(code) {
  let res;
  try {
    res = await fetch('/api/v1/sign-in', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, application/problem+json' },
      body: JSON.stringify({ code }),
      cache: 'no-store',
    });
  } catch {
    throw networkError();
  }
  if (!res.ok) throw await problemError(res);
  const b = await res.json();
  const s = {
    token: b.token,
    expires_at: b.expires_at,
    email: b.email,
    name: b.name ?? null,
    conversation_id: b.conversation_id,
  };
  saveSession(s);
  return s;
}

// ---------------------------------------------------------------- Server-Sent Events

/**
 * Listens to the person's event stream: `onEvent(type, data, id)` with `data` parsed as
 * JSON (or the raw string). `onOpen(reconnected)` runs on every successful connection.
 * Reconnects with backoff (1 s doubling to 30 s, or the server's `retry:`); stops on 401.
 * Returns a function that stops listening.
 */
export function listen(onEvent, { onOpen } = {}) {
  let stopped = false;
  let controller = null;
  let timer = null;
  let lastId = '';
  let base = 1000;
  let delay = base;
  let opened = false;

  function schedule() {
    if (stopped) return;
    const wait = delay;
    delay = Math.min(delay * 2, 30000);
    timer = setTimeout(connect, wait);
  }

  async function connect() {
    timer = null;
    if (stopped) return;
    const s = getSession();
    if (!s) {
      stopped = true;
      sessionOver();
      return;
    }
    controller = new AbortController();
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${s.token}` };
    if (lastId) headers['Last-Event-ID'] = lastId;
    let res;
    try {
      res = await fetch(EVENTS_PATH, { headers, signal: controller.signal, cache: 'no-store' });
    } catch {
      schedule();
      return;
    }
    if (stopped) return;
    if (res.status === 401) {
      stopped = true;
      sessionOver();
      return;
    }
    const type = res.headers.get('Content-Type') || '';
    if (!res.ok || !res.body || !type.toLowerCase().startsWith('text/event-stream')) {
      schedule();
      return;
    }
    delay = base;
    const reconnected = opened;
    opened = true;
    try { onOpen?.(reconnected); } catch { /* must not break the stream */ }
    try {
      await read(res.body);
    } catch {
      // Network error or abort: reconnect below unless stopped.
    }
    schedule();
  }

  async function read(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder('utf-8');
    const lineEnd = /\r\n|\n|\r/g;
    let buf = '';
    let first = true;
    let data = [];
    let type = '';
    let idBuf = lastId;

    const dispatch = () => {
      lastId = idBuf;
      if (data.length === 0) {
        type = '';
        return;
      }
      const raw = data.join('\n');
      const name = type || 'message';
      data = [];
      type = '';
      let parsed = raw;
      try { parsed = JSON.parse(raw); } catch { /* leave it as a string */ }
      try { onEvent(name, parsed, lastId); } catch { /* must not break the stream */ }
    };

    const line = (l) => {
      if (l === '') return dispatch();
      if (l[0] === ':') return undefined;
      const colon = l.indexOf(':');
      const field = colon === -1 ? l : l.slice(0, colon);
      let value = colon === -1 ? '' : l.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') {
        if (!value.includes('\0')) idBuf = value;
      } else if (field === 'retry' && /^\d+$/.test(value)) {
        base = Math.min(Number(value), 30000);
        delay = base;
      }
      return undefined;
    };

    for (;;) {
      const { value, done } = await reader.read();
      if (done || stopped) break;
      buf += decoder.decode(value, { stream: true });
      if (first && buf.length > 0) {
        if (buf[0] === '\uFEFF') buf = buf.slice(1);
        first = false;
      }
      let start = 0;
      lineEnd.lastIndex = 0;
      let m;
      while ((m = lineEnd.exec(buf)) !== null) {
        // A CR at the very end may be the first half of a CRLF split across chunks.
        if (m[0] === '\r' && m.index === buf.length - 1) break;
        line(buf.slice(start, m.index));
        start = m.index + m[0].length;
      }
      buf = buf.slice(start);
    }
    // An event left incomplete at the end of the stream is discarded, as the spec says.
  }

  connect();
  return function stop() {
    stopped = true;
    if (timer) clearTimeout(timer);
    if (controller) controller.abort();
  };
}

// ---------------------------------------------------------------- DOM helpers

export function $(id) {
  return document.getElementById(id);
}

/**
 * Creates an element. `props`: `class`, `text`, `hidden` or any attribute; children are
 * nodes or strings (inserted as text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'hidden') node.hidden = true;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c);
  }
  return node;
}

/** Shows one of the page's states (`loading`, `signed-out`, ...) and hides the others. */
export function showState(id) {
  for (const name of STATES) {
    const node = $(name);
    if (node) node.hidden = name !== id;
  }
}

let announceTimer = null;
/** Says something in the page's polite live region (`#status`). */
export function announce(text) {
  const region = $('status');
  if (!region) return;
  clearTimeout(announceTimer);
  region.textContent = '';
  announceTimer = setTimeout(() => {
    region.textContent = text;
  }, 60);
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const dayFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dayClockFormat = new Intl.DateTimeFormat(undefined, {
  day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit',
});
const yearFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/**
 * A `<time>` element for an RFC 3339 timestamp. `short`: only the time today, else the
 * day (for lists); otherwise the time, with the day when not today (for messages).
 */
export function timeEl(iso, short = false) {
  const t = el('time', { datetime: iso });
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) {
    t.textContent = iso || '';
    return t;
  }
  const now = new Date();
  const today = d.toDateString() === now.toDateString();
  const thisYear = d.getFullYear() === now.getFullYear();
  if (today) t.textContent = clockFormat.format(d);
  else if (!thisYear) t.textContent = yearFormat.format(d);
  else t.textContent = short ? dayFormat.format(d) : dayClockFormat.format(d);
  t.title = fullFormat.format(d);
  return t;
}

/** Whether the user asked for less motion. */
export function reducedMotion() {
  return window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}
