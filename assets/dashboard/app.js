// The callhook dashboard: one page, five views, fed by the JSON API and the live event stream.
// At central (`/api/health` says `mode: central`) it shows every desk's calls: a Desk column,
// a desk filter, the figures by desk, and Desks instead of Deliveries; no MicroSIP controls.
// Caller text (and desk names) are untrusted: they only ever reach the page through
// textContent/text nodes.
'use strict';
(() => {
  const PAGES = ['now', 'missed', 'calls', 'stats', 'deliveries', 'desks'];
  const ENDED_SHOWN_MS = 30000;

  // --- DOM helpers -------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  // h('li', {class: 'x', data: {number: n}, onclick: f}, 'text', node…): never parses HTML.
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'data') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  // Untrusted text, isolated from the surrounding direction and cut with an ellipsis by CSS.
  const text = (s, cls) => h('bdi', { class: cls ? 't ' + cls : 't', title: s || null }, s || '');

  // Puts `items` into `list` as rows, reusing the row of an unchanged item (so focus and
  // messages survive a refresh) and replacing the others.
  function reconcile(list, items, keyOf, build) {
    const old = new Map([...list.children].map((n) => [n.dataset.key, n]));
    items.forEach((item, i) => {
      const key = keyOf(item);
      const sig = JSON.stringify(item);
      let node = old.get(key);
      old.delete(key);
      if (!node || node.sig !== sig) {
        const fresh = build(item);
        fresh.dataset.key = key;
        fresh.sig = sig;
        if (node) node.replaceWith(fresh);
        node = fresh;
      }
      if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
    });
    for (const node of old.values()) node.remove();
  }

  // --- formatting --------------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, '0');
  function duration(seconds) {
    if (seconds == null) return '';
    const s = Math.max(0, Math.round(seconds));
    const hh = Math.floor(s / 3600);
    const mm = Math.floor((s % 3600) / 60);
    return (hh ? hh + ':' + pad(mm) : mm) + ':' + pad(s % 60);
  }
  const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  function when(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    const t = timeFmt.format(d);
    return d.toDateString() === new Date().toDateString() ? t : dayFmt.format(d) + ', ' + t;
  }
  const timeEl = (iso) => h('time', { datetime: iso, title: iso ? new Date(iso).toLocaleString() : null }, when(iso));
  const percent = (r) => (r == null ? '–' : Math.round(r * 100) + ' %');
  const who = (c) => c.name || c.raw || c.number || 'anonymous';
  const STATUS = { 'in-progress': 'in progress', 'no-answer': 'no answer' };
  const status = (s) => STATUS[s] || s;
  // A desk's clock against central's, as `callhook central desks` says it (positive: behind).
  function skew(ms) {
    if (ms == null) return '–';
    if (Math.abs(ms) <= 2000) return 'ok';
    return duration(Math.abs(ms) / 1000) + (ms > 0 ? ' behind' : ' ahead');
  }
  // YYYY-MM-DD of a local day, as the API takes it.
  const isoDay = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());

  // --- API ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, body) {
    const opts = { credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      opts.method = 'POST';
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'The callhook server does not answer.');
    }
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      // A body that is not JSON: the status says enough.
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      if (res.status === 401) signedOut();
      throw new ApiError(res.status, err.code || 'http_' + res.status, err.message || 'HTTP ' + res.status);
    }
    return data;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, v);
    const s = q.toString();
    return s ? '?' + s : '';
  }

  function banner(message) {
    const b = $('banner');
    b.textContent = message || '';
    b.hidden = !message;
  }

  let source = null;
  function signedOut() {
    if (source) source.close();
    source = null;
    setLive('off', 'Signed out');
    $('banner').dataset.sticky = '1';
    banner('Not signed in. Open the dashboard again with `callhook dashboard` on this computer.');
  }

  // A control button: POSTs, then shows MicroSIP's answer or the error next to it.
  async function act(button, msg, path, body, done) {
    button.disabled = true;
    msg.className = 'msg';
    msg.textContent = 'Sending…';
    try {
      const r = await api(path, body);
      msg.textContent = r && r.result === 'started' ? 'MicroSIP started' : 'Sent to MicroSIP';
      msg.classList.add('ok');
      if (done) done(r);
    } catch (e) {
      msg.textContent = e.message;
      msg.classList.add('err');
    } finally {
      button.disabled = false;
    }
  }

  function controlButton(label, action, path, body, extra) {
    const msg = h('span', { class: 'msg', role: 'status' });
    const b = h('button', { type: 'button', data: { action }, 'aria-label': extra ? label + ' ' + extra : null }, label);
    b.addEventListener('click', () => act(b, msg, path, body));
    return [b, msg];
  }

  // --- desk or central ---------------------------------------------------------------------

  // Central serves the whole team's log: it controls no MicroSIP, and its rows carry a desk.
  let central = false;

  const deskEl = (name) => h('span', { class: 'desk', title: 'Desk' }, text(name));
  // data-desk on a row at central only (a desk's rows stay as they were).
  const deskData = (data, desk) => (central ? Object.assign(data, { desk: desk || '' }) : data);

  function applyMode(health) {
    if (central || !health || health.mode !== 'central') return central;
    central = true;
    document.body.classList.add('central');
    for (const e of document.querySelectorAll('[data-central]')) e.hidden = false;
    for (const e of document.querySelectorAll('[data-desk-only]')) e.hidden = true;
    // The log's Desk column comes second; a desk's table has none at all.
    const head = $('calls-table').tHead.rows[0];
    head.insertBefore(h('th', null, 'Desk'), head.cells[1]);
    loadDeskNames().catch(() => {});
    return true;
  }

  // Whether this is central: the pages fetch their data meanwhile, and wait for it only to
  // render. A server that cannot answer now (its database down) is asked again later.
  function detect() {
    return api('/api/health').then(applyMode, (e) => {
      if (e.status === 0 || e.status >= 500) {
        setTimeout(() => {
          detect().then((isCentral) => {
            if (!isCentral) return;
            $('now-list').replaceChildren();
            renderNow();
            show();
          });
        }, 5000);
      }
      return false;
    });
  }
  const team = detect();

  // The desk filters' choices: each desk name once (a desk added again with a new key keeps
  // its name), the choice made kept.
  function fillDeskFilters(desks) {
    const names = [...new Set(desks.map((d) => d.name))];
    for (const select of document.querySelectorAll('select.desk-filter')) {
      const chosen = select.value;
      select.replaceChildren(
        h('option', { value: '' }, 'all desks'),
        ...names.map((n) => h('option', { value: n }, n))
      );
      select.value = names.includes(chosen) ? chosen : '';
    }
  }

  async function loadDeskNames() {
    const data = await api('/api/desks');
    fillDeskFilters(data.desks || []);
    return data.desks || [];
  }

  // --- Now ---------------------------------------------------------------------------------

  const live = new Map(); // call id -> {call, until}: until is set once the call has ended

  function callState(c) {
    if (c.status !== 'in-progress') return 'ended';
    if (c.answered_at) return 'talking';
    return c.direction === 'in' ? 'ringing' : 'calling';
  }

  const STATE_TEXT = { ringing: 'Ringing', talking: 'Talking', calling: 'Calling', ended: 'Ended' };

  function nowRow({ call: c }) {
    const state = callState(c);
    const since = state === 'talking' ? c.answered_at : c.started_at;
    const dur =
      state === 'ended'
        ? h('span', { class: 'dur' }, duration(c.talk_seconds != null ? c.talk_seconds : c.ring_seconds))
        : h('span', { class: 'dur', data: { since: String(Date.parse(since)) } }, '');
    const label = who(c);
    const row = h(
      'li',
      { class: 'row call ' + state, data: deskData({ callId: c.id, number: c.number || '', state, status: c.status }, c.desk) },
      h('div', { class: 'who' }, text(label, 'name'), c.name || c.raw !== c.number ? text(c.number, 'num') : null),
      central ? deskEl(c.desk) : null,
      h('span', { class: 'state' }, (c.direction === 'in' ? 'In · ' : 'Out · ') + (state === 'ended' ? status(c.status) : STATE_TEXT[state])),
      dur,
      // Central controls no MicroSIP: each desk answers its own calls.
      central ? null : nowActions(c, state, label)
    );
    return row;
  }

  function nowActions(c, state, label) {
    const actions = h('div', { class: 'actions' });
    if (state === 'ringing') {
      actions.append(...controlButton('Answer', 'answer', '/api/answer', {}, label));
      actions.append(...controlButton('Decline', 'decline', '/api/hangup', { which: 'incoming' }, label));
    } else if (state === 'talking' || state === 'calling') {
      const which = state === 'talking' ? 'current' : 'calling';
      actions.append(...controlButton('Hang up', 'hang-up', '/api/hangup', { which }, label));
    } else if (c.number) {
      actions.append(...controlButton('Call back', 'call-back', '/api/dial', { number: c.number }, label));
    }
    return actions;
  }

  function renderNow() {
    const items = [...live.values()].sort((a, b) => (a.call.started_at < b.call.started_at ? 1 : -1));
    reconcile($('now-list'), items, (i) => i.call.id, nowRow);
    $('now-empty').hidden = items.length > 0;
    tick();
  }

  function tick() {
    const t = Date.now();
    for (const e of document.querySelectorAll('.dur[data-since]')) {
      e.textContent = duration((t - Number(e.dataset.since)) / 1000);
    }
    let expired = false;
    for (const [id, entry] of live) {
      if (entry.until && entry.until < t) {
        live.delete(id);
        expired = true;
      }
    }
    if (expired) renderNow();
  }

  async function loadNow() {
    const data = await api('/api/calls' + query({ status: 'in-progress', since: '12h', limit: 50 }));
    await team;
    for (const c of data.calls) if (!live.has(c.id)) live.set(c.id, { call: c });
    renderNow();
  }

  function onCall(c) {
    const ended = c.status !== 'in-progress';
    live.set(c.id, { call: c, until: ended ? Date.now() + ENDED_SHOWN_MS : null });
    renderNow();
  }

  // --- Missed ------------------------------------------------------------------------------

  function missedRow(m) {
    const label = m.name || m.raw || m.number;
    const tries = m.callbacks || 0;
    return h(
      'li',
      { class: 'row missed', data: deskData({ number: m.number, callId: m.last_call_id }, m.desk) },
      h('div', { class: 'who' }, text(label, 'name'), m.name || m.raw !== m.number ? text(m.number, 'num') : null),
      central ? deskEl(m.desk) : null,
      h('span', { class: 'count', title: 'missed calls' }, m.missed + ' missed'),
      h('span', { class: 'tries' }, tries ? tries + (tries === 1 ? ' try' : ' tries') : 'not tried'),
      h('span', { class: 'last' }, 'last ', timeEl(m.last_missed_at)),
      central ? null : h('div', { class: 'actions' }, controlButton('Call back', 'call-back', '/api/dial', { number: m.number }, label))
    );
  }

  async function loadMissed() {
    const desk = $('missed-filter').elements.desk.value;
    const data = await api('/api/missed?unreturned&since=30d' + (desk ? '&desk=' + encodeURIComponent(desk) : ''));
    await team;
    const rows = data.unreturned || [];
    reconcile($('missed-list'), rows, (m) => (central ? m.desk + '\n' + m.number : m.number), missedRow);
    $('missed-empty').hidden = rows.length > 0;
    if (!performance.getEntriesByName('missed-rendered').length) performance.mark('missed-rendered');
  }

  // --- Calls -------------------------------------------------------------------------------

  let callsNext = null;

  function callsParams() {
    const f = new FormData($('calls-filter'));
    const p = {};
    for (const k of ['since', 'until', 'number', 'status', 'direction', 'desk']) p[k] = (f.get(k) || '').trim();
    return p;
  }

  function callRow(c) {
    const open = h('button', { type: 'button', class: 'link', data: { action: 'detail', callId: c.id } }, when(c.started_at));
    open.addEventListener('click', () => showDetail(c.id));
    return h(
      'tr',
      { data: deskData({ callId: c.id, number: c.number || '', status: c.status }, c.desk) },
      h('td', null, open),
      central ? h('td', null, text(c.desk)) : null,
      h('td', null, c.direction),
      h('td', { class: 'status ' + c.status }, status(c.status)),
      h('td', null, text(c.number || 'anonymous')),
      h('td', null, text(c.name || (c.raw !== c.number ? c.raw : ''))),
      h('td', { class: 'num' }, duration(c.ring_seconds)),
      h('td', { class: 'num' }, duration(c.talk_seconds))
    );
  }

  async function loadCalls(more) {
    const p = callsParams();
    $('calls-csv').href = '/api/calls' + query(Object.assign({}, p, { limit: 1000, format: 'csv' }));
    const data = await api('/api/calls' + query(Object.assign({ limit: 50, cursor: more ? callsNext : null }, p)));
    await team;
    const body = $('calls-body');
    if (!more) body.replaceChildren();
    body.append(...data.calls.map(callRow));
    callsNext = data.next;
    $('calls-older').hidden = !callsNext;
    $('calls-empty').hidden = body.children.length > 0;
  }

  function table(head, rows) {
    return h(
      'div',
      { class: 'scroll' },
      h('table', null, h('thead', null, h('tr', null, head.map((t) => h('th', null, t)))), h('tbody', null, rows))
    );
  }

  // A call's deliveries, the heading included; none at central, which delivers nothing (each
  // desk keeps its own).
  function deliveriesOf(d) {
    if (central) return [];
    const rows = d.deliveries || [];
    return [
      h('h3', null, 'Deliveries'),
      rows.length
        ? table(
            ['Kind', 'Target', 'Status', 'Tries', 'Last error'],
            rows.map((x) =>
              h(
                'tr',
                null,
                h('td', null, x.kind),
                h('td', null, text(x.target)),
                h('td', null, x.status),
                h('td', { class: 'num' }, String(x.attempts)),
                h('td', null, text(x.last_error || ''))
              )
            )
          )
        : h('p', { class: 'empty' }, 'None.'),
    ];
  }

  async function showDetail(id) {
    const panel = $('call-detail');
    const body = $('detail-body');
    panel.hidden = false;
    body.replaceChildren(h('p', null, 'Loading…'));
    try {
      const d = await api('/api/calls/' + encodeURIComponent(id));
      const c = d.call;
      const facts = [
        // Central's detail names the desk beside the call.
        central ? ['Desk', text(d.desk != null ? d.desk : c.desk)] : null,
        ['Number', text(c.number || 'anonymous')],
        ['Caller', text(c.raw || '')],
        ['Name', text(c.name || '')],
        ['Direction', c.direction],
        ['Status', status(c.status)],
        ['Started', timeEl(c.started_at)],
        ['Answered', timeEl(c.answered_at)],
        ['Ended', timeEl(c.ended_at)],
        ['Ring', duration(c.ring_seconds)],
        ['Talk', duration(c.talk_seconds)],
      ];
      body.replaceChildren(
        h('dl', { class: 'facts' }, facts.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
        h('h3', null, 'Events'),
        table(
          ['Time', 'Event', 'Caller', 'By'],
          (d.events || []).map((e) =>
            h(
              'tr',
              null,
              h('td', null, timeEl(e.at)),
              h('td', null, e.event),
              h('td', null, text(e.caller + (e.caller_truncated ? ' …' : ''))),
              h('td', null, text((e.user || '') + '@' + (e.host || '')))
            )
          )
        ),
        ...deliveriesOf(d)
      );
      $('detail-title').textContent = 'Call with ' + who(c);
    } catch (e) {
      body.replaceChildren(h('p', { class: 'msg err' }, e.message));
    }
  }

  // --- Statistics --------------------------------------------------------------------------

  let uplotLoad = null;
  // uPlot (about 50 KB) is fetched only when the statistics are first shown.
  function loadUplot() {
    uplotLoad =
      uplotLoad ||
      new Promise((resolve, reject) => {
        document.head.append(h('link', { rel: 'stylesheet', href: '/assets/uplot.css' }));
        const s = h('script', { src: '/assets/uplot.js' });
        s.onload = () => resolve(window.uPlot);
        s.onerror = () => reject(new Error('The chart library did not load.'));
        document.head.append(s);
      });
    return uplotLoad;
  }

  const charts = {};
  // Bars of calls with the missed ones inside, one per label; x is the label's index.
  function chart(uPlot, id, labels, calls, missed) {
    const box = $(id);
    if (charts[id]) charts[id].destroy();
    box.replaceChildren();
    const bars = uPlot.paths.bars;
    const xs = labels.map((_, i) => i);
    charts[id] = new uPlot(
      {
        width: Math.max(280, box.clientWidth - 16 || 600),
        height: 220,
        scales: { x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] } },
        axes: [
          { values: (u, splits) => splits.map((i) => labels[i] || ''), incrs: [1, 2, 3, 4, 6, 7, 14, 28, 56, 91, 182, 364] },
          { size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] },
        ],
        legend: { live: false },
        cursor: { show: false },
        series: [
          {},
          { label: 'Calls', fill: 'rgba(37,99,235,0.35)', stroke: '#2563eb', paths: bars({ size: [0.7, 40] }), points: { show: false } },
          { label: 'Missed', fill: 'rgba(220,38,38,0.7)', stroke: '#dc2626', paths: bars({ size: [0.35, 20] }), points: { show: false } },
        ],
      },
      [xs, calls, missed],
      box
    );
  }

  function statsParams() {
    const f = new FormData($('stats-period'));
    const period = f.get('period');
    for (const e of document.querySelectorAll('#stats-period .custom')) e.hidden = period !== 'custom';
    const desk = f.get('desk') || '';
    if (period === 'custom') return { since: f.get('since'), until: f.get('until'), desk };
    return { since: period, desk };
  }

  // Days between the first and the last group, those without a call at 0.
  function dayData(groups) {
    const by = new Map(groups.map((g) => [g.group, g]));
    const labels = [], calls = [], missed = [];
    if (groups.length) {
      const [y, m, d] = groups[0].group.split('-').map(Number);
      const end = groups[groups.length - 1].group;
      for (let day = new Date(y, m - 1, d); isoDay(day) <= end && labels.length < 3700; day.setDate(day.getDate() + 1)) {
        const g = by.get(isoDay(day));
        labels.push(dayFmt.format(day));
        calls.push(g ? g.calls : 0);
        missed.push(g ? g.missed : 0);
      }
    }
    return [labels, calls, missed];
  }

  function hourData(groups) {
    const by = new Map(groups.map((g) => [parseInt(g.group, 10), g]));
    const hours = [...Array(24).keys()];
    return [hours.map((x) => pad(x) + 'h'), hours.map((x) => (by.get(x) || {}).calls || 0), hours.map((x) => (by.get(x) || {}).missed || 0)];
  }

  async function loadStats() {
    const p = statsParams();
    const [uPlot, days, hours, desks] = await Promise.all([
      loadUplot(),
      api('/api/stats' + query(Object.assign({ by: 'day' }, p))),
      api('/api/stats' + query(Object.assign({ by: 'hour' }, p))),
      team.then((isCentral) => (isCentral ? api('/api/stats' + query(Object.assign({ by: 'desk' }, p))) : null)),
    ]);
    const t = days.total;
    const tiles = [
      ['Calls', t.calls],
      ['Answered', t.answered],
      ['Missed', t.missed],
      ['Busy / no answer', t.busy + t.no_answer],
      ['Answer rate', percent(t.answer_rate)],
      ['Talk time', duration(t.talk_seconds_total)],
      ['Average talk', duration(t.talk_seconds_average)],
      ['Average ring', duration(t.ring_seconds_average)],
    ];
    $('stats-totals').replaceChildren(...tiles.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, String(v)))));
    chart(uPlot, 'chart-day', ...dayData(days.groups || []));
    chart(uPlot, 'chart-hour', ...hourData(hours.groups || []));
    const busiest = days.busiest_hours || hours.busiest_hours || [];
    $('stats-busiest').replaceChildren(
      ...busiest.slice(0, 5).map((b) => h('li', null, pad(b.hour) + ':00–' + pad((b.hour + 1) % 24) + ':00 · ' + b.calls + ' calls'))
    );
    if (desks) renderDeskStats(desks.groups || []);
  }

  // Central's figures by desk, busiest desk first, with a bar of its share of the calls.
  function renderDeskStats(groups) {
    const rows = [...groups].sort((a, b) => b.calls - a.calls);
    const most = Math.max(1, ...rows.map((g) => g.calls));
    $('stats-desks').replaceChildren(
      ...rows.map((g) =>
        h(
          'tr',
          { data: { desk: g.group } },
          h('td', null, text(g.group)),
          h('td', { class: 'num' }, String(g.calls)),
          h('td', null, h('meter', { min: 0, max: most, value: g.calls, 'aria-hidden': 'true' })),
          h('td', { class: 'num' }, String(g.answered)),
          h('td', { class: 'num' }, String(g.missed)),
          h('td', { class: 'num' }, percent(g.answer_rate)),
          h('td', { class: 'num' }, duration(g.talk_seconds_total)),
          h('td', { class: 'num' }, duration(g.ring_seconds_average))
        )
      )
    );
    $('stats-desks-empty').hidden = rows.length > 0;
  }

  // --- Deliveries --------------------------------------------------------------------------

  function deliveryRow(d) {
    const msg = h('span', { class: 'msg', role: 'status' });
    const retry = h('button', { type: 'button', data: { action: 'retry', id: String(d.id) } }, 'Retry');
    retry.addEventListener('click', () =>
      act(retry, msg, '/api/outbox/' + encodeURIComponent(d.id) + '/retry', {}, () => {
        msg.textContent = 'Queued again';
        refreshSoon();
      })
    );
    return h(
      'li',
      { class: 'row delivery', data: { id: String(d.id), status: d.status } },
      h('div', { class: 'who' }, text(d.kind + ' → ' + d.target, 'name'), d.last_error ? text(d.last_error, 'error') : null),
      h('span', null, d.attempts + (d.attempts === 1 ? ' attempt' : ' attempts')),
      h('span', null, d.next_at ? ['next ', timeEl(d.next_at)] : ''),
      h('div', { class: 'actions' }, retry, msg)
    );
  }

  async function loadDeliveries() {
    const [failed, pending] = await Promise.all([
      api('/api/outbox?status=failed&limit=100'),
      api('/api/outbox?status=pending&limit=100'),
    ]);
    for (const [name, data] of [['failed', failed], ['pending', pending]]) {
      const rows = data.deliveries || [];
      reconcile($('deliveries-' + name), rows, (d) => String(d.id), deliveryRow);
      $('deliveries-' + name + '-empty').hidden = rows.length > 0;
    }
  }

  // --- Desks (central) ---------------------------------------------------------------------

  function deskRow(d) {
    const revoked = d.revoked_at != null;
    const waiting = d.last_backlog;
    return h(
      'tr',
      { class: revoked ? 'revoked' : null, data: { desk: d.name, keyState: revoked ? 'revoked' : 'active' } },
      h(
        'td',
        null,
        h(
          'div',
          { class: 'who' },
          text(d.name, 'name'),
          // The name the desk's own config gives it, when it is not central's.
          d.reported_name && d.reported_name !== d.name ? text('calls itself ' + d.reported_name, 'note') : null
        )
      ),
      h('td', { class: 'key ' + (revoked ? 'revoked' : 'active'), title: d.key || null }, revoked ? ['revoked ', timeEl(d.revoked_at)] : 'active'),
      h('td', null, d.last_contact_at ? timeEl(d.last_contact_at) : 'never'),
      h('td', { class: 'num', title: 'changes the desk still had to send at its last contact' }, waiting == null ? '–' : String(waiting)),
      h('td', null, d.backfilled ? 'done' : 'not yet'),
      h('td', { class: 'num' }, d.calls == null ? '' : String(d.calls)),
      h('td', { title: d.clock_skew_ms == null ? null : d.clock_skew_ms + ' ms' }, skew(d.clock_skew_ms))
    );
  }

  async function loadDesks() {
    const desks = await loadDeskNames();
    reconcile($('desks-body'), desks, (d) => d.name + '\n' + d.created_at, deskRow);
    $('desks-empty').hidden = desks.length > 0;
  }

  // --- pages, live stream ------------------------------------------------------------------

  const loaders = {
    now: loadNow,
    missed: loadMissed,
    calls: () => loadCalls(false),
    stats: loadStats,
    deliveries: loadDeliveries,
    desks: loadDesks,
  };
  let current = null;

  async function load(page) {
    const section = $('page-' + page);
    try {
      await loaders[page]();
      section.dataset.state = 'ready';
    } catch (e) {
      section.dataset.state = 'error';
      if (e.status !== 401) banner(e.message);
      return;
    }
    if (!$('banner').dataset.sticky) banner('');
  }

  async function show() {
    let page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'now';
    // Deliveries are a desk's, Desks central's: the other one's page leads to its own.
    if (page === 'deliveries' || page === 'desks') {
      const isCentral = await team;
      if (isCentral !== (page === 'desks')) {
        page = isCentral ? 'desks' : 'now';
        history.replaceState(null, '', '#' + page);
      }
    }
    current = page;
    for (const p of PAGES) $('page-' + p).hidden = p !== page;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === page) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = 'callhook · ' + page;
    load(page);
  }

  // Events come in bursts (incoming, ring, answer…): the open list is fetched once per burst.
  let refreshTimer = null;
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      if (current === 'missed' || current === 'stats' || current === 'deliveries' || current === 'desks') load(current);
    }, 250);
  }

  function setLive(state, label) {
    const e = $('live');
    e.dataset.live = state;
    e.textContent = label;
  }

  function connect() {
    source = new EventSource('/api/events');
    source.addEventListener('open', () => setLive('on', 'Live'));
    source.addEventListener('error', () => {
      if (source && source.readyState === EventSource.CLOSED) setLive('off', 'Offline');
      else setLive('connecting', 'Reconnecting…');
    });
    source.addEventListener('call', (ev) => {
      let payload;
      try {
        payload = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      // Once the mode is known (at once, but for the first moments), so that a call's row
      // has its desk at central.
      if (payload && payload.data && payload.data.id) team.then(() => onCall(payload.data));
      refreshSoon();
    });
  }

  $('calls-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    $('call-detail').hidden = true;
    load('calls');
  });
  $('calls-older').addEventListener('click', () =>
    loadCalls(true).catch((e) => banner(e.message))
  );
  $('detail-close').addEventListener('click', () => ($('call-detail').hidden = true));
  $('stats-period').addEventListener('submit', (ev) => {
    ev.preventDefault();
    load('stats');
  });
  $('stats-period').elements.period.addEventListener('change', (ev) => {
    if (ev.target.value !== 'custom') load('stats');
    else statsParams();
  });
  $('stats-period').elements.desk.addEventListener('change', () => load('stats'));
  $('missed-filter').addEventListener('submit', (ev) => ev.preventDefault());
  $('missed-filter').elements.desk.addEventListener('change', () => load('missed'));
  $('logout').addEventListener('click', async () => {
    try {
      // The answer redirects to `/`, which now refuses: nothing there to follow.
      await fetch('/logout', { method: 'POST', credentials: 'same-origin', redirect: 'manual' });
    } finally {
      signedOut();
    }
  });
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [id, c] of Object.entries(charts)) c.setSize({ width: Math.max(280, $(id).clientWidth - 16), height: 220 });
    }, 150);
  });
  window.addEventListener('hashchange', show);
  setInterval(tick, 1000);
  // The Now list is kept up to date whatever page is shown.
  if (location.hash !== '#now' && location.hash !== '') loadNow().catch(() => {});
  show();
  connect();
})();
