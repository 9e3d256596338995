/**
 * Read-through segments (http/read-through.ts) against fetching from the holder directly: a holder
 * with N segments on disk, and a reader that holds none and reads through from the holder. Both are
 * the node's real fastify app on 127.0.0.1 in this process, or with `--processes` two `segmesh
 * start` processes (the reader joined to the holder over libp2p, as deployed; only the clients run
 * here). With `--links MBIT` the two processes are machines on a LAN (bench/netns.ts: a network
 * namespace each, every link shaped to MBIT both ways; needs root), the clients outside them: what a
 * deployment looks like, where a node's NIC, not the loopback, bounds what it serves. Every
 * read-through request asks for a segment the reader does not hold yet (a true miss: fetched,
 * streamed, stored).
 *
 *   node --import tsx --import ./node/compat.ts bench/read-through.ts [--quick] [--rounds R] [--processes | --links MBIT]
 *
 * Prints, per round (direct and read-through alternated):
 * - time to first byte, p50 and p95 over 100 sequential requests (distinct segments);
 * - throughput of 32 concurrent clients, each reading its own distinct segments, one after another;
 * - as processes, the CPU time (user + system, all threads) the holder and the reader spent per MiB
 *   the clients received, during the throughput runs.
 */
import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { buildHttpApp } from '../http/app.ts'
import { ReadThrough } from '../http/read-through.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { type SegmentRef, formatSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { QUICK, cleanupOnExit, machineInfo, makeTempDir, ms, stats, table } from './common.ts'
import { numberOption, processCpuSeconds, startSegmeshNode } from './http-util.ts'
import { NamespaceLan } from './netns.ts'
import { join } from 'node:path'

const SEGMENT_BYTES = 1024 * 1024
const SEQUENTIAL = QUICK ? 20 : 100
const CLIENTS = 32
/** Segments each concurrent client reads in a row. */
const PER_CLIENT = QUICK ? 4 : 10
const LINKS_MBIT = numberOption('links', 0)
const PROCESSES = process.argv.includes('--processes') || LINKS_MBIT > 0
const ROUNDS = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || (QUICK ? 1 : 3)
// Distinct segments for every request of both sides: no read-through request finds one already read.
const SEGMENTS = 2 * ROUNDS * (SEQUENTIAL + CLIENTS * PER_CLIENT)

function bytesOf(i: number): Buffer {
  const out = Buffer.allocUnsafe(SEGMENT_BYTES)
  for (let o = 0; o < SEGMENT_BYTES; o += 4) out.writeUInt32LE((i * 2654435761 + o) >>> 0, o)
  return out
}

async function openApp(dir: string, readThrough?: (store: SegmentStore) => ReadThrough) {
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 8 * 1024 ** 3 })
  const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
  const rt = readThrough?.(store)
  await rt?.start()
  const app = await buildHttpApp(
    { index, store, selector: new SegmentSelector(index), ...(rt == null ? {} : { readThrough: rt }) },
    { metrics: false }
  )
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return {
    url,
    store,
    close: async () => {
      await app.close()
      await rt?.stop()
      await index.stop()
    }
  }
}

async function main(): Promise<void> {
  console.log(machineInfo())
  const root = makeTempDir('segmesh-bench-read-through-')
  cleanupOnExit(root)
  const holder = await openApp(join(root, 'holder'))
  const refs: SegmentRef[] = []
  const t0 = Date.UTC(2026, 0, 1) * 1000
  for (let i = 0; i < SEGMENTS; i++) {
    const body = bytesOf(i)
    const ref = formatSegmentRef({
      channel: 'c',
      quality: 'q',
      start: t0 + i * 2_000_000,
      duration: 2_000_000,
      type: 'full',
      hash: sha256(body)
    })
    await holder.store.writeSegment(ref, body)
    refs.push(ref)
  }
  const { holderUrl, readerUrl, pids, close } = PROCESSES ? await asProcesses(root, holder) : await inProcess(root, holder)
  const shape = LINKS_MBIT > 0 ? `two segmesh processes in network namespaces, every link ${LINKS_MBIT} Mbit/s` : 'two segmesh processes'
  console.log(
    `segments ${SEGMENTS} × ${SEGMENT_BYTES / 1024} KiB on the holder; the reader holds none; ${PROCESSES ? shape : 'both apps in this process'}\n`
  )

  const agent = new Agent({ connections: CLIENTS })
  let next = 0
  const take = (): SegmentRef => {
    if (next >= refs.length) throw new Error('out of unread segments: raise SEGMENTS')
    return refs[next++]!
  }

  /** ms to the first body byte, then the body read to its end. */
  const ttfb = async (base: string, ref: SegmentRef): Promise<number> => {
    const started = performance.now()
    const res = await request(`${base}/segments/${segmentRelPath(ref)}`, { dispatcher: agent })
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} for ${segmentRelPath(ref)}`)
    let first = 0
    for await (const _ of res.body) if (first === 0) first = performance.now() - started
    return first
  }

  /** MiB/s the clients received, and the CPU ms the holder and the reader (as processes) spent per MiB. */
  const throughput = async (base: string): Promise<{ mibps: number; cpu: number[] }> => {
    let bytes = 0
    const cpu0 = pids.map(processCpuSeconds)
    const started = performance.now()
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = 0; i < PER_CLIENT; i++) {
          const res = await request(`${base}/segments/${segmentRelPath(take())}`, { dispatcher: agent })
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
          for await (const chunk of res.body) bytes += (chunk as Buffer).byteLength
        }
      })
    )
    const seconds = (performance.now() - started) / 1000
    const mib = bytes / 1024 ** 2
    return { mibps: mib / seconds, cpu: pids.map((pid, i) => ((processCpuSeconds(pid) - cpu0[i]!) * 1000) / mib) }
  }

  const rows: string[][] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const figures: Record<string, { p50: number; p95: number; mibps: number; cpu: number[] }> = {}
    for (const [name, base] of [
      ['direct', holderUrl],
      ['read-through', readerUrl]
    ] as const) {
      const samples: number[] = []
      for (let i = 0; i < SEQUENTIAL; i++) samples.push(await ttfb(base, take()))
      const s = stats(samples)
      figures[name] = { p50: s.median, p95: s.p95, ...(await throughput(base)) }
    }
    const d = figures.direct!
    const r = figures['read-through']!
    rows.push([
      String(round),
      `${ms(d.p50)} / ${ms(d.p95)}`,
      `${ms(r.p50)} / ${ms(r.p95)}`,
      `+${ms(r.p50 - d.p50)}`,
      `${d.mibps.toFixed(0)} MiB/s`,
      `${r.mibps.toFixed(0)} MiB/s`,
      `${(r.mibps / d.mibps).toFixed(2)}×`,
      ...(PROCESSES ? [`${d.cpu[0]!.toFixed(2)} ms`, `${r.cpu[0]!.toFixed(2)} / ${r.cpu[1]!.toFixed(2)} ms`] : [])
    ])
  }
  console.log(
    table(
      [
        'round',
        'TTFB direct p50 / p95',
        'TTFB read-through p50 / p95',
        'p50 difference',
        `${CLIENTS} clients direct`,
        'read-through',
        'ratio',
        ...(PROCESSES ? ['CPU per MiB direct: holder', 'read-through: holder / reader'] : [])
      ],
      rows
    )
  )
  await agent.close()
  await close()
}

/** The reader as an app in this process, asking the holder's app. */
async function inProcess(root: string, holder: Awaited<ReturnType<typeof openApp>>) {
  const reader = await openApp(join(root, 'reader'), (store) => new ReadThrough({ store, candidates: () => [holder.url], maxActive: 256 }))
  return {
    holderUrl: holder.url,
    readerUrl: reader.url,
    pids: [] as number[],
    close: async () => {
      await reader.close()
      await holder.close()
    }
  }
}

/**
 * Holder and reader as `segmesh start` processes (on a LAN of namespaces with `--links`); the reader
 * bootstraps from the holder. The segments are years old, outside the reader's replication window:
 * it never backfills them.
 */
async function asProcesses(root: string, holder: Awaited<ReturnType<typeof openApp>>) {
  await holder.close()
  const lan = LINKS_MBIT > 0 ? new NamespaceLan(2, { rateMbit: LINKS_MBIT }) : null
  if (lan != null) {
    if (process.getuid?.() !== 0) throw new Error('--links needs root (network namespaces)')
    // Before build(): a build that fails halfway leaves what it made.
    process.once('exit', () => lan.tearDown())
    lan.build()
  }
  const start = async (i: number, label: string, extra: string[]) => {
    const dir = join(root, label)
    if (lan != null) return await lan.startNode(i, dir, ['--digest-interval-seconds', '2', ...extra])
    const node = await startSegmeshNode(label, dir, extra)
    return { ...node, multiaddr: node.multiaddr ?? '' }
  }
  const a = await start(0, 'holder', [])
  const b = await start(1, 'reader', ['--bootstrap', a.multiaddr, '--window-hours', '1'])
  const connected = async (): Promise<boolean> => {
    const status = (await (await request(`${b.url}/status`)).body.json()) as { peers: Array<{ connected: boolean }> }
    return status.peers.some((p) => p.connected)
  }
  for (let i = 0; i < 200 && !(await connected()); i++) await new Promise((resolve) => setTimeout(resolve, 100))
  return {
    holderUrl: a.url,
    readerUrl: b.url,
    pids: [a.child.pid, b.child.pid],
    close: async () => {
      await b.child.stop()
      await a.child.stop()
      lan?.tearDown()
    }
  }
}

await main()
