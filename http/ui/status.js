// The status page: polls /status and /coverage and redraws in place (no page reloads).
import { formatBytes, formatInstant, formatSeconds, getJson, h, link, plural, showProblem } from './common.js'

const STATUS_EVERY_MS = 5000
const MAP_EVERY_MS = 10000
/** Holes and tombstones narrower than this many seconds are drawn this wide, or they would vanish. */
// Short holes and tombstones drawn at least 1 % of the hour wide (8 s was ~2 px on a laptop row);
// their exact times are in the list under the map.
const MIN_MARK_SECONDS = 36
/** Short events listed under a map, newest hour first (the list is for reading, not an archive). */
const MAX_LISTED_EVENTS = 20
const KIND_NAMES = { full: 'full', partial: 'suspect/partial only', holes: 'hole', tombstoned: 'tombstoned' }
/** Drawing order: the marks that matter most go on top. */
const DRAW_ORDER = ['full', 'partial', 'holes', 'tombstoned']

const hours = new URLSearchParams(location.search).get('hours') ?? '24'
const $ = (id) => document.getElementById(id)
/** channel/quality → its section's parts, kept across refreshes so nothing flickers. */
const sections = new Map()
let lastOk = 0

const fact = (name, ...value) => [h('dt', {}, name), h('dd', {}, ...value)]
const clock = (us) => formatInstant(us).slice(11, 19)

function renderNode(s) {
  $('title-id').textContent = s.peerId == null ? '' : `…${s.peerId.slice(-8)}`
  const t = s.index
  $('node').replaceChildren(
    ...fact('version', s.version),
    ...fact('up for', formatSeconds(s.uptimeSeconds)),
    ...fact('HTTP', link(s.publicUrl ?? location.origin)),
    ...fact('data folder', h('code', {}, s.dataDir ?? s.segmentsDir)),
    ...fact('disk', s.disk == null ? 'unknown' : `${formatBytes(s.disk.freeBytes)} free of ${formatBytes(s.disk.totalBytes)}`),
    ...(s.diskBudget == null ? [] : fact('disk budget', ...renderBudget(s.diskBudget))),
    ...fact(
      'index',
      `${plural(t.segments, 'segment')} (${formatBytes(t.bytes)}) in ${plural(t.hours, 'hour')}, ${plural(t.tombstones, 'tombstone')}`
    ),
    ...fact('peer id', h('code', {}, s.peerId ?? 'replication off')),
    ...fact('multiaddrs', ...(s.multiaddrs.length === 0 ? ['none'] : s.multiaddrs.map((a) => h('div', {}, h('code', {}, a))))),
    ...fact('bootstrap', ...((s.bootstrap ?? []).length === 0 ? ['none'] : s.bootstrap.map(renderBootstrap)))
  )
}

/** --max-disk-bytes: use against the budget, whether it is full or over, and what was evicted. */
function renderBudget(b) {
  const e = b.evictions
  return [
    `${formatBytes(b.usedBytes)} of ${formatBytes(b.maxBytes)}`,
    b.full ? h('span', { class: 'bad' }, ' · full: no hour may be evicted, fetching paused') : '',
    !b.full && b.over ? h('span', { class: 'bad' }, ' · over (recording)') : '',
    ` · evicted ${plural(e.hours, 'hour')} (${formatBytes(e.bytes)})`,
    e.last == null ? '' : `, last at ${e.last.slice(11, 19)}`
  ]
}

/** A --bootstrap peer: connected, dialling, or failed with the reason the node logged. */
function renderBootstrap(b) {
  const cls = b.state === 'connected' ? 'good' : b.state === 'failed' ? 'bad' : 'dim'
  return h(
    'div',
    {},
    h('code', { title: b.addrs.join(' ') }, `…${b.peerId.slice(-12)}`),
    ' ',
    h('span', { class: cls }, b.state),
    b.lastError != null ? ` · ${b.lastError}` : ''
  )
}

function renderPeers(peers) {
  const now = Date.now()
  $('peer-count').textContent = `(${peers.filter((p) => p.connected).length} connected of ${peers.length} known)`
  const rows = peers.map((p) =>
    h(
      'tr',
      {},
      h('td', {}, h('code', { title: p.peerId }, `…${p.peerId.slice(-12)}`)),
      h('td', {}, link(p.url)),
      h('td', { class: p.connected ? 'good' : 'bad' }, p.connected ? 'connected' : 'not connected'),
      h('td', { class: 'num' }, `${formatSeconds(Math.max(0, (now - Date.parse(p.lastSeen)) / 1000))} ago`),
      h('td', { class: p.lagSeconds > 60 ? 'num bad' : 'num' }, p.lagSeconds === 0 ? 'in sync' : formatSeconds(p.lagSeconds)),
      h('td', { class: 'num' }, p.repairs)
    )
  )
  $('peers').tBodies[0].replaceChildren(
    ...(rows.length > 0 ? rows : [h('tr', {}, h('td', { colspan: 6, class: 'dim' }, 'no peers known'))])
  )
}

function syncSections(channels) {
  const seen = new Set()
  for (const { channel, qualities } of channels) {
    for (const q of qualities) {
      const key = `${channel}/${q.quality}`
      seen.add(key)
      let sec = sections.get(key)
      if (sec == null) {
        const play = `player?${new URLSearchParams({ channel, quality: q.quality })}`
        sec = { channel, quality: q.quality, facts: h('p', { class: 'dim' }), map: h('div', { class: 'map', 'data-key': key }) }
        sec.el = h('section', {}, h('h3', {}, `${channel} / ${q.quality} `, h('a', { href: play }, '▶ play')), sec.facts, sec.map)
        sections.set(key, sec)
        $('coverage').append(sec.el)
      }
      sec.facts.textContent = `${plural(q.hours, 'hour')}, ${plural(q.segments, 'segment')}, ${formatBytes(q.bytes)}, ${plural(q.tombstones, 'tombstone')} · newest data ends ${q.newest ?? '—'}`
    }
  }
  for (const [key, sec] of sections)
    if (!seen.has(key)) {
      sec.el.remove()
      sections.delete(key)
    }
}

/** `copies` (GET /copies, or null): per hour, how many nodes hold exactly this node's set of it. */
function renderMap(el, data, copies) {
  const copiesOf = new Map((copies?.hours ?? []).map((c) => [c.hour, c]))
  const axis = h(
    'div',
    { class: 'axis' },
    ...[0, 10, 20, 30, 40, 50, 60].map((m) => {
      const label = h('span', {}, `:${String(m).padStart(2, '0')}`)
      label.style.left = `${(m / 60) * 100}%`
      return label
    })
  )
  const rows = [...data.hours].reverse().map((hour) => {
    const svg = h('svg', {
      viewBox: '0 0 3600 1',
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': `${hour.hour}: ${hour.holes.length} holes, ${hour.tombstoned.length} tombstoned stretches`
    })
    // Before the first recording of this channel/quality: not a hole, not the future either.
    if (hour.before > 0)
      svg.append(
        h(
          'rect',
          { class: 'before', x: 0, y: 0, width: hour.before / 1e6, height: 1 },
          h('title', {}, `before recording began (${clock(hour.start + hour.before)} UTC)`)
        )
      )
    for (const kind of DRAW_ORDER) {
      for (const [from, to] of hour[kind]) {
        const seconds = (to - from) / 1e6
        const width = kind === 'holes' || kind === 'tombstoned' ? Math.max(seconds, MIN_MARK_SECONDS) : seconds
        svg.append(
          h(
            'rect',
            { class: kind, x: from / 1e6, y: 0, width, height: 1, 'data-from': from, 'data-to': to },
            h('title', {}, `${clock(hour.start + from)}–${clock(hour.start + to)} UTC · ${KIND_NAMES[kind]} · ${formatSeconds(seconds)}`)
          )
        )
      }
    }
    for (let m = 10; m < 60; m += 10) svg.append(h('line', { class: 'tick', x1: m * 60, x2: m * 60, y1: 0, y2: 1 }))
    const held = copiesOf.get(hour.hour)
    const count =
      held == null || copies == null
        ? h('span', { class: 'copies dim', title: 'copies unknown' }, '')
        : h(
            'span',
            {
              class: held.segments > 0 && held.copies < copies.minCopies ? 'copies bad' : 'copies',
              title: `${held.copies} node(s) hold this hour as this node does; ${held.holders} hold some of it (of this node and ${copies.peers.asked} peer(s) asked; --min-copies ${copies.minCopies})`
            },
            `×${held.copies}`
          )
    return h(
      'div',
      { class: 'row', 'data-hour': hour.hour },
      h('span', { class: 'label' }, `${hour.hour.slice(5, 10)} ${hour.hour.slice(11)}:00`),
      svg,
      count
    )
  })
  // Holes and tombstones under a minute, which the map can only hint at, with their exact times.
  const short = [...data.hours]
    .reverse()
    .flatMap((hour) =>
      ['tombstoned', 'holes'].flatMap((kind) =>
        hour[kind]
          .filter(([from, to]) => to - from < 60e6)
          .map(([from, to]) =>
            h(
              'li',
              { class: kind },
              `${hour.hour.slice(0, 10)} ${clock(hour.start + from)}–${clock(hour.start + to)} UTC · ${KIND_NAMES[kind]} · ${formatSeconds((to - from) / 1e6)}`
            )
          )
      )
    )
  const list =
    short.length === 0
      ? []
      : [
          h(
            'ul',
            { class: 'events' },
            ...short.slice(0, MAX_LISTED_EVENTS),
            ...(short.length > MAX_LISTED_EVENTS ? [h('li', { class: 'dim' }, `and ${short.length - MAX_LISTED_EVENTS} more`)] : [])
          )
        ]
  el.replaceChildren(axis, ...rows, ...list)
}

async function refreshStatus() {
  try {
    const s = await getJson('status')
    renderNode(s)
    renderPeers(s.peers)
    syncSections(s.channels)
    lastOk = Date.now()
    showProblem('')
  } catch (err) {
    showProblem(`Cannot read this node's status: ${err.message}`)
  }
}

async function refreshMaps() {
  $('map-hours').textContent = `(last ${hours} hours of data)`
  for (const sec of sections.values()) {
    const key = `${encodeURIComponent(sec.channel)}/${encodeURIComponent(sec.quality)}`
    try {
      const coverage = await getJson(`coverage/${key}?hours=${encodeURIComponent(hours)}`)
      // Copies per hour of the same hours; the map is drawn without them if they cannot be had.
      const first = coverage.hours[0]
      const copies =
        first == null ? null : await getJson(`copies/${key}?start=${encodeURIComponent(`${first.hour}:00:00Z`)}`).catch(() => null)
      renderMap(sec.map, coverage, copies)
    } catch (err) {
      sec.map.replaceChildren(h('p', { class: 'bad' }, `coverage unavailable: ${err.message}`))
    }
  }
}

async function every(ms, work, wait = 0) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, wait))
    await work()
    wait = ms
  }
}

const showAge = () => {
  $('updated').textContent = lastOk === 0 ? 'not updated yet' : `updated ${formatSeconds((Date.now() - lastOk) / 1000)} ago`
}
setInterval(showAge, 1000)
await refreshStatus()
showAge()
every(MAP_EVERY_MS, refreshMaps)
every(STATUS_EVERY_MS, refreshStatus, STATUS_EVERY_MS)
