/**
 * The recorder's cost, against baselines measured in the same run:
 *
 * 1. Throughput: a local origin publishes N real 2 s segments at once; time until all are stored.
 *    - `naive`: undici GETs (16 at once) written with writeFile, nothing else: what a bare
 *      downloader costs;
 *    - `naive + fsync`: the same with each file fsync'd: the price of durability alone;
 *    - `recorder`: the real thing (playlist poll and parse, temp file, fsync, hash, rename, folder
 *      fsync, LMDB index).
 *    Rounds alternate between the cases, each in a fresh folder. CPU time per segment is this
 *    process's user + system time over the round (the origin runs in it too, alike for all cases).
 * 2. One poll's parsing: `parseMediaPlaylist` + `entryTimes` + `adFlags` against hls-parser's
 *    parse alone, on a 15-entry (Twitch-like) and a 1,000-entry window.
 *
 *   node --import tsx --import ./node/compat.ts bench/ingest.ts [--quick]
 */
import { mkdtemp, open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import HLS from 'hls-parser'
import { Agent, request } from 'undici'
import { adFlags, emptyAdState } from '../ingest/ad-markers.ts'
import { entryTimes, parseMediaPlaylist } from '../ingest/media-playlist.ts'
import { Recorder } from '../ingest/recorder.ts'
import { runLimited } from '../lib/concurrency.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { formatInstant } from '../storage/time.ts'
import { HlsOrigin } from '../test/helpers/hls-origin.ts'
import { QUICK, cleanupOnExit, interleaved, machineInfo, makeTempDir, ms, ratio, stats, table } from './common.ts'

const SEGMENTS = QUICK ? 40 : 300
const ROUNDS = QUICK ? 1 : 3
const CONCURRENCY = 16

console.log('== ingest benchmark ==')
console.log(machineInfo())
const root = makeTempDir('segmesh-bench-ingest-')
cleanupOnExit(root)
const closers: Array<() => Promise<void>> = []
// The fixture cache holds 1,800-segment and small sets; a 300-segment window is cut from the first.
const origin = await HlsOrigin.start(
  {
    after: (fn) => {
      closers.push(fn)
    }
  },
  { count: QUICK ? 40 : 1800, window: SEGMENTS, initial: SEGMENTS }
)
const bytes = origin.segments.slice(0, SEGMENTS).reduce((n, s) => n + s.bytes.length, 0)

async function naive(fsync: boolean): Promise<void> {
  const dir = await mkdtemp(join(root, 'naive-'))
  const agent = new Agent({ connections: CONCURRENCY })
  await runLimited(
    Array.from({ length: SEGMENTS }, (_, i) => async () => {
      const res = await request(origin.mediaUrl().replace('index.m3u8', `seg${i}.ts`), { dispatcher: agent })
      const body = Buffer.from(await res.body.arrayBuffer())
      const path = join(dir, `${i}.ts`)
      if (!fsync) {
        await writeFile(path, body)
        return
      }
      const fh = await open(path, 'w')
      await fh.write(body)
      await fh.sync()
      await fh.close()
    }),
    CONCURRENCY
  )
  await agent.close()
}

async function recorder(): Promise<void> {
  const dir = await mkdtemp(join(root, 'rec-'))
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 256 * 1024 ** 2 })
  const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
  const rec = new Recorder({
    channels: [{ channel: 'bench', url: origin.mediaUrl(), qualities: ['source'], important: false }],
    store,
    options: { pollMs: 20, maxDownloads: CONCURRENCY }
  })
  rec.start()
  while (index.segmentsStartingIn('bench', 'source', 0, Number.MAX_SAFE_INTEGER).length < SEGMENTS)
    await new Promise((resolve) => setTimeout(resolve, 5))
  await rec.stop()
  await index.stop()
}

const cases = { naive: async () => await naive(false), 'naive + fsync': async () => await naive(true), recorder }
const wall = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]))
const cpu = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]))
await recorder() // warm-up: JIT, page cache of the fixtures
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, run] of Object.entries(cases)) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await run()
    wall.get(name)!.push(performance.now() - t0)
    const c = process.cpuUsage(c0)
    cpu.get(name)!.push((c.user + c.system) / 1000)
  }
}
for (const close of closers) await close()

console.log()
console.log(`-- throughput: ${SEGMENTS} segments (${(bytes / 1024 ** 2).toFixed(1)} MiB) published at once, ${ROUNDS} rounds, median --`)
const base = stats(wall.get('naive')!).median
console.log(
  table(
    ['case', 'wall', 'segments/s', 'MiB/s', 'CPU ms/segment', 'time vs naive'],
    Object.keys(cases).map((name) => {
      const w = stats(wall.get(name)!).median
      const c = stats(cpu.get(name)!).median
      return [
        name,
        ms(w),
        (SEGMENTS / (w / 1000)).toFixed(0),
        (bytes / 1024 ** 2 / (w / 1000)).toFixed(1),
        (c / SEGMENTS).toFixed(2),
        `${(w / base).toFixed(2)}×`
      ]
    })
  )
)

function mediaPlaylist(entries: number): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:1000']
  const t0 = Date.UTC(2026, 0, 1) * 1000
  for (let i = 0; i < entries; i++)
    lines.push(
      `#EXT-X-PROGRAM-DATE-TIME:${formatInstant(t0 + i * 2_002_000)}`,
      '#EXTINF:2.002,live',
      `https://video-edge.example.net/v1/segment/abcdefghijklmnop${i}.ts`
    )
  return lines.join('\n') + '\n'
}

console.log()
console.log("-- one poll's parsing, median of interleaved rounds --")
const rows: string[][] = []
for (const entries of [15, 1000]) {
  const text = mediaPlaylist(entries)
  const results = await interleaved(
    [
      { name: 'hls-parser parse', run: () => HLS.parse(text) },
      {
        name: 'recorder',
        run: () => {
          const parsed = parseMediaPlaylist(text, 'https://example.net/index.m3u8')
          const times = entryTimes(parsed.entries, () => undefined, 0, 10_000)
          adFlags(
            parsed.entries,
            times.map((t) => t.start),
            emptyAdState()
          )
        }
      }
    ],
    { warmup: 20, iterations: entries > 100 ? 200 : 3000, maxMs: QUICK ? 500 : 4000 }
  )
  const h = results.get('hls-parser parse')!
  const r = results.get('recorder')!
  rows.push([`${entries} entries`, ms(h.median), ms(r.median), ratio(r.median, h.median)])
}
console.log(table(['window', 'hls-parser alone', 'recorder (parse + times + ads)', 'recorder / alone'], rows))
