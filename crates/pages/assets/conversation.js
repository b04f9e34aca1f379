// The conversation page: /conversations/{id}.
import {
  $, el, api, announce, debounce, getSession, listen, onSessionEnd, reducedMotion,
  sameEmail, showSignedOut, showState, signIn, timeEl,
} from '/assets/session.js';

const LINK_ERRORS = {
  410: ['This link has expired', 'Links in notification emails work for a limited time (a week unless the service set another). Open the link in the newest notification about this conversation, or reply to any of its emails: the next notification brings a fresh link.'],
  400: ['This link is not valid', 'It may have been cut off or changed. Open the link from your email again, or copy all of it into the address bar.'],
  404: ['You are no longer in this conversation', ''],
  501: ['Sign-in links are not enabled on this server', ''],
};
// The server answers 401 for a code that is not its own (the code is the credential).
LINK_ERRORS[401] = LINK_ERRORS[400];
LINK_ERRORS[422] = LINK_ERRORS[400];
const HUMAN_SOURCES = new Set(['api', 'email']);
const PAGE = 500;

const match = /^\/conversations\/([^/]+)\/?$/.exec(location.pathname);
const convId = match ? safeDecode(match[1]) : '';
const base = `/api/v1/conversations/${encodeURIComponent(convId)}`;

let me = null; // my participant view
let highestSeq = 0;
const shown = new Map(); // seq -> <li>
let stopListening = null;
let gone = false;

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

/** The `code` parameter from `#code=` or `?code=`, or null. */
function readCode() {
  for (const part of [location.hash.slice(1), location.search.slice(1)]) {
    for (const pair of part.split('&')) {
      if (pair.startsWith('code=')) return safeDecode(pair.slice(5));
    }
  }
  return null;
}

function resetTitle() {
  $('title').textContent = 'Conversation';
  document.title = 'Conversation';
}

function showProblem(heading, text) {
  resetTitle();
  $('link-error-heading').textContent = heading;
  const p = $('link-error-text');
  p.textContent = text;
  p.hidden = !text;
  showState('link-error');
}

function showGone() {
  gone = true;
  stop();
  showProblem(...LINK_ERRORS[404]);
  announce(LINK_ERRORS[404][0]);
}

function stop() {
  if (stopListening) stopListening();
  stopListening = null;
}

const pageError = (text) => { $('page-error').textContent = text || ''; };

/** Handles a failed request; returns true when the page can carry on. */
function failed(err) {
  if (err.status === 401) return false;
  if (isGone(err)) return showGone(), false;
  pageError(err.detail || String(err));
  return true;
}

const isGone = (err) => err.status === 404 || err.status === 403;

// ------------------------------------------------------------------ rendering

function renderMeta(c) {
  const s = getSession();
  const subject = c.subject || '(no subject)';
  $('title').textContent = subject;
  document.title = `${subject} – Conversations`;
  const details = Array.isArray(c.participant_details) ? c.participant_details : [];
  me = details.find((p) => s && sameEmail(p.email, s.email)) || null;
  const list = $('participants');
  list.replaceChildren();
  const people = details.filter((p) => p.active);
  // Me first, then the others in the server's order.
  people.sort((a, b) => Number(b === me) - Number(a === me));
  for (const p of people) {
    list.append(el('li', {}, p === me ? 'You' : p.name || 'Someone'));
  }
  renderMute();
}

function renderMute() {
  const button = $('mute');
  const muted = Boolean(me && me.muted);
  button.textContent = muted ? 'Unmute email notifications' : 'Mute email notifications';
  button.setAttribute('aria-pressed', String(muted));
  $('mute-note').textContent = muted
    ? 'You get no emails about new messages here.'
    : 'You get an email for each new message.';
}

const senderName = (m, mine) => m.sender_name || (mine ? 'You' : 'Someone');

function renderMessage(m) {
  const s = getSession();
  const mine = Boolean(s) && sameEmail(m.sender, s.email);
  const source = m.source || 'api';
  const human = HUMAN_SOURCES.has(source);
  const classes = ['message'];
  if (mine) classes.push('mine');
  if (!human) classes.push('automated');
  const meta = el('div', { class: 'message-meta' }, el('span', { class: 'sender' }, senderName(m, mine)));
  if (!human) meta.append(' ', el('span', { class: 'badge source' }, source));
  else if (source === 'email') meta.append(' ', el('span', { class: 'via' }, 'by email'));
  meta.append(' ', timeEl(m.created));
  // A reply by email: what extraction cut (quoted history, signature), on request.
  const trimmed = m.trimmed_text
    ? el('details', { class: 'trimmed' },
        el('summary', {}, 'Show trimmed text'),
        el('p', { class: 'text trimmed-text' }, m.trimmed_text))
    : null;
  return el('li', { class: classes.join(' '), 'data-seq': m.seq }, meta, el('p', { class: 'text' }, m.text ?? ''), trimmed);
}

/** Adds messages not shown yet, in order. Returns the ones added. */
function addMessages(messages) {
  const list = $('messages');
  const added = [];
  for (const m of messages) {
    if (typeof m.seq !== 'number' || shown.has(m.seq)) continue;
    const li = renderMessage(m);
    if (m.seq > highestSeq) {
      list.append(li);
    } else {
      const next = [...list.children].find((n) => Number(n.dataset.seq) > m.seq);
      list.insertBefore(li, next || null);
    }
    shown.set(m.seq, li);
    highestSeq = Math.max(highestSeq, m.seq);
    added.push(m);
  }
  $('no-messages').hidden = shown.size > 0;
  return added;
}

function scrollToNewest() {
  const last = $('messages').lastElementChild;
  if (last) last.scrollIntoView({ block: 'nearest', behavior: reducedMotion() ? 'auto' : 'smooth' });
}

// ------------------------------------------------------------------ loading

/** All messages after the cursor (a message number), following `next_cursor`. */
async function fetchAfter(cursor) {
  const out = [];
  while (cursor) {
    const page = await api('GET', `${base}/messages?cursor=${encodeURIComponent(cursor)}&limit=${PAGE}`);
    out.push(...((page && page.messages) || []));
    cursor = page && page.next_cursor;
  }
  return out;
}

/** Loads the whole conversation and renders it from scratch. */
async function loadAll() {
  const data = await api('GET', `${base}?limit=${PAGE}`);
  const c = data.conversation;
  const messages = [...(c.messages || []), ...(await fetchAfter(c.next_cursor))];
  renderMeta(c);
  if (!me || me.active === false) throw Object.assign(new Error('gone'), { status: 404 });
  $('messages').replaceChildren();
  shown.clear();
  highestSeq = 0;
  addMessages(messages);
  pageError('');
}

/** Refreshes the subject, people and my state (cheap: one message). */
async function refreshMeta() {
  if (gone) return;
  try {
    const data = await api('GET', `${base}?limit=1`);
    const c = data.conversation;
    renderMeta(c);
    if (!me || me.active === false) return void showGone();
    pageError('');
    if (c.message_count > highestSeq) await catchUp();
    else markRead();
  } catch (err) {
    failed(err);
  }
}
const refreshMetaSoon = debounce(refreshMeta, 300);

let catching = null;
let catchAgain = false;
/** Fetches and appends the messages after the newest shown. */
function catchUp() {
  if (catching) {
    catchAgain = true;
    return catching;
  }
  catching = (async () => {
    do {
      catchAgain = false;
      try {
        const added = addMessages(await fetchAfter(String(highestSeq)));
        if (added.length) newMessages(added);
        pageError('');
      } catch (err) {
        if (!failed(err)) return;
      }
    } while (catchAgain && !gone);
  })().finally(() => {
    catching = null;
  });
  return catching;
}

function newMessages(added) {
  const s = getSession();
  const others = added.filter((m) => !(s && sameEmail(m.sender, s.email)));
  if (others.length === 1) announce(`New message from ${senderName(others[0], false)}`);
  else if (others.length > 1) announce(`${others.length} new messages`);
  scrollToNewest();
  markRead();
}

async function reload() {
  if (gone) return;
  const before = highestSeq;
  try {
    await loadAll();
    if (highestSeq > before) scrollToNewest();
    markRead();
  } catch (err) {
    failed(err);
  }
}

let marking = false;
/** Moves my read marker to the end when the page is visible and shows unread messages. */
async function markRead() {
  if (gone || marking || !me || document.visibilityState !== 'visible') return;
  if (highestSeq <= (me.last_read || 0)) return;
  const s = getSession();
  if (!s) return;
  marking = true;
  try {
    const view = await api('POST', `${base}/read`, { participant: s.email });
    if (view) me = view;
    renderMute();
  } catch (err) {
    failed(err);
  } finally {
    marking = false;
  }
}

// ------------------------------------------------------------------ actions

function setupReply() {
  const form = $('reply');
  const text = $('reply-text');
  const send = $('send');
  const error = $('reply-error');
  let sending = false;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (sending) return;
    if (!text.value.trim()) {
      error.textContent = 'Write a message before sending.';
      text.setAttribute('aria-invalid', 'true');
      text.focus();
      return;
    }
    error.textContent = '';
    text.removeAttribute('aria-invalid');
    sending = true;
    send.disabled = true;
    send.textContent = 'Sending…';
    try {
      const s = getSession();
      const m = await api('POST', base, { sender: s ? s.email : '', text: text.value });
      text.value = '';
      if (m) addMessages([m]);
      announce('Sent');
      scrollToNewest();
      markRead();
    } catch (err) {
      if (isGone(err)) showGone();
      else if (err.status !== 401) error.textContent = err.detail || String(err);
    } finally {
      sending = false;
      send.disabled = false;
      send.textContent = 'Send';
      if (!gone && !$('conversation').hidden) text.focus();
    }
  });

  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

function setupMute() {
  const button = $('mute');
  button.addEventListener('click', async () => {
    if (!me) return;
    const muted = !me.muted;
    button.disabled = true;
    try {
      const view = await api('PATCH', `${base}/participants/me`, { muted });
      if (view) me = view;
      renderMute();
      pageError('');
      announce(me.muted ? 'Email notifications muted' : 'Email notifications on');
    } catch (err) {
      failed(err);
    } finally {
      button.disabled = false;
    }
  });
}

function onEvent(type, data) {
  if (gone) return;
  if (type === 'reset') return void reload();
  const id = data && typeof data === 'object' ? String(data.conversation_id || '') : '';
  if (id.toLowerCase() !== convId.toLowerCase()) return;
  if (type === 'message') {
    if (typeof data.seq !== 'number' || data.seq > highestSeq) catchUp();
  } else if (type === 'inbox') {
    refreshMetaSoon();
  }
}

// ------------------------------------------------------------------ start

async function start() {
  setupReply();
  setupMute();
  onSessionEnd(() => { stop(); resetTitle(); });
  // A sign-in link pasted into this tab only changes the hash: start over with it.
  window.addEventListener('hashchange', () => readCode() !== null && location.reload());

  const code = readCode();
  if (code !== null) {
    history.replaceState(null, '', location.pathname);
    if (!code) {
      showProblem(...LINK_ERRORS[400]);
      return;
    }
    try {
      await signIn(code);
    } catch (err) {
      const known = LINK_ERRORS[err.status];
      if (known) showProblem(...known);
      else if (err.status === 429) showProblem('Too many attempts', 'Wait a minute, then open the link again.');
      else showProblem('Could not sign you in', err.detail || String(err));
      return;
    }
  }
  if (!convId) {
    showProblem('Conversation not found', 'Check the address, or go to your conversations.');
    return;
  }
  if (!getSession()) {
    showSignedOut(false);
    return;
  }
  try {
    await loadAll();
  } catch (err) {
    if (err.status === 401) return;
    if (isGone(err)) showGone();
    else showProblem('Could not load this conversation', err.detail || String(err));
    return;
  }
  showState('conversation');
  scrollToNewest();
  markRead();
  // After a reconnect, catch up in case events were missed while offline.
  stopListening = listen(onEvent, { onOpen: (again) => again && refreshMetaSoon() });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') markRead();
  });
}

start();
