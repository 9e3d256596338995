// The web player: hls.js plays a node's restream of a chosen range; "mark in" and "mark out" take
// the wall-clock time being shown (the playlist's PROGRAM-DATE-TIME plus the offset into that
// segment) and become a cut link. An empty end is a live range, which hls.js plays live.
import { formatInstant, getJson, h, parseInstant, showProblem } from './common.js'

const DEFAULT_MINUTES = 10
const $ = (id) => document.getElementById(id)
const video = $('video')
const enc = encodeURIComponent
let hls = null
/** The chosen node's /status, for its channels, qualities and newest data. */
let status = null
/** What is playing: { node, channel, quality }. */
let current = null
const marks = { in: null, out: null }

function fillSelect(select, values, chosen) {
  select.replaceChildren(...values.map((v) => Object.assign(document.createElement('option'), { value: v, textContent: v })))
  if (values.includes(chosen)) select.value = chosen
}

const qualitiesOf = (channel) => status?.channels.find((c) => c.channel === channel)?.qualities ?? []

/** The last few minutes of the chosen channel/quality's data. */
function defaultStart() {
  const newest = parseInstant(qualitiesOf($('channel').value).find((q) => q.quality === $('quality').value)?.newest)
  return newest == null ? '' : formatInstant(newest - DEFAULT_MINUTES * 60_000_000)
}

async function loadNode(node, chosen = {}) {
  status = await getJson(`${node}/status`)
  if (status.channels.length === 0) throw new Error(`${node} holds no video yet`)
  fillSelect(
    $('channel'),
    status.channels.map((c) => c.channel),
    chosen.channel
  )
  fillSelect(
    $('quality'),
    qualitiesOf($('channel').value).map((q) => q.quality),
    chosen.quality
  )
  $('start').value = chosen.start ?? defaultStart()
  $('end').value = chosen.end ?? ''
}

function play() {
  const node = $('node').value.trim().replace(/\/+$/, '')
  const channel = $('channel').value
  const quality = $('quality').value
  const range = new URLSearchParams()
  for (const k of ['start', 'end']) if ($(k).value.trim() !== '') range.set(k, $(k).value.trim())
  const url = `${node}/playlist/${enc(channel)}/${enc(quality)}.m3u8${range.size > 0 ? `?${range}` : ''}`
  history.replaceState(null, '', `?${new URLSearchParams({ node, channel, quality, ...Object.fromEntries(range) })}`)
  current = { node, channel, quality }
  marks.in = marks.out = null
  renderCut()
  showProblem('')
  $('mode').textContent = ''
  hls?.destroy()
  if (!window.Hls?.isSupported()) return showProblem('This browser cannot play HLS through Media Source Extensions.')
  hls = new window.Hls()
  hls.on(window.Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return
    showProblem(`Playback stopped: ${data.details}`)
    // The node's JSON error says what was wrong with the range.
    if (data.details === 'manifestLoadError') getJson(url).catch((err) => showProblem(`Cannot play: ${err.message}`))
  })
  hls.on(window.Hls.Events.LEVEL_LOADED, (_event, data) => {
    $('mode').textContent = data.details.live ? '(live)' : '(recorded range)'
  })
  hls.loadSource(url)
  hls.attachMedia(video)
  // Muted autoplay; should the browser refuse, the controls are there.
  video.play().catch(() => {})
}

/** µs since the epoch of the frame being shown, or null before playback starts. */
function playingInstant() {
  const fragments = hls?.levels[Math.max(hls.currentLevel, 0)]?.details?.fragments ?? []
  const t = video.currentTime
  // The last fragment starting at or before t; else the first (playback may begin a few ms
  // before the first fragment's nominal start).
  let frag = null
  for (const f of fragments) {
    if (frag != null && f.start > t) break
    frag = f
  }
  const base = parseInstant(frag?.rawProgramDateTime)
  return base == null ? null : base + Math.round((t - frag.start) * 1e6)
}

function renderCut() {
  $('in').textContent = marks.in == null ? '—' : formatInstant(marks.in)
  $('out').textContent = marks.out == null ? '—' : formatInstant(marks.out)
  if (current != null && marks.in != null && marks.out != null && marks.out > marks.in) {
    const format = $('format').value
    const params = new URLSearchParams({ start: formatInstant(marks.in), end: formatInstant(marks.out), type: $('type').value })
    if ($('holes').checked) params.set('allow_holes', 'true')
    const href = `${current.node}/cut/${enc(current.channel)}/${enc(current.quality)}.${format}?${params}`
    $('cut').replaceChildren(h('a', { href, id: 'cut-link' }, href))
  } else {
    $('cut').textContent =
      marks.in != null && marks.out != null ? 'the out mark must come after the in mark' : 'mark in and out to get a cut link'
  }
}

video.addEventListener('timeupdate', () => {
  const us = playingInstant()
  $('now').textContent = us == null ? '—' : `${formatInstant(us).slice(0, 23).replace('T', ' ')} UTC`
  $('mark-in').disabled = $('mark-out').disabled = us == null
})
for (const which of ['in', 'out']) {
  $(`mark-${which}`).addEventListener('click', () => {
    marks[which] = playingInstant()
    renderCut()
  })
}
/** An MP4 is always a full cut: the type shows it and cannot say otherwise. */
function syncType() {
  const mp4 = $('format').value === 'mp4'
  if (mp4) $('type').value = 'full'
  $('type').disabled = mp4
}
$('format').addEventListener('change', syncType)
syncType()
for (const id of ['type', 'format', 'holes']) $(id).addEventListener('change', renderCut)
$('pick').addEventListener('submit', (event) => {
  event.preventDefault()
  play()
})
$('node').addEventListener('change', () =>
  loadNode($('node').value.trim().replace(/\/+$/, '')).then(
    () => showProblem(''),
    (err) => showProblem(`Cannot read that node: ${err.message}`)
  )
)
$('channel').addEventListener('change', () => {
  fillSelect(
    $('quality'),
    qualitiesOf($('channel').value).map((q) => q.quality)
  )
  $('start').value = defaultStart()
})
$('quality').addEventListener('change', () => {
  $('start').value = defaultStart()
})

const params = new URLSearchParams(location.search)
$('node').value = params.get('node') ?? new URL('.', location.href).href.replace(/\/+$/, '')
try {
  const chosen = Object.fromEntries(['channel', 'quality', 'start', 'end'].filter((k) => params.has(k)).map((k) => [k, params.get(k)]))
  await loadNode($('node').value, chosen)
  play()
} catch (err) {
  showProblem(`Cannot start playback: ${err.message}`)
}
