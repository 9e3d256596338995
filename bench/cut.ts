/**
 * Cuts over HTTP, in one run: a 60 s and a 1 h fast cut, rough cuts of the same ranges, a full
 * cut of the 60 s range (MPEG-TS streamed and MP4 spooled), and the usual user alternative,
 * `ffmpeg -ss A -to B -i <concatenated segments> -c copy` (fast but keyframe-inaccurate), over
 * the same ranges; and, for the record, the 1 h fast cut with one more ffmpeg copy pass (the way
 * of joining pieces we measured and did not take). Cases run round-robin so a busy spell on this
 * shared machine hits them alike.
 *
 *   node --import tsx --import ./node/compat.ts bench/cut.ts [--quick] [--rounds N]
 *
 * Source: 1800 segments of 2 s (1 h), testsrc 320x180 30 fps + 48 kHz stereo AAC, encoded once
 * by test/helpers/media.ts and cached under os.tmpdir() (about 2 min the first time). The node
 * runs in this process on 127.0.0.1; curl is the client (`-o /dev/null`), so the figures include
 * selection, HTTP and reading every byte. Goals: a 60 s fast cut in ≤ 1.5 s; a 1 h fast cut in at
 * most the rough cut's time + 2 s.
 */
import { execFile } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { link, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import pino from 'pino'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { formatSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { formatInstant, formatSeconds } from '../storage/time.ts'
import { segmentFiles } from '../test/helpers/media.ts'
import { QUICK, cleanupOnExit, machineInfo, makeTempDir, ms, stats, table } from './common.ts'

const run = promisify(execFile)
const ROUNDS = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || (QUICK ? 1 : 3)
const SEGMENTS = 1800
const T0 = Date.UTC(2020, 0, 1) * 1000
const S = 1_000_000

interface Range {
  label: string
  start: number
  end: number
}
/** Both edges mid-segment and mid-frame, so both are re-encoded. */
const MINUTE: Range = { label: '60 s', start: T0 + 600_510_000, end: T0 + 660_510_000 }
const HOUR: Range = { label: '1 h', start: T0 + 510_000, end: T0 + 3_599_710_000 }

interface Sample {
  totalMs: number
  ttfbMs: number
  bytes: number
}

console.log('== cut benchmark ==')
console.log(machineInfo())
console.log(`rounds   ${ROUNDS}`)

const work = makeTempDir('segmesh-bench-cut-')
cleanupOnExit(work)
let t = performance.now()
const files = await segmentFiles(SEGMENTS)
console.log(`source: ${files.length} segments (${((performance.now() - t) / 1000).toFixed(1)} s to get)`)

// Hard links into a segment tree: the node indexes them when it starts.
const segmentsDir = join(work, 'data', 'segments')
const sources: string[] = []
for (const [i, file] of files.entries()) {
  const ref = formatSegmentRef({
    channel: 'bench',
    quality: 'source',
    start: T0 + i * 2 * S,
    duration: 2 * S,
    type: 'full',
    hash: sha256(await readFile(file))
  })
  const path = join(segmentsDir, segmentRelPath(ref))
  await mkdir(join(path, '..'), { recursive: true })
  await link(file, path)
  sources.push(path)
}
const config = resolveConfig({
  flags: {
    data: join(work, 'data'),
    'http-host': '127.0.0.1',
    'http-port': '0',
    watch: false,
    replication: false,
    metrics: false,
    'cut-temp-dir': join(work, 'cut-temp')
  }
})
const node = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
t = performance.now()
await node.start()
console.log(`node indexed ${SEGMENTS} segments in ${((performance.now() - t) / 1000).toFixed(1)} s`)

// What a user would have fetched before running ffmpeg themselves: the segments, concatenated.
async function concatenation(range: Range): Promise<string> {
  const first = Math.floor((range.start - T0) / (2 * S))
  const last = Math.ceil((range.end - T0) / (2 * S))
  const out = join(work, `concat-${range.label.replace(' ', '')}.ts`)
  await pipeline(
    (async function* () {
      for (const f of sources.slice(first, last)) yield await readFile(f)
    })(),
    createWriteStream(out)
  )
  return out
}
const concat = { minute: await concatenation(MINUTE), hour: await concatenation(HOUR) }

async function curl(path: string): Promise<Sample> {
  const { stdout } = await run('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{time_starttransfer} %{time_total} %{size_download}',
    `${node.url}${path}`
  ])
  const [code, ttfb, total, size] = stdout.trim().split(' ')
  if (code !== '200') throw new Error(`${path} answered ${code}`)
  return { totalMs: Number(total) * 1000, ttfbMs: Number(ttfb) * 1000, bytes: Number(size) }
}

const cutPath = (range: Range, type: string, ext = 'ts'): string =>
  `/cut/bench/source.${ext}?start=${formatInstant(range.start)}&end=${formatInstant(range.end)}&type=${type}`

/** `ffmpeg -ss -to -c copy` over the concatenation (its timeline starts at the first segment's start). */
async function userCopy(range: Range, input: string, first: number, output = '/dev/null'): Promise<Sample> {
  const began = performance.now()
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-ss',
    formatSeconds(range.start - first),
    '-to',
    formatSeconds(range.end - first),
    '-i',
    input,
    '-c',
    'copy',
    '-f',
    'mpegts',
    output
  ])
  return { totalMs: performance.now() - began, ttfbMs: Number.NaN, bytes: 0 }
}
const firstOf = (range: Range): number => T0 + Math.floor((range.start - T0) / (2 * S)) * 2 * S

/**
 * The design we did not take: pieces joined by one more ffmpeg copy pass that rewrites the
 * timestamps. Emulated as the fast cut piped through `ffmpeg -c copy` (a concat demuxer pass
 * remuxes the same bytes).
 */
async function remuxed(range: Range): Promise<Sample> {
  const began = performance.now()
  await run('sh', [
    '-c',
    `curl -s '${node.url}${cutPath(range, 'fast')}' | ffmpeg -v error -f mpegts -i pipe:0 -map 0 -c copy -f mpegts pipe:1 > /dev/null`
  ])
  return { totalMs: performance.now() - began, ttfbMs: Number.NaN, bytes: 0 }
}

interface Case {
  name: string
  range: Range
  run: () => Promise<Sample>
}
const cases: Case[] = [
  { name: 'fast 60 s', range: MINUTE, run: async () => await curl(cutPath(MINUTE, 'fast')) },
  { name: 'rough 60 s', range: MINUTE, run: async () => await curl(cutPath(MINUTE, 'rough')) },
  { name: 'full 60 s (MPEG-TS, streamed)', range: MINUTE, run: async () => await curl(cutPath(MINUTE, 'full')) },
  { name: 'full 60 s (MP4, spooled)', range: MINUTE, run: async () => await curl(cutPath(MINUTE, 'full', 'mp4')) },
  { name: 'ffmpeg -ss -to -c copy, 60 s', range: MINUTE, run: async () => await userCopy(MINUTE, concat.minute, firstOf(MINUTE)) },
  { name: 'fast 1 h', range: HOUR, run: async () => await curl(cutPath(HOUR, 'fast')) },
  { name: 'rough 1 h', range: HOUR, run: async () => await curl(cutPath(HOUR, 'rough')) },
  { name: 'fast 1 h + ffmpeg copy pass (not taken)', range: HOUR, run: async () => await remuxed(HOUR) },
  { name: 'ffmpeg -ss -to -c copy, 1 h', range: HOUR, run: async () => await userCopy(HOUR, concat.hour, firstOf(HOUR)) }
]

// One untimed round: page cache, JIT, ffmpeg's shared libraries.
for (const c of cases) await c.run()
const samples = new Map<string, Sample[]>(cases.map((c) => [c.name, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) samples.get(c.name)!.push(await c.run())
  console.log(`round ${round + 1}/${ROUNDS} done`)
}

// How far off the user's copy lands: it can only start at a keyframe.
const frames = async (file: string): Promise<number> =>
  Number(
    (
      await run('ffprobe', [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-count_packets',
        '-show_entries',
        'stream=nb_read_packets',
        '-of',
        'csv=p=0',
        file
      ])
    ).stdout
      .trim()
      .split('\n')[0]
  )
const copied = join(work, 'copy-60s.ts')
await userCopy(MINUTE, concat.minute, firstOf(MINUTE), copied)
const fastCopy = join(work, 'fast-60s.ts')
await run('curl', ['-s', '-o', fastCopy, `${node.url}${cutPath(MINUTE, 'fast')}`])
const [copyFrames, fastFrames] = [await frames(copied), await frames(fastCopy)]

const seconds = (r: Range): number => (r.end - r.start) / S
const rows = cases.map((c) => {
  const s = samples.get(c.name)!
  const total = stats(s.map((x) => x.totalMs))
  const ttfb = stats(s.map((x) => x.ttfbMs))
  return {
    name: c.name,
    total,
    row: [
      c.name,
      ms(total.median),
      ms(total.max),
      Number.isNaN(ttfb.median) ? '' : ms(ttfb.median),
      `${(seconds(c.range) / (total.median / 1000)).toFixed(0)}×`,
      s[0]!.bytes > 0 ? `${(s[0]!.bytes / 1024 ** 2).toFixed(1)} MiB` : ''
    ]
  }
})
const median = (name: string): number => rows.find((r) => r.name === name)!.total.median
console.log()
console.log(
  table(
    ['case', 'median', 'max', 'first byte', '× realtime', 'size'],
    rows.map((r) => r.row)
  )
)
console.log()
const fastMinute = median('fast 60 s')
const fastHour = median('fast 1 h')
const roughHour = median('rough 1 h')
console.log(
  table(
    ['goal', 'measured', 'verdict'],
    [
      ['fast 60 s ≤ 1.5 s', ms(fastMinute), fastMinute <= 1500 ? 'met' : 'MISSED'],
      ['fast 1 h ≤ rough 1 h + 2 s', `${ms(fastHour)} vs ${ms(roughHour + 2000)}`, fastHour <= roughHour + 2000 ? 'met' : 'MISSED']
    ]
  )
)
console.log(
  `\nvideo frames in the 60 s range (${seconds(MINUTE) * 30} at 30 fps): fast cut ${fastFrames}, ffmpeg -ss -to -c copy ${copyFrames} (a copy can only start on a keyframe; this ffmpeg starts at the first one after the start)`
)
console.log(`load average at the end: ${(await readFile('/proc/loadavg', 'utf8')).trim()}`)
await node.stop(1000)
