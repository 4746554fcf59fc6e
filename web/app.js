// The live page of `ailinux inspect --serve`: applies what /api/state and the /api/events stream
// send. The server renders the picture, timeline and steps table; this file only places them.
// Falls back to polling /api/state when server-sent events are not available.

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
let lastPictureKey = null;
let lastActive = '';
let pollTimer = null;

function fmtBytes(n) {
  if (n == null || !Number.isFinite(n)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${u[i]}`;
}

function setText(id, text) {
  const el = $(id);
  if (el && el.textContent !== text) el.textContent = text;
}

function setHtml(id, html) {
  const el = $(id);
  if (el && el.dataset.html !== html) {
    el.innerHTML = html;
    el.dataset.html = html;
  }
}

function applyResources(r) {
  if (!r) return;
  const rows = [
    ['load (1/5/15 min)', `${r.load.map((x) => x.toFixed(2)).join(' / ')} on ${r.cpus} CPUs`],
    ['memory available', `${fmtBytes(r.memory.availableBytes)} of ${fmtBytes(r.memory.totalBytes)}`],
    ['disk free', r.disk ? `${fmtBytes(r.disk.freeBytes)} of ${fmtBytes(r.disk.totalBytes)} (${r.disk.path})` : '–'],
    ['build process', r.build ? `pid ${r.build.pid}, ${fmtBytes(r.build.rssBytes)} resident` : 'not running'],
    ['sampled', new Date(r.sampledAt).toLocaleTimeString()],
  ];
  const dl = $('resources');
  dl.replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
}

function followActive() {
  if (!$('follow').checked) return;
  const box = $('picture');
  const el = box.querySelector('g.node.active, g.node.stale');
  if (!el) return;
  // scroll the picture's own box only, never the page
  const r = el.getBoundingClientRect();
  const b = box.getBoundingClientRect();
  box.scrollTop += r.top + r.height / 2 - (b.top + b.height / 2);
  box.scrollLeft += r.left + r.width / 2 - (b.left + b.width / 2);
}

/** Each step's sub-states, as web/expand.js expects them: a <details> per step, opened beside its node on click. */
function stepDetails(steps) {
  const box = document.createElement('div');
  box.className = 'step-details';
  for (const [id, svg] of Object.entries(steps ?? {})) {
    const d = document.createElement('details');
    d.className = 'step-detail';
    d.id = `detail:${id}`;
    d.dataset.step = id;
    const s = document.createElement('summary');
    s.textContent = `${id.slice(id.lastIndexOf('.') + 1)}: its states`;
    d.append(s);
    // in a template: the sub-states enter the page only when the step is opened (web/expand.js)
    const t = document.createElement('template');
    t.innerHTML = svg;
    d.append(t);
    box.append(d);
  }
  return box;
}

function applyPicture(picture) {
  if (!picture?.svg || picture.key === lastPictureKey) return;
  lastPictureKey = picture.key;
  const box = $('picture');
  // the steps open now stay open in the new picture
  const open = window.ailinuxExpand?.openSteps(box) ?? [];
  box.innerHTML = picture.svg;
  box.append(stepDetails(picture.steps));
  window.ailinuxExpand?.wire(box.parentElement);
  window.ailinuxExpand?.reopen(box, open);
  followActive();
}

function apply(p) {
  if (!p) return;
  setText('title', p.title);
  const outcome = $('outcome');
  const label =
    p.outcome === null ? 'no build yet' : p.outcome === 'running' && !p.live ? 'stopped (process gone)' : p.outcome;
  setText('outcome', label);
  outcome.className = `badge outcome-${p.outcome ?? 'none'}${p.live ? '' : ' stale'}`;
  setText('current-step', p.current ?? '–');
  setText('current-state', p.activeStates.join(', ') || '–');
  setText('work-dir', p.workDir);
  setText('updated', p.updatedAt ? new Date(p.updatedAt).toLocaleTimeString() : '–');
  const err = $('error');
  err.hidden = !p.error && !p.pauseReason;
  err.textContent = p.error ?? (p.pauseReason ? `paused: ${p.pauseReason}` : '');

  applyPicture(p.picture);
  const active = p.activeStates.join(',');
  if (active !== lastActive) {
    lastActive = active;
    followActive();
  }
  setHtml('timeline', p.timelineHtml);
  setHtml('steps', p.stepsHtml);
  setText('log-step', p.logTail ? p.logTail.step : '');
  const log = $('log');
  const text = p.logTail ? p.logTail.lines.join('\n') : '(no step has run yet)';
  if (log.textContent !== text) {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.textContent = text;
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
  applyResources(p.resources);
  applyEta(p.eta);
  // for tests and measurements: when this page last applied a state, and which
  document.body.dataset.appliedAt = String(Date.now());
  document.body.dataset.stateUpdatedAt = p.updatedAt ?? '';
  document.body.dataset.current = p.current ?? '';
}

/** The build's ETA from earlier runs: when it should end, and how long that is from now. */
function applyEta(eta) {
  if (!eta) return setText('eta', '–');
  const left = Math.round(eta.remainingMs / 1000);
  const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  const missing = eta.withoutHistory.length ? `; no history for ${eta.withoutHistory.join(', ')}` : '';
  setText('eta', `${new Date(eta.endsAt).toLocaleTimeString()} (~${clock} left${missing})`);
}

async function load() {
  const r = await fetch('/api/state', { cache: 'no-store' });
  if (!r.ok) throw new Error(`/api/state: HTTP ${r.status}`);
  apply(await r.json());
}

function setFeed(text, cls) {
  const f = $('feed');
  f.textContent = text;
  f.className = `feed ${cls}`;
}

function poll() {
  if (pollTimer) return;
  setFeed(`polling every ${POLL_MS / 1000} s`, 'polling');
  const run = () =>
    load().then(
      () => setFeed(`polling every ${POLL_MS / 1000} s`, 'polling'),
      () => setFeed('server unreachable', 'down'),
    );
  run();
  pollTimer = setInterval(run, POLL_MS);
}

function connect() {
  if (!('EventSource' in window)) return poll();
  const es = new EventSource('/api/events');
  let failures = 0;
  es.addEventListener('open', () => {
    failures = 0;
    setFeed('live (server-sent events)', 'live');
  });
  es.addEventListener('state', (ev) => apply(JSON.parse(ev.data)));
  es.addEventListener('resources', (ev) => applyResources(JSON.parse(ev.data)));
  // a new picture that was still rendering when its state was sent
  es.addEventListener('picture', (ev) => applyPicture(JSON.parse(ev.data)));
  es.addEventListener('error', () => {
    failures++;
    setFeed('reconnecting', 'down');
    // after a few failed reconnects, fall back to polling
    if (failures >= 3 || es.readyState === EventSource.CLOSED) {
      es.close();
      poll();
    }
  });
}

$('zoom-fit').addEventListener('click', () => {
  $('picture').classList.add('fit');
  window.ailinuxExpand?.sync($('picture'));
});
$('zoom-actual').addEventListener('click', () => {
  $('picture').classList.remove('fit');
  window.ailinuxExpand?.sync($('picture'));
  followActive();
});
$('follow').addEventListener('change', followActive);

load()
  .catch(() => {})
  .finally(connect);
