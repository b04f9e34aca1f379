// The inbox page: /inbox (and /).
import {
  $, el, api, announce, debounce, getSession, listen, onSessionEnd, showSignedOut, showState, timeEl,
} from '/assets/session.js';

const FILTERS = {
  all: { archived: 'false' },
  unread: { relevant: 'unread messages' },
  pinned: { pinned: 'true' },
  archived: { archived: 'true' },
  muted: { muted: 'true' },
};
const EMPTY = {
  all: 'No conversations yet. They appear here once someone writes to you.',
  unread: 'Nothing unread. You are all caught up.',
  pinned: 'No pinned conversations. Pin one to keep it at the top.',
  archived: 'No archived conversations.',
  muted: 'No muted conversations.',
};
const PAGE = 50;
const MAX_PAGE = 100;
const HUMAN_SOURCES = new Set(['api', 'email']);

let filter = 'all';
let items = [];
let nextCursor = null;
let hasMore = false;
let generation = 0;
let stopListening = null;
let pendingFocus = null; // where focus was when an action started

/** Which control in the list has focus: conversation id, action and position. */
function focusInfo(node) {
  const list = $('conversations');
  const li = node && list.contains(node) ? node.closest('li.conversation') : null;
  if (!li) return null;
  return { id: li.dataset.id, action: node.dataset.action || null, index: [...list.children].indexOf(li) };
}

function initialFilter() {
  const f = new URLSearchParams(location.search).get('filter');
  return f && Object.hasOwn(FILTERS, f) ? f : 'all';
}

function query(limit, cursor) {
  const params = new URLSearchParams({ limit: String(limit), pinned_first: 'true', ...FILTERS[filter] });
  if (cursor) params.set('cursor', cursor);
  return `/api/v1/contacts/me/conversations?${params}`;
}

const isArchived = (it) => (typeof it.archived === 'boolean' ? it.archived : Boolean(it.archived_at));

/** Loads the first page again (as many items as shown, within limits), or the next one. */
async function load({ append = false } = {}) {
  const gen = ++generation;
  const limit = append ? PAGE : Math.min(MAX_PAGE, Math.max(PAGE, items.length));
  try {
    const data = await api('GET', query(limit, append ? nextCursor : null));
    if (gen !== generation) return;
    const page = Array.isArray(data['@items']) ? data['@items'] : [];
    if (append) {
      const seen = new Set(items.map((it) => it.id));
      items = items.concat(page.filter((it) => !seen.has(it.id)));
    } else {
      items = page;
    }
    const paging = data['@paging'] || {};
    hasMore = Boolean(data.has_more ?? paging.has_more);
    nextCursor = data.next_cursor ?? paging.next_cursor ?? null;
    renderBadge(Number(data.badge) || 0);
    render();
    $('inbox-error').textContent = '';
    showState('inbox');
  } catch (err) {
    if (gen !== generation || err.status === 401) return;
    $('inbox-error').textContent = err.detail || String(err);
    showState('inbox');
  }
}
const refresh = debounce(() => load(), 300);

function renderBadge(count) {
  const badge = $('badge');
  const label = count === 1 ? '1 unread message' : `${count} unread messages`;
  badge.textContent = String(count);
  badge.setAttribute('aria-label', label);
  badge.hidden = count === 0;
  document.title = count > 0 ? `(${count}) Conversations` : 'Conversations';
}

function renderFilters() {
  for (const b of $('filters').querySelectorAll('button[data-filter]')) {
    b.setAttribute('aria-pressed', String(b.dataset.filter === filter));
  }
}

function tag(text, cls = 'tag') {
  return el('span', { class: cls }, text);
}

function renderItem(it) {
  const subject = it.subject || '(no subject)';
  const unread = Number(it.unread) || 0;
  const archived = isArchived(it);
  const classes = ['conversation'];
  if (unread > 0) classes.push('has-unread');
  if (it.pinned) classes.push('pinned');
  const li = el('li', { class: classes.join(' '), 'data-id': it.id });

  const link = el('a', { href: `/conversations/${encodeURIComponent(it.id)}`, class: 'conversation-link' }, subject);
  const head = el('div', { class: 'conversation-head' }, el('h2', { class: 'conversation-subject' }, link));
  if (it.last_activity) head.append(timeEl(it.last_activity, true));
  li.append(head);

  const flags = el('p', { class: 'flags' });
  if (unread > 0) flags.append(tag(`${unread} unread`, 'badge unread'));
  if (it.has_ongoing_call) flags.append(tag('Call in progress', 'badge call'));
  else if (it.has_missed_call) flags.append(tag('Missed call', 'tag'));
  if (it.pinned) flags.append(tag('Pinned'));
  if (it.muted) flags.append(tag('Muted'));
  if (archived) flags.append(tag('Archived'));
  if (flags.childElementCount) li.append(flags);

  const m = it.last_message;
  if (m) {
    const who = m.from_contact ? 'You' : m.sender_name || 'Someone';
    let text = m.preview || '';
    if (!text && m.source && !HUMAN_SOURCES.has(m.source)) text = `(${m.source})`;
    li.append(el('p', { class: 'preview' }, el('span', { class: 'preview-sender' }, `${who}:`), ' ', text));
  }

  const names = (it.participant_details || []).map((p) => p.display_name || 'Someone');
  if (names.length) li.append(el('p', { class: 'with muted' }, `With ${names.join(', ')}`));

  const pinVerb = it.pinned ? 'Unpin' : 'Pin';
  const archiveVerb = archived ? 'Unarchive' : 'Archive';
  li.append(el('div', { class: 'actions' },
    el('button', {
      type: 'button', class: 'button small', 'data-action': 'pin', 'data-value': String(!it.pinned),
      'aria-label': `${pinVerb} “${subject}”`,
    }, pinVerb),
    el('button', {
      type: 'button', class: 'button small', 'data-action': 'archive', 'data-value': String(!archived),
      'aria-label': `${archiveVerb} “${subject}”`,
    }, archiveVerb)));
  return li;
}

/** Re-renders the list, keeping keyboard focus on the same control where possible. */
function render() {
  const list = $('conversations');
  const focus = focusInfo(document.activeElement) || pendingFocus;
  pendingFocus = null;

  list.replaceChildren(...items.map(renderItem));
  const empty = $('empty');
  empty.textContent = EMPTY[filter];
  empty.hidden = items.length > 0;
  $('more').hidden = !(hasMore && nextCursor);

  if (!focus) return;
  const same = [...list.children].find((li) => li.dataset.id === focus.id);
  if (same) {
    const target = focus.action ? same.querySelector(`button[data-action="${focus.action}"]`) : same.querySelector('a');
    target?.focus();
    return;
  }
  // The conversation left this view (e.g. archived): go to its neighbour.
  const neighbour = list.children[Math.min(focus.index, list.children.length - 1)];
  (neighbour ? neighbour.querySelector('a') : $('title'))?.focus();
}

async function onAction(event) {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const li = button.closest('li.conversation');
  const item = items.find((it) => it.id === li.dataset.id);
  if (!item) return;
  const field = button.dataset.action === 'pin' ? 'pinned' : 'archived';
  const value = button.dataset.value === 'true';
  const subject = item.subject || '(no subject)';
  pendingFocus = focusInfo(button);
  button.disabled = true;
  try {
    await api('PATCH', `/api/v1/conversations/${encodeURIComponent(item.id)}/participants/me`, { [field]: value });
    const done = field === 'pinned' ? (value ? 'Pinned' : 'Unpinned') : value ? 'Archived' : 'Unarchived';
    announce(`${done} “${subject}”`);
    await load();
  } catch (err) {
    pendingFocus = null;
    if (err.status !== 401) $('inbox-error').textContent = err.detail || String(err);
  } finally {
    button.disabled = false;
  }
}

function setFilter(next) {
  if (next === filter || !Object.hasOwn(FILTERS, next)) return;
  filter = next;
  items = [];
  nextCursor = null;
  hasMore = false;
  renderFilters();
  const url = next === 'all' ? location.pathname : `${location.pathname}?filter=${next}`;
  history.replaceState(null, '', url);
  load();
}

async function loadMore() {
  const button = $('more');
  if (!nextCursor) return;
  const before = items.length;
  button.disabled = true;
  try {
    await load({ append: true });
  } finally {
    button.disabled = false;
  }
  // Move focus to the first new conversation so keyboard users continue from there.
  const first = $('conversations').children[before];
  if (first && items.length > before) first.querySelector('a')?.focus();
}

function start() {
  if (!getSession()) {
    showSignedOut(false);
    return;
  }
  filter = initialFilter();
  renderFilters();
  onSessionEnd(() => {
    if (stopListening) stopListening();
    stopListening = null;
    $('badge').hidden = true;
    document.title = 'Conversations';
  });
  $('filters').addEventListener('click', (event) => {
    const b = event.target.closest('button[data-filter]');
    if (b) setFilter(b.dataset.filter);
  });
  $('conversations').addEventListener('click', onAction);
  $('more').addEventListener('click', loadMore);
  load();
  stopListening = listen((type) => {
    if (type === 'message' || type === 'inbox' || type === 'reset') refresh();
  }, { onOpen: (again) => again && refresh() });
}

start();
