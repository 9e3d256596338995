/**
 * Century-long ranges against a real node (`bin/segmesh start` as a child): a few minutes of real
 * segments in three qualities, then the same hostile requests on every range route, each timed, and
 * the node's RSS read from /proc before and after. Every route is asked once more afterwards: a
 * node that answers 500 to it is broken.
 *
 *   node --import tsx --import ./node/compat.ts bench/hostile-ranges.ts [--rounds N]
 *     --rounds N   times the whole set of hostile requests is sent (default 4)
 *
 * Everything lives in a temp folder that is removed at the end.
 */
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { formatInstant } from '../storage/time.ts'
import { segmentFiles } from '../test/helpers/media.ts'
import { cleanupOnExit, makeTempDir } from './common.ts'
import { ROOT, fmt, numberOption, printMachine, readToEnd, startChild, stopAll, table } from './http-util.ts'

const ROUNDS = numberOption('rounds', 4)
const CHANNEL = 'desertbus'
const QUALITIES = ['source', '480p', '360p']
const SEGMENTS = 60
const T0 = Date.UTC(2020, 0, 1, 10) * 1000
const FIRST = '1685-01-01T00:00:00Z'
const LAST = '2254-12-31T00:00:00Z'

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m == null ? Number.NaN : Number(m[1]) / 1024
}

async function get(url: string, timeoutMs = 120_000): Promise<{ status: number; ms: number }> {
  const t = performance.now()
  const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
  await readToEnd(res.body)
  return { status: res.statusCode, ms: performance.now() - t }
}

const dir = makeTempDir('segmesh-hostile-')
cleanupOnExit(dir)
printMachine()
const index = SegmentIndex.open(join(dir, 'index'))
const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
const files = await segmentFiles(SEGMENTS)
for (const quality of QUALITIES) {
  for (const [i, file] of files.entries()) {
    await store.recordSegment(
      { channel: CHANNEL, quality, start: T0 + i * 2_000_000, duration: 2_000_000, type: 'full' },
      await readFile(file)
    )
  }
}
await index.stop()

const { child, match } = await startChild(
  'segmesh',
  join(ROOT, 'bin/segmesh'),
  ['start', '--data', dir, '--http-host', '127.0.0.1', '--http-port', '0', '--log-level', 'error', '--no-watch', '--no-replication'],
  /^segmesh listening on (\S+)/,
  60_000
)
const base = match[1]!
const century = `start=${FIRST}&end=${LAST}`
const hostile = (q: string): Record<string, string> => ({
  'cut rough': `/cut/${CHANNEL}/${q}.ts?${century}&type=rough&allow_holes=true`,
  'cut rough, range=': `/cut/${CHANNEL}/${q}.ts?range=${FIRST},${LAST}&type=rough&allow_holes=true`,
  'cut fast, no holes': `/cut/${CHANNEL}/${q}.ts?${century}&type=fast`,
  playlist: `/playlist/${CHANNEL}/${q}.m3u8?${century}`,
  'playlist, master': `/playlist/${CHANNEL}.m3u8?${century}`
})
const mid = formatInstant(T0 + 30_000_000)
const ordinary = [
  '/healthz',
  `/playlist/${CHANNEL}/source.m3u8?start=${formatInstant(T0)}&end=${formatInstant(T0 + 60_000_000)}`,
  `/cut/${CHANNEL}/source.ts?start=${formatInstant(T0)}&end=${formatInstant(T0 + 10_000_000)}&type=rough`,
  `/frame/${CHANNEL}/source.png?timestamp=${mid}`,
  `/coverage/${CHANNEL}/source?hours=168`
]

const rows: string[][] = []
const before = rssMiB(child.pid)
let peak = before
const wall = performance.now()
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const q of QUALITIES) {
      for (const [name, path] of Object.entries(hostile(q))) {
        const { status, ms } = await get(`${base}${path}`)
        const rss = rssMiB(child.pid)
        peak = Math.max(peak, rss)
        rows.push([String(round), q, name, String(status), fmt(ms, 0), fmt(rss, 0)])
      }
    }
  }
  console.log(table(['round', 'quality', 'request', 'status', 'ms', 'RSS MiB'], rows))
  console.log(
    `\n${ROUNDS * QUALITIES.length * 5} hostile requests in ${fmt((performance.now() - wall) / 1000, 1)} s; RSS ${fmt(before, 0)} → ${fmt(rssMiB(child.pid), 0)} MiB (peak seen ${fmt(peak, 0)})`
  )
  const after: string[][] = []
  for (const path of ordinary) {
    const { status, ms } = await get(`${base}${path}`)
    after.push([path.split('?')[0]!, String(status), fmt(ms, 0)])
  }
  console.log(`\nafterwards:\n${table(['route', 'status', 'ms'], after)}`)
} finally {
  await child.stop()
  await stopAll()
}
