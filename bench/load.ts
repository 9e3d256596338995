/**
 * Load (issue 9): a node started as bin/segmesh starts it, holding an hour of 2 s segments of a
 * realistic size (0.75–1.25 MiB, 3–5 Mbit/s), serves 200 concurrent restream clients for a bounded
 * time while a second node backfills from it. Each client behaves like an HLS player: it fetches a
 * 30 s media playlist (half at the live edge, half somewhere in the hour), then three of its
 * segments, and again, at once (saturation) or, with `--paced`, at the speed of playback (each round
 * takes at least the 6 s its three segments last, as a viewer's player does). Reported: requests, errors (must be 0), req/s, MB/s, p50/p99 latency, the
 * serving node's RSS before/peak/after, and backfill throughput during the load against a backfill
 * alone on the same node and data just before (the baseline, same run).
 *
 *   node --import tsx --import ./node/compat.ts bench/load.ts [--quick] [--paced] [--seconds 60] [--clients 200]
 */
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { rssOf } from '../simulations/sim-node.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { formatSegmentRef } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { formatInstant } from '../storage/time.ts'
import { QUICK, RESULT_PREFIX, makeTempDir, mib, prng, removeDir } from './common.ts'
import { flag, fmt, numberOption, printMachine, startSegmeshNode, stopAll, summarize, table } from './http-util.ts'

const SEGMENTS = QUICK ? 150 : 1800
const CLIENTS = numberOption('clients', QUICK ? 50 : 200)
const SECONDS = numberOption('seconds', QUICK ? 8 : 60)
const BASELINE_SECONDS = QUICK ? 4 : 15
/** Players pace themselves like real ones: a round (three 2 s segments) takes at least 6 s. */
const PACED = flag('paced')
const SEGMENT_US = 2_000_000

/** An hour of segments ending now, written through the store (so the node's start finds them indexed). */
async function makeDataset(data: string): Promise<{ start: number; end: number; bytes: number }> {
  const rand = prng(9)
  const end = Math.floor(Date.now() / 1000) * 1_000_000
  const start = end - SEGMENTS * SEGMENT_US
  const index = SegmentIndex.open(join(data, 'index'), { mapSize: 1024 ** 3 })
  const store = new SegmentStore({ segmentsDir: join(data, 'segments'), index })
  let bytes = 0
  for (let i = 0; i < SEGMENTS; i++) {
    const body = randomBytes(Math.floor((0.75 + rand() * 0.5) * 1024 ** 2))
    const ref = formatSegmentRef({
      channel: 'live',
      quality: 'source',
      start: start + i * SEGMENT_US,
      duration: SEGMENT_US,
      type: 'full',
      hash: createHash('sha256').update(body).digest()
    })
    await store.writeSegment(ref, body)
    bytes += body.length
  }
  await index.stop()
  return { start, end, bytes }
}

async function fetchedBytes(url: string): Promise<number> {
  const res = await request(`${url}/metrics`)
  const text = await res.body.text()
  return Number(/^segmesh_bytes_fetched_total (\d+)/m.exec(text)?.[1] ?? 0)
}

/** Bytes a node fetches per second over `seconds` (or until it holds `total`), once its backfill has begun. */
async function backfillRate(url: string, seconds: number, total: number, during?: () => boolean): Promise<{ rate: number; bytes: number }> {
  const began = Date.now()
  while ((await fetchedBytes(url)) === 0) {
    if (Date.now() - began > 60_000) throw new Error(`${url}: backfill did not start within 60 s`)
    await sleep(100)
  }
  const b0 = await fetchedBytes(url)
  const t0 = performance.now()
  let b1 = b0
  while (performance.now() - t0 < seconds * 1000 && (during?.() ?? true) && b1 < total) {
    await sleep(200)
    b1 = await fetchedBytes(url)
  }
  return { rate: (b1 - b0) / ((performance.now() - t0) / 1000), bytes: b1 }
}

interface LoadResult {
  requests: number
  errors: number
  firstErrors: string[]
  bytes: number
  seconds: number
  latency: number[]
  playlists: number
  segments: number
}

/** `CLIENTS` players in a closed loop for `SECONDS`: playlist, three of its segments, repeat. */
async function playerLoad(url: string, dataStart: number, dataEnd: number): Promise<LoadResult> {
  const agent = new Agent({ connections: CLIENTS, headersTimeout: 60_000, bodyTimeout: 60_000 })
  const rand = prng(11)
  const r: LoadResult = { requests: 0, errors: 0, firstErrors: [], bytes: 0, seconds: 0, latency: [], playlists: 0, segments: 0 }
  const deadline = performance.now() + SECONDS * 1000
  const get = async (path: string): Promise<string | null> => {
    const t = performance.now()
    try {
      const res = await request(`${url}${path}`, { dispatcher: agent })
      let text: string | null = null
      if (path.startsWith('/playlist/')) text = await res.body.text()
      else for await (const chunk of res.body) r.bytes += (chunk as Buffer).length
      r.requests++
      r.latency.push(performance.now() - t)
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
      if (text != null) r.bytes += Buffer.byteLength(text)
      return text
    } catch (err) {
      r.errors++
      if (r.firstErrors.length < 5) r.firstErrors.push(`${path}: ${(err as Error).message}`)
      return null
    }
  }
  const player = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const round = performance.now()
      const live = rand() < 0.5
      const from = live ? dataEnd - 30 * 1_000_000 : dataStart + Math.floor(rand() * (SEGMENTS - 15)) * SEGMENT_US
      const playlist = await get(`/playlist/live/source.m3u8?start=${formatInstant(from)}&end=${formatInstant(from + 30 * 1_000_000)}`)
      r.playlists++
      const uris = (playlist ?? '').split('\n').filter((l) => l.startsWith('/segments/'))
      const at = live ? Math.max(0, uris.length - 3) : Math.floor(rand() * Math.max(1, uris.length - 3))
      for (const uri of uris.slice(at, at + 3)) {
        if (performance.now() >= deadline) break
        await get(uri)
        r.segments++
      }
      const rest = round + (3 * SEGMENT_US) / 1000 - performance.now()
      if (PACED && rest > 0) await sleep(Math.min(rest, deadline - performance.now()))
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: CLIENTS }, player))
  r.seconds = (performance.now() - t0) / 1000
  await agent.close()
  return r
}

async function main(): Promise<void> {
  printMachine()
  console.log(
    `load: ${SEGMENTS} segments (${((SEGMENTS * 2) / 60).toFixed(0)} min), ${CLIENTS} ${PACED ? 'paced' : 'closed-loop'} players for ${SECONDS} s, backfill baseline ${BASELINE_SECONDS} s${QUICK ? ' (quick: figures not comparable)' : ''}`
  )
  const work = makeTempDir('segmesh-load-')
  try {
    const dataA = join(work, 'a')
    const made = performance.now()
    const data = await makeDataset(dataA)
    console.log(`dataset: ${SEGMENTS} segments, ${mib(data.bytes)} in ${fmt((performance.now() - made) / 1000)} s`)
    const a = await startSegmeshNode('serving', dataA, [])
    if (a.multiaddr == null) throw new Error('serving node printed no multiaddr')

    // Baseline: a backfill alone.
    const b1 = await startSegmeshNode('backfill-alone', join(work, 'b1'), ['--bootstrap', a.multiaddr])
    const alone = await backfillRate(b1.url, BASELINE_SECONDS, data.bytes)
    await b1.child.stop()

    // The same backfill from scratch on a fresh node, with the players running.
    const loadAvgBefore = loadavg()
    const rssBefore = (await rssOf(a.child.pid)) ?? 0
    let rssPeak = rssBefore
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        rssPeak = Math.max(rssPeak, (await rssOf(a.child.pid)) ?? 0)
        await sleep(250)
      }
    })()
    const b2 = await startSegmeshNode('backfill-loaded', join(work, 'b2'), ['--bootstrap', a.multiaddr])
    let loading = true
    const loaded = backfillRate(b2.url, SECONDS, data.bytes, () => loading)
    const load = await playerLoad(a.url, data.start, data.end)
    loading = false
    const during = await loaded
    const loadAvgDuring = loadavg()
    await b2.child.stop()
    await sleep(5000)
    sampling = false
    await sampler
    const rssAfter = (await rssOf(a.child.pid)) ?? 0
    await a.child.stop()

    const lat = summarize(load.latency)
    const result = {
      segments: SEGMENTS,
      clients: CLIENTS,
      paced: PACED,
      seconds: load.seconds,
      requests: load.requests,
      playlists: load.playlists,
      segmentRequests: load.segments,
      errors: load.errors,
      firstErrors: load.firstErrors,
      reqPerSec: load.requests / load.seconds,
      mbPerSec: load.bytes / load.seconds / 1e6,
      latencyMs: { p50: lat.median, p99: lat.p99, max: lat.max },
      rss: { before: rssBefore, peak: rssPeak, after: rssAfter },
      backfill: {
        aloneMBps: alone.rate / 1e6,
        duringMBps: during.rate / 1e6,
        ratio: during.rate / alone.rate,
        finishedDuringLoad: during.bytes >= data.bytes
      },
      loadavg: { before: loadAvgBefore.map((x) => Number(x.toFixed(2))), during: loadAvgDuring.map((x) => Number(x.toFixed(2))) }
    }
    console.log(
      table(
        ['figure', 'value'],
        [
          ['requests (playlists + segments)', `${result.requests} (${load.playlists} + ${load.segments})`],
          ['errors', `${result.errors}${load.firstErrors.length > 0 ? `: ${load.firstErrors.join('; ')}` : ''}`],
          ['req/s', fmt(result.reqPerSec, 0)],
          ['MB/s served', fmt(result.mbPerSec, 0)],
          ['latency p50 / p99 / max', `${fmt(lat.median)} / ${fmt(lat.p99)} / ${fmt(lat.max)} ms`],
          ['serving RSS before / peak / after', `${mib(rssBefore)} / ${mib(rssPeak)} / ${mib(rssAfter)}`],
          ['backfill alone (baseline)', `${fmt(result.backfill.aloneMBps)} MB/s`],
          [
            'backfill during load',
            `${fmt(result.backfill.duringMBps)} MB/s (${fmt(result.backfill.ratio, 2)}× the baseline)${result.backfill.finishedDuringLoad ? ', all of it fetched during the load' : ''}`
          ],
          ['load average before / during', `${result.loadavg.before.join(' ')} / ${result.loadavg.during.join(' ')}`]
        ]
      )
    )
    console.log(`${RESULT_PREFIX}${JSON.stringify(result)}`)
    if (load.errors > 0) process.exitCode = 1
  } finally {
    await stopAll()
    removeDir(work)
  }
}

await main()
