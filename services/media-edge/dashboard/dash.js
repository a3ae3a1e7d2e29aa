/*
 * dash.js - the live dashboard.  No framework, no inline script (the page
 * is served with a strict Content-Security-Policy), text only through
 * textContent.
 *
 * Sign-in posts the token to /dashboard/signin, which sets an HttpOnly
 * cookie; the page never sees the token again.  Live data comes from the
 * /events WebSocket (subscribed to "*": call, status, turn, summary,
 * refusal).  The calls API (GET /calls, GET /calls/{sid}) is used when
 * it answers 200 and ignored otherwise (services/media-edge/README.md,
 * "The dashboard").
 */
'use strict';

(function () {
  const TERMINAL = ['completed', 'busy', 'failed', 'no-answer', 'canceled'];
  const calls = new Map(); /* sid -> call */
  const refusals = [];
  const refused = new Set(); /* inbound calls turned away: not calls */
  let api = false; /* the calls API answered */
  let ws = null;
  let retryMs = 1000;

  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function call(sid) {
    let c = calls.get(sid);
    if (!c) {
      c = { sid: sid, who: '', direction: '', status: 'unknown', started: Date.now(),
            ended: 0, turns: [], outcome: '', interest: '', next: '', summary: '',
            lead: '', cost: '', duration: null };
      calls.set(sid, c);
    }
    return c;
  }

  function ended(c) { return TERMINAL.indexOf(c.status) >= 0; }

  function fmtDuration(c) {
    let s = c.duration;
    if (s === null || s === undefined)
      s = Math.round(((c.ended || Date.now()) - c.started) / 1000);
    const m = Math.floor(s / 60);
    return m + ':' + String(s % 60).padStart(2, '0');
  }

  /* ---- rendering ---- */

  function transcriptList(c) {
    const ul = el('ul', 'transcript');
    c.turns.sort((a, b) => a.seq - b.seq);
    for (const t of c.turns) {
      const li = el('li', 'turn ' + (t.role === 'user' ? 'user' : 'assistant'));
      li.dataset.seq = t.seq;
      li.appendChild(el('span', 'role', t.role === 'user' ? 'Caller' : 'AI'));
      li.appendChild(el('span', 'text', t.text));
      ul.appendChild(li);
    }
    return ul;
  }

  function card(c) {
    const d = el('div', 'card');
    d.dataset.sid = c.sid;
    const h = el('div', 'head');
    h.appendChild(el('span', 'who', c.who || 'unknown'));
    h.appendChild(el('span', 'direction', c.direction || '?'));
    h.appendChild(el('span', 'status ' + c.status, c.status));
    h.appendChild(el('span', 'duration', fmtDuration(c)));
    h.appendChild(el('span', 'sid', c.sid));
    d.appendChild(h);
    d.appendChild(transcriptList(c));
    return d;
  }

  function row(c) {
    const tr = el('tr');
    tr.dataset.sid = c.sid;
    tr.appendChild(el('td', 'who', c.who || 'unknown'));
    tr.appendChild(el('td', 'direction', c.direction));
    const st = el('td');
    st.appendChild(el('span', 'status ' + c.status, c.status));
    tr.appendChild(st);
    tr.appendChild(el('td', 'duration', fmtDuration(c)));
    tr.appendChild(el('td', 'outcome', c.outcome));
    tr.appendChild(el('td', 'interest', c.interest));
    tr.appendChild(el('td', 'next', c.next));
    const td = el('td', 'summary');
    td.appendChild(el('div', 'summary-text', c.summary));
    if (c.turns.length > 0) {
      const det = el('details');
      det.appendChild(el('summary', null, 'transcript (' + c.turns.length + ')'));
      det.appendChild(transcriptList(c));
      td.appendChild(det);
    }
    tr.appendChild(td);
    tr.appendChild(el('td', 'lead', c.lead));
    tr.appendChild(el('td', 'cost', c.cost));
    return tr;
  }

  function render() {
    const active = [], recent = [];
    for (const c of calls.values()) (ended(c) ? recent : active).push(c);
    active.sort((a, b) => a.started - b.started);
    recent.sort((a, b) => (b.ended || b.started) - (a.ended || a.started));

    const box = $('active');
    box.replaceChildren();
    if (active.length === 0) box.appendChild(el('p', 'empty', 'No call in progress.'));
    for (const c of active) box.appendChild(card(c));
    $('n-active').textContent = active.length;

    const tb = $('recent').tBodies[0];
    tb.replaceChildren();
    for (const c of recent.slice(0, 50)) tb.appendChild(row(c));
    $('n-recent').textContent = recent.length;

    const rb = $('refusals').tBodies[0];
    rb.replaceChildren();
    for (const r of refusals.slice(0, 50)) {
      const tr = el('tr');
      tr.appendChild(el('td', null, new Date(r.at).toLocaleTimeString()));
      tr.appendChild(el('td', null, r.who || 'unknown'));
      tr.appendChild(el('td', null, r.direction || ''));
      tr.appendChild(el('td', null, r.reason || ''));
      tr.appendChild(el('td', null, r.retry_after ? r.retry_after + ' s' : ''));
      rb.appendChild(tr);
    }
    $('n-refusals').textContent = refusals.length;
  }

  /* ---- the calls API, when present ---- */

  function usageText(u) {
    if (!u || typeof u !== 'object') return '';
    if (u.cost_usd !== undefined) return '$' + Number(u.cost_usd).toFixed(4);
    const tin = u.input_tokens || 0, tout = u.output_tokens || 0;
    return tin || tout ? tin + ' in / ' + tout + ' out tokens' : '';
  }

  /* Fields of a GET /calls item or GET /calls/{sid} (README: The dashboard). */
  function merge(c, o) {
    if (o.who) c.who = o.who;
    if (o.direction) c.direction = o.direction;
    if (o.status) c.status = o.status;
    const s = o.summary && typeof o.summary === 'object' ? o.summary : o;
    if (s.outcome) c.outcome = s.outcome;
    if (s.interest_level) c.interest = s.interest_level;
    if (s.next_action) c.next = s.next_action;
    if (typeof s.summary === 'string') c.summary = s.summary;
    if (o.lead_status) c.lead = o.lead_status;
    else if (o.lead && o.lead.status) c.lead = o.lead.status;
    if (o.usage) c.cost = usageText(o.usage);
    if (typeof o.duration_s === 'number') c.duration = o.duration_s;
    if (o.started_at) c.started = Date.parse(o.started_at) || c.started;
    if (o.ended_at) c.ended = Date.parse(o.ended_at) || c.ended;
    if (Array.isArray(o.transcript) && o.transcript.length >= c.turns.length)
      c.turns = o.transcript.map((t, i) => ({ role: t.role, text: t.text,
                                                seq: t.seq !== undefined ? t.seq : i }));
  }

  async function apiList() {
    let r;
    try {
      r = await fetch('/calls?limit=50', { credentials: 'same-origin' });
    } catch (e) { r = null; }
    api = !!r && r.status === 200;
    $('api').textContent = api ? 'calls API: on' : 'calls API: off (live events only)';
    $('api').className = 'pill ' + (api ? 'on' : 'off');
    if (!api) return;
    const j = await r.json().catch(() => null);
    const list = j && Array.isArray(j.calls) ? j.calls : Array.isArray(j) ? j : [];
    for (const o of list) if (o.call_sid) merge(call(o.call_sid), o);
    render();
  }

  async function apiOne(sid) {
    if (!api) return;
    const r = await fetch('/calls/' + encodeURIComponent(sid),
                          { credentials: 'same-origin' }).catch(() => null);
    if (!r || r.status !== 200) return;
    const o = await r.json().catch(() => null);
    if (o) { merge(call(sid), o.call || o); render(); }
  }

  /* ---- /events ---- */

  function onEvent(m) {
    let c;
    /* the provider still reports a refused caller's call as ended */
    if (m.type !== 'refusal' && m.call_sid && refused.has(m.call_sid)) return;
    switch (m.type) {
    case 'call':
      c = call(m.call_sid);
      c.who = m.who || c.who;
      c.direction = m.direction || c.direction;
      if (c.status === 'unknown') c.status = m.status;
      break;
    case 'status':
      c = call(m.call_sid);
      c.status = m.status;
      if (ended(c) && !c.ended) { c.ended = Date.now(); apiOne(c.sid); }
      break;
    case 'turn':
      c = call(m.call_sid);
      /* someone is talking: answered, whatever callback came last (an
       * answer carrying a machine-detection result is sent as "amd") */
      if (['unknown', 'queued', 'initiated', 'ringing'].indexOf(c.status) >= 0)
        c.status = 'in-progress';
      if (!c.turns.some((t) => t.seq === m.seq))
        c.turns.push({ role: m.role, text: m.text, seq: m.seq });
      break;
    case 'summary':
      c = call(m.call_sid);
      merge(c, m);
      if (!ended(c)) { c.status = 'completed'; c.ended = Date.now(); }
      apiOne(c.sid);
      break;
    case 'refusal':
      if (m.call_sid) { refused.add(m.call_sid); calls.delete(m.call_sid); }
      refusals.unshift({ at: Date.now(), who: m.who, direction: m.direction,
                         reason: m.reason, retry_after: m.retry_after });
      break;
    default:
      return;
    }
    render();
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(proto + '//' + location.host + '/events');
    ws.onopen = () => {
      retryMs = 1000;
      ws.send(JSON.stringify({ op: 'subscribe', call_sid: '*' }));
      $('link').textContent = 'live';
      $('link').className = 'pill on';
      document.body.dataset.live = '1';
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      onEvent(m);
    };
    ws.onclose = () => {
      document.body.dataset.live = '0';
      $('link').textContent = 'offline';
      $('link').className = 'pill off';
      ws = null;
      /* the cookie may have expired: ask before reconnecting */
      setTimeout(start, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    };
  }

  /* ---- sign-in ---- */

  function show(signedIn) {
    $('signin-box').hidden = signedIn;
    $('board').hidden = !signedIn;
    $('signout').hidden = !signedIn;
  }

  async function start() {
    const r = await fetch('/dashboard/session', { credentials: 'same-origin' })
      .catch(() => null);
    if (!r || r.status !== 200) {
      show(false);
      if (r) {
        const j = await r.json().catch(() => ({}));
        if (j.reason && j.reason !== 'missing')
          $('signin-error').textContent = 'Signed out: ' + j.reason;
      }
      return;
    }
    show(true);
    await apiList();
    if (!ws) connect();
  }

  async function signin(ev) {
    ev.preventDefault();
    const body = new URLSearchParams({ token: $('token').value });
    $('token').value = '';
    const r = await fetch('/dashboard/signin', { method: 'POST', body: body,
                                                 credentials: 'same-origin' })
      .catch(() => null);
    if (!r || r.status !== 200) {
      const j = r ? await r.json().catch(() => ({})) : {};
      $('signin-error').textContent = 'Sign-in refused: ' +
        (j.reason || (r ? 'HTTP ' + r.status : 'no answer'));
      return;
    }
    $('signin-error').textContent = '';
    start();
  }

  async function signout() {
    await fetch('/dashboard/signout', { method: 'POST', credentials: 'same-origin' })
      .catch(() => null);
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    calls.clear();
    show(false);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('signin').addEventListener('submit', signin);
    $('signout').addEventListener('click', signout);
    /* the clocks of calls in progress; the rest changes only on events */
    setInterval(() => {
      for (const d of document.querySelectorAll('#active .card')) {
        const c = calls.get(d.dataset.sid);
        if (c) d.querySelector('.duration').textContent = fmtDuration(c);
      }
    }, 1000);
    start();
  });
})();
