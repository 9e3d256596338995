/**
 * Backfill throughput: node B starts empty, bootstraps to A and pulls everything A holds through
 * digests and repair, against plain undici downloads of the same files from A's HTTP API at the
 * same concurrency, in the same process and the same rounds.
 */
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream, readdirSync, statSync } from 'node:fs'
import { mkdir, open, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Agent, request } from 'undici'
import { runLimited } from '../lib/concurrency.ts'
import { segmentPath } from '../replication/fetch-http.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { fsyncDir } from '../storage/durable-file.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { QUICK, prng, removeDir } from './common.ts'
import { Cluster, cpuSeconds, until } from './replication-net.ts'

export const CHANNEL = 'desertbus'
export const QUALITY = 'source'
export const SEGMENT_US = 2_000_000

export interface BackfillRun {
  kind: 'baseline' | 'baseline-durable' | 'segmesh'
  /** Downloads at once (baseline), or fetchConcurrency (segmesh). */
  concurrency: number
  /** fetchPerPeer (segmesh only). */
  perPeer?: number
  round: number
  ms: number
  /** segmesh: from B's start() to its first stored segment (bootstrap, hello, digests, listing). */
  startupMs?: number
  bytes: number
  cpuSeconds: number
  complete: boolean
  fetchErrors?: number
}

export interface BackfillResult {
  segments: number
  bytes: number
  setupMs: number
  setupCpuSeconds: number
  runs: BackfillRun[]
}

interface Variant {
  kind: BackfillRun['kind']
  concurrency: number
  perPeer?: number
}

function argNumber(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) return fallback
  const n = Number(process.argv[i + 1])
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`)
  return n
}

/** The plain client: GET each file and write it out, `concurrency` at a time over one Agent. */
async function download(base: string, paths: readonly string[], dir: string, concurrency: number, durable: boolean): Promise<void> {
  await mkdir(dir, { recursive: true })
  const agent = new Agent({ connections: concurrency })
  try {
    await runLimited(
      paths.map((path, i) => async () => {
        const res = await request(base + path, { dispatcher: agent })
        if (res.statusCode !== 200) {
          await res.body.dump()
          throw new Error(`GET ${path}: HTTP ${res.statusCode}`)
        }
        const file = join(dir, `${i}.ts`)
        if (!durable) {
          await pipeline(res.body, createWriteStream(file))
          return
        }
        // What the store does for durability, without the index and replication: hash, fsync, rename, fsync the folder.
        const temp = `${file}.temp`
        const fh = await open(temp, 'wx')
        const hash = createHash('sha256')
        try {
          for await (const chunk of res.body) {
            hash.update(chunk)
            await fh.write(chunk)
          }
          await fh.sync()
        } finally {
          await fh.close()
        }
        hash.digest()
        await rename(temp, file)
        await fsyncDir(dir)
      }),
      concurrency
    )
  } finally {
    await agent.close()
  }
}

function folderBytes(dir: string): number {
  let total = 0
  for (const name of readdirSync(dir)) total += statSync(join(dir, name)).size
  return total
}

export async function backfillPart(): Promise<BackfillResult> {
  const count = argNumber('segments', QUICK ? 300 : 2500)
  const rounds = argNumber('rounds', QUICK ? 1 : 2)
  // fetchPerPeer values to try; fetchConcurrency is the default 8, or the value when larger.
  const perPeerArg = process.argv.indexOf('--per-peer')
  const perPeer = (perPeerArg >= 0 ? process.argv[perPeerArg + 1]! : '3,8').split(',').map(Number)
  if (perPeer.some((p) => !Number.isSafeInteger(p) || p < 1)) throw new Error('--per-peer takes positive integers, e.g. 3,8,16')
  const cluster = new Cluster('backfill-')
  try {
    const a = await cluster.start()
    // ~800 KB per 2 s segment (≈ 3.2 Mbit/s): slices of a random pool, each made unique by its first bytes.
    const random = prng(5)
    const pool = randomBytes(32 * 1024 ** 2)
    const sizes = Array.from({ length: count }, () => 700_000 + Math.floor(random() * 200_000))
    const offsets = sizes.map((s) => Math.floor(random() * (pool.length - s)))
    const base = hourStart(Date.now() * 1000) - 4 * MICROS_PER_HOUR
    const refs: SegmentRef[] = new Array(count)
    const setupCpu = process.cpuUsage()
    const setupStart = performance.now()
    await runLimited(
      sizes.map((size, i) => async () => {
        const body = Buffer.allocUnsafe(size)
        pool.copy(body, 0, offsets[i]!, offsets[i]! + size)
        body.writeUInt32BE(i, 0)
        const { ref } = await a.store.recordSegment(
          { channel: CHANNEL, quality: QUALITY, start: base + i * SEGMENT_US, duration: SEGMENT_US, type: 'full' },
          body
        )
        refs[i] = ref
      }),
      8
    )
    const setupMs = performance.now() - setupStart
    const setupCpuSeconds = cpuSeconds(setupCpu)
    const bytes = sizes.reduce((s, n) => s + n, 0)
    console.log(
      `backfill: ${count} segments, ${(bytes / 1e9).toFixed(2)} GB recorded on A in ${(setupMs / 1000).toFixed(1)} s (${(bytes / 1e6 / (setupMs / 1000)).toFixed(0)} MB/s through recordSegment, 8 at a time)`
    )
    const paths = refs.map(segmentPath)

    // Each fetchPerPeer value next to a plain download with as many requests in flight (with one
    // peer, segmesh has at most fetchPerPeer requests on A; downloads whose body has arrived are
    // made durable outside that limit, within fetchConcurrency), plus, once per round, the plain
    // download with the store's durability steps, to tell durability from the rest.
    const variants: Variant[] = perPeer.flatMap((p, i) => [
      { kind: 'baseline' as const, concurrency: p },
      { kind: 'segmesh' as const, concurrency: Math.max(8, p), perPeer: p },
      ...(i === 0 ? [{ kind: 'baseline-durable' as const, concurrency: p }] : [])
    ])
    const runs: BackfillRun[] = []
    const schedule = Array.from({ length: rounds }, (_, r) => variants.map((v) => ({ ...v, round: r }))).flat()
    for (const v of schedule) {
      const cpu = process.cpuUsage()
      let run: BackfillRun
      if (v.kind !== 'segmesh') {
        const dir = join(cluster.root, `download-${runs.length}`)
        const t = performance.now()
        await download(a.url, paths, dir, v.concurrency, v.kind === 'baseline-durable')
        const ms = performance.now() - t
        const got = folderBytes(dir)
        run = {
          kind: v.kind,
          concurrency: v.concurrency,
          round: v.round,
          ms,
          bytes: got,
          cpuSeconds: cpuSeconds(cpu),
          complete: got === bytes
        }
        removeDir(dir)
      } else {
        const t = performance.now()
        const b = await cluster.start({ bootstrap: [a], fetchConcurrency: v.concurrency, fetchPerPeer: v.perPeer! })
        let first = 0
        const off = b.store.onChange(() => {
          if (first === 0) first = performance.now()
        })
        const complete = await until(() => b.index.totals().segments >= count, 180_000, 10)
        const ms = performance.now() - t
        const cpuS = cpuSeconds(cpu)
        off()
        const f = b.fetcher!.stats()
        const errors = Object.values(f.fetchErrors).reduce((s, n) => s + n, 0) + f.hashMismatches + f.itemsFailed
        run = {
          kind: 'segmesh',
          concurrency: v.concurrency,
          perPeer: v.perPeer!,
          round: v.round,
          ms,
          startupMs: first - t,
          bytes: b.index.totals().bytes,
          cpuSeconds: cpuS,
          complete,
          fetchErrors: errors
        }
        await cluster.remove(b)
      }
      runs.push(run)
      // Untimed: write back what this run left dirty (the plain download never fsyncs), so its
      // writeback is not charged to the next run's fsyncs.
      execFileSync('sync')
      const label = run.kind === 'segmesh' ? `segmesh ${run.concurrency}/${run.perPeer}` : `${run.kind} ×${run.concurrency}`
      console.log(
        `  round ${run.round} ${label.padEnd(22)} ${(run.ms / 1000).toFixed(2)} s  ${(run.bytes / 1e6 / (run.ms / 1000)).toFixed(0)} MB/s  cpu ${run.cpuSeconds.toFixed(1)} s${run.startupMs != null ? `  first segment after ${run.startupMs.toFixed(0)} ms` : ''}${run.complete ? '' : '  INCOMPLETE'}${run.fetchErrors ? `  errors ${run.fetchErrors}` : ''}`
      )
    }
    return { segments: count, bytes, setupMs, setupCpuSeconds, runs }
  } finally {
    await cluster.stopAll()
  }
}
