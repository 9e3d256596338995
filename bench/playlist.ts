/**
 * Playlist generation: `GET /playlist/c/q.m3u8?start&end` for a 1 h and a 24 h range over real
 * HTTP (the app in its own process, bench/playlist-server.ts): warm; cold (empty selector and
 * rendered-hour caches, swapped in by a bench-only route); and a fresh server process's first
 * request. Plus
 * in-process baselines measured in the same run: the raw selection, rendering, and hls-parser's
 * stringify (quadratic, so only up to 1 h and a few iterations). A naive writer (as first shipped)
 * (bench/playlist-render-naive.ts) is measured beside the real one, in process and over HTTP.
 *
 *   node --import tsx --import ./node/compat.ts bench/playlist.ts [--quick]
 *     --rounds N    HTTP rounds (default 100; each times cold and warm, 1 h and 24 h), bounded by --max-seconds (default 60)
 *     --fresh N     24 h requests each sent as the first one to a newly started server process (default 10)
 *
 * The index holds 26 h of back-to-back 2 s segments of one channel/quality (synthetic entries;
 * no segment files exist). Everything lives in a temp folder that is removed at the end.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import HLS from 'hls-parser'
import { Agent, request } from 'undici'
import { HOLE, type Selection, SegmentSelector } from '../storage/best-segments.ts'
import { type IndexChange, SegmentIndex } from '../storage/segment-index.ts'
import { formatSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, MICROS_PER_SECOND, formatInstant } from '../storage/time.ts'
import { type MediaPlan, planMediaPlaylist, segmentUri } from '../http/playlist.ts'
import { MediaPlaylistWriter } from '../http/playlist-cache.ts'
import { naiveMediaPlaylistChunks } from './playlist-render-naive.ts'
import {
  type Summary,
  ROOT,
  TSX_ARGS,
  flag,
  fmt,
  machine,
  numberOption,
  printMachine,
  startChild,
  stopAll,
  summarize,
  table
} from './http-util.ts'

const QUICK = flag('quick')
const HTTP_ROUNDS = numberOption('rounds', QUICK ? 10 : 100)
const HTTP_MAX_MS = numberOption('max-seconds', QUICK ? 10 : 60) * 1000
const FRESH_PROCESSES = numberOption('fresh', QUICK ? 2 : 10)
const CHANNEL = 'desertbus'
const QUALITY = 'source'
const HOURS = 26
const SEGMENT_US = 2 * MICROS_PER_SECOND
const PER_HOUR = MICROS_PER_HOUR / SEGMENT_US
/** 2020-01-01T00:00:00Z in µs, as in the tests. Far in the past, so every playlist is complete (ENDLIST). */
const T0 = Date.UTC(2020, 0, 1) * 1000
/** 24 h inside the 26 indexed hours, so the hour before start (which selection also reads) exists. */
const RANGES = [
  { label: '1 h', start: T0 + 12 * MICROS_PER_HOUR, end: T0 + 13 * MICROS_PER_HOUR },
  { label: '24 h', start: T0 + MICROS_PER_HOUR, end: T0 + 25 * MICROS_PER_HOUR }
] as const
const GOAL_MS = 50

async function populate(index: SegmentIndex): Promise<number> {
  const began = performance.now()
  for (let h = 0; h < HOURS; h++) {
    const changes: IndexChange[] = []
    for (let i = 0; i < PER_HOUR; i++) {
      const start = T0 + h * MICROS_PER_HOUR + i * SEGMENT_US
      const ref = formatSegmentRef({ channel: CHANNEL, quality: QUALITY, start, duration: SEGMENT_US, type: 'full', hash: randomBytes(32) })
      changes.push({ op: 'put-segment', ref, size: 700_000 + ((i * 7919) % 100_000), mtimeMs: start / 1000 + 2500 })
    }
    await index.apply(changes)
  }
  return performance.now() - began
}

type Writer = (plan: MediaPlan) => Iterable<string | Buffer>

/**
 * Plan and write a playlist as the route does: chunk by chunk, each turned into bytes as the socket
 * write would (joining the chunks into one string instead costs more than writing them).
 */
function render(selection: Selection, end: number, writer: Writer): number {
  let bytes = 0
  for (const chunk of writer(planMediaPlaylist(selection, end, Date.now() * 1000)))
    bytes += typeof chunk === 'string' ? Buffer.from(chunk).length : chunk.length
  return bytes
}

function renderText(selection: Selection, end: number, writer: Writer): string {
  return [...writer(planMediaPlaylist(selection, end, Date.now() * 1000))].map(String).join('')
}

/** The same playlist through hls-parser, as the original would have written it. */
function renderWithHlsParser(selection: Selection, end: number): string {
  const plan = planMediaPlaylist(selection, end, Date.now() * 1000)
  const segments: HLS.types.Segment[] = []
  let discontinuity = false
  for (const e of plan.entries) {
    if (e === HOLE) {
      discontinuity = true
      continue
    }
    segments.push(
      new HLS.types.Segment({
        uri: segmentUri(e),
        duration: e.duration / MICROS_PER_SECOND,
        discontinuity,
        programDateTime: new Date(e.start / 1000),
        mediaSequenceNumber: segments.length
      })
    )
    discontinuity = false
  }
  return HLS.stringify(
    new HLS.types.MediaPlaylist({ version: 3, targetDuration: plan.targetDuration, mediaSequenceBase: 0, endlist: plan.endlist, segments })
  )
}

interface Case {
  name: string
  iterations: number
  maxMs: number
  run: () => Promise<unknown> | unknown
}

/**
 * Round-robin: each round times every case once (until it has its iterations or used its time),
 * so a neighbour's burst lands on all cases alike. `warmup` untimed rounds first.
 */
async function roundRobin(cases: readonly Case[], warmup: number): Promise<Map<string, number[]>> {
  for (let i = 0; i < warmup; i++) for (const c of cases) await c.run()
  const samples = new Map(cases.map((c) => [c.name, [] as number[]]))
  const used = new Map(cases.map((c) => [c.name, 0]))
  for (;;) {
    let ran = false
    for (const c of cases) {
      const mine = samples.get(c.name)!
      if (mine.length >= c.iterations || used.get(c.name)! >= c.maxMs) continue
      const t = performance.now()
      await c.run()
      const ms = performance.now() - t
      mine.push(ms)
      used.set(c.name, used.get(c.name)! + ms)
      ran = true
    }
    if (!ran) return samples
  }
}

const iso = (us: number): string => formatInstant(us).replace(/\.0+Z$/, 'Z')

export interface PlaylistResult {
  machine: ReturnType<typeof machine>
  segments: number
  inProcess: Record<string, Summary>
  http: Record<string, Summary & { ttfbMedian: number; serverCpuMedian: number }>
  bodyBytes: Record<string, number>
}

async function main(): Promise<PlaylistResult> {
  printMachine()
  const dir = await mkdtemp(join(tmpdir(), 'segmesh-bench-playlist-'))
  try {
    const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 1024 ** 3 })
    const insertMs = await populate(index)
    console.log(
      `index: ${HOURS} h × ${PER_HOUR} segments = ${HOURS * PER_HOUR} entries of ${CHANNEL}/${QUALITY} (synthetic, no files), inserted in ${fmt(insertMs / 1000)} s`
    )

    // --- in-process baselines: where the time goes -----------------------------------------------
    const warm = new SegmentSelector(index)
    const warmWriter = new MediaPlaylistWriter(warm)
    const selections = new Map<string, Selection>()
    for (const r of RANGES) selections.set(r.label, await warm.select(CHANNEL, QUALITY, r.start, r.end, { allowHoles: true }))
    const cases: Case[] = []
    for (const r of RANGES) {
      const n = r.label === '1 h' ? 200 : 40
      cases.push({
        name: `select ${r.label}, cold cache`,
        iterations: n,
        maxMs: 15_000,
        run: async () => await new SegmentSelector(index).select(CHANNEL, QUALITY, r.start, r.end, { allowHoles: true })
      })
      cases.push({
        name: `select ${r.label}, warm cache`,
        iterations: n,
        maxMs: 15_000,
        run: async () => await warm.select(CHANNEL, QUALITY, r.start, r.end, { allowHoles: true })
      })
      const selection = selections.get(r.label)!
      cases.push({
        name: `plan + write ${r.label}, cold writer (every hour rendered)`,
        iterations: n,
        maxMs: 15_000,
        run: () => render(selection, r.end, (plan) => new MediaPlaylistWriter(warm).chunks(plan))
      })
      cases.push({
        name: `plan + write ${r.label}, warm writer (hours cached)`,
        iterations: n,
        maxMs: 15_000,
        run: () => render(selection, r.end, (plan) => warmWriter.chunks(plan))
      })
      cases.push({
        name: `select + plan + write ${r.label}, all cold (new selector and writer)`,
        iterations: n,
        maxMs: 15_000,
        run: async () => {
          const selector = new SegmentSelector(index)
          render(await selector.select(CHANNEL, QUALITY, r.start, r.end, { allowHoles: true }), r.end, (plan) =>
            new MediaPlaylistWriter(selector).chunks(plan)
          )
        }
      })
      if (renderText(selection, r.end, (plan) => warmWriter.chunks(plan)) !== renderText(selection, r.end, naiveMediaPlaylistChunks))
        throw new Error('the naive writer (as first shipped) differs')
      cases.push({
        name: `plan + render ${r.label}, naive writer (as first shipped)`,
        iterations: n,
        maxMs: 15_000,
        run: () => render(selection, r.end, naiveMediaPlaylistChunks)
      })
    }
    console.log('in-process baselines (round-robin)…')
    const inProcessSamples = await roundRobin(cases, 3)
    // hls-parser grows quadratically: a few sizes up to 1 h, a few iterations each, time-boxed.
    const hlsSizes = [
      { label: '15 min', minutes: 15 },
      { label: '30 min', minutes: 30 },
      { label: '1 h', minutes: 60 }
    ]
    const sel1h = selections.get('1 h')!
    for (const s of hlsSizes) {
      const slice = sel1h.slice(0, s.minutes * 30)
      const end = RANGES[0].start + s.minutes * 60 * MICROS_PER_SECOND
      const ours = renderText(slice, end, (plan) => warmWriter.chunks(plan))
      const theirs = renderWithHlsParser(slice, end)
      // Same playlist (hls-parser writes a few lines differently, not the segments).
      const count = (text: string): number => text.split('#EXTINF').length - 1
      if (count(ours) !== count(theirs)) throw new Error(`hls-parser rendered ${count(theirs)} segments, we ${count(ours)}`)
      const samples = await roundRobin(
        [{ name: s.label, iterations: QUICK ? 2 : 5, maxMs: 20_000, run: () => renderWithHlsParser(slice, end) }],
        0
      )
      inProcessSamples.set(`hls-parser stringify ${s.label} (${slice.length} segments)`, samples.get(s.label)!)
      inProcessSamples.set(
        `plan + write ${s.label}, cold writer, for comparison`,
        (
          await roundRobin(
            [
              {
                name: s.label,
                iterations: 50,
                maxMs: 5000,
                run: () => render(slice, end, (plan) => new MediaPlaylistWriter(warm).chunks(plan))
              }
            ],
            2
          )
        ).get(s.label)!
      )
    }
    await index.stop()
    const inProcess: Record<string, Summary> = {}
    for (const [name, samples] of inProcessSamples) inProcess[name] = summarize(samples)

    // --- over HTTP, the app in its own process ---------------------------------------------------
    const { child, match } = await startChild(
      'playlist-server',
      process.execPath,
      [...TSX_ARGS, join(ROOT, 'bench/playlist-server.ts'), dir],
      /listening on (\S+)/
    )
    const base = match[1]!
    const agent = new Agent({ connections: 2, keepAliveTimeout: 60_000 })
    const bodyBytes: Record<string, number> = {}
    const get = async (path: string): Promise<{ ttfb: number; total: number; bytes: number; text?: string }> => {
      const t = performance.now()
      const res = await request(base + path, { dispatcher: agent, headersTimeout: 30_000, bodyTimeout: 30_000 })
      const ttfb = performance.now() - t
      let bytes = 0
      for await (const chunk of res.body) bytes += (chunk as Buffer).length
      const total = performance.now() - t
      if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode}`)
      return { ttfb, total, bytes }
    }
    const cpuMs = async (): Promise<number> => {
      const res = await request(`${base}/bench/cpu`, { dispatcher: agent })
      return ((await res.body.json()) as { us: number }).us / 1000
    }
    const cold = async (): Promise<void> => {
      const res = await request(`${base}/bench/cold`, { method: 'POST', dispatcher: agent })
      await res.body.dump()
    }
    const paths = new Map(RANGES.map((r) => [r.label, `/playlist/${CHANNEL}/${QUALITY}.m3u8?start=${iso(r.start)}&end=${iso(r.end)}`]))
    const routes = [
      { label: '', prefix: '' },
      { label: ' (naive writer (as first shipped))', prefix: '/v/fast' }
    ]
    // Correctness once: every segment of the range, ENDLIST, and hls-parser reads the 1 h one.
    for (const r of RANGES) {
      const res = await request(base + paths.get(r.label)!, { dispatcher: agent })
      const text = await res.body.text()
      const proto = await request(`${base}/v/fast${paths.get(r.label)!}`, { dispatcher: agent })
      if ((await proto.body.text()) !== text) throw new Error(`${r.label}: the naive-writer route answers differently`)
      const segments = text.split('#EXTINF').length - 1
      const expected = (r.end - r.start) / SEGMENT_US
      if (res.statusCode !== 200 || segments !== expected || !text.endsWith('#EXT-X-ENDLIST\n'))
        throw new Error(`${r.label}: status ${res.statusCode}, ${segments} segments (expected ${expected})`)
      if (r.label === '1 h' && (HLS.parse(text) as HLS.types.MediaPlaylist).segments.length !== expected)
        throw new Error('hls-parser disagrees')
      bodyBytes[r.label] = Buffer.byteLength(text)
      console.log(`verified GET ${paths.get(r.label)}: 200, ${segments} segments, ENDLIST, ${(bodyBytes[r.label]! / 1e6).toFixed(2)} MB`)
    }
    const timings = new Map<string, { total: number[]; ttfb: number[]; cpu: number[] }>()
    const record = (name: string, t: { ttfb: number; total: number; cpu?: number }): void => {
      let e = timings.get(name)
      if (e == null) timings.set(name, (e = { total: [], ttfb: [], cpu: [] }))
      e.total.push(t.total)
      e.ttfb.push(t.ttfb)
      if (t.cpu != null) e.cpu.push(t.cpu)
    }
    console.log(`HTTP: up to ${HTTP_ROUNDS} rounds or ${HTTP_MAX_MS / 1000} s; each round: cold, then warm, per range…`)
    const began = performance.now()
    for (let round = -3; round < HTTP_ROUNDS && performance.now() - began < HTTP_MAX_MS; round++) {
      for (const r of RANGES) {
        for (const route of routes) {
          const path = route.prefix + paths.get(r.label)!
          await cold()
          // The server's CPU around each request (the /bench/cpu request itself included, ~0.1 ms).
          const cpu0 = await cpuMs()
          const c = await get(path)
          const cpu1 = await cpuMs()
          const w = await get(path)
          const cpu2 = await cpuMs()
          // The first rounds warm the JIT and connections; they are not counted.
          if (round < 0) continue
          record(`GET ${r.label}, cold cache${route.label}`, { ...c, cpu: cpu1 - cpu0 })
          record(`GET ${r.label}, warm cache${route.label}`, { ...w, cpu: cpu2 - cpu1 })
        }
      }
    }
    await agent.close()
    await child.stop()
    // Cold for real: a new server process per sample, and its first request. In memory nothing is
    // cached; on disk the index holds each finished hour's packed best list (written by earlier
    // selections), and the page cache is warm.
    for (let i = 0; i < FRESH_PROCESSES; i++) {
      const fresh = await startChild(
        'playlist-server',
        process.execPath,
        [...TSX_ARGS, join(ROOT, 'bench/playlist-server.ts'), dir],
        /listening on (\S+)/
      )
      const freshAgent = new Agent({ connections: 1 })
      try {
        const t = performance.now()
        const res = await request(fresh.match[1]! + paths.get('24 h')!, {
          dispatcher: freshAgent,
          headersTimeout: 30_000,
          bodyTimeout: 30_000
        })
        const ttfb = performance.now() - t
        const bytes = (await res.body.arrayBuffer()).byteLength
        if (res.statusCode !== 200 || bytes !== bodyBytes['24 h']) throw new Error(`fresh process: ${res.statusCode}, ${bytes} bytes`)
        record('GET 24 h, fresh process (its first request)', { ttfb, total: performance.now() - t })
      } finally {
        await freshAgent.close()
        await fresh.child.stop()
      }
    }
    const http: Record<string, Summary & { ttfbMedian: number; serverCpuMedian: number }> = {}
    for (const [name, t] of timings)
      http[name] = { ...summarize(t.total), ttfbMedian: summarize(t.ttfb).median, serverCpuMedian: summarize(t.cpu).median }

    console.log()
    console.log(
      table(
        ['in process', 'n', 'median ms', 'p95 ms', 'max ms'],
        Object.entries(inProcess).map(([name, s]) => [name, String(s.n), fmt(s.median, 2), fmt(s.p95, 2), fmt(s.max, 2)])
      )
    )
    console.log()
    console.log(
      table(
        ['over HTTP (full body read)', 'n', 'median ms', 'p95 ms', 'first byte ms (median)', 'server CPU ms (median)', 'goal', 'verdict'],
        Object.entries(http).map(([name, s]) => {
          const goal = name.includes('24 h') && !name.includes('naive')
          return [
            name,
            String(s.n),
            fmt(s.median, 2),
            fmt(s.p95, 2),
            fmt(s.ttfbMedian, 2),
            fmt(s.serverCpuMedian, 2),
            goal ? `≤ ${GOAL_MS} ms median` : '',
            goal ? (s.median <= GOAL_MS ? 'met' : 'MISSED') : ''
          ]
        })
      )
    )
    const result: PlaylistResult = { machine: machine(), segments: HOURS * PER_HOUR, inProcess, http, bodyBytes }
    console.log(`HTTP-BENCH-RESULT ${JSON.stringify(result)}`)
    return result
  } finally {
    await stopAll()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
