/**
 * Helpers for bench/replication.ts: real nodes in one process (HTTP and libp2p on 127.0.0.1,
 * ephemeral ports, data under os.tmpdir()), bounded polling, and a count of the bytes written to
 * libp2p and HTTP sockets.
 */
import { mkdtempSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import { ONE_HOST_FLAGS } from '../simulations/sim-node.ts'
import { cleanupOnExit, makeTempDir, removeDir } from './common.ts'

export const ADMIN_TOKEN = 'bench-admin-token'

export interface BenchNodeOptions {
  bootstrap?: SegmeshNode[]
  announce?: boolean
  /** @default 30 (the product default, unlike the tests' 1 s) */
  digestIntervalSeconds?: number
  fetchConcurrency?: number
  fetchPerPeer?: number
}

/** One temp folder per process for every cluster, removed when the process ends (also on Ctrl-C). */
let processRoot: string | null = null

function tempRoot (): string {
  if (processRoot == null) {
    processRoot = makeTempDir('segmesh-bench-replication-')
    cleanupOnExit(processRoot)
  }
  return processRoot
}

/** Nodes sharing one folder under the process's temp folder; stopAll() deletes it. */
export class Cluster {
  readonly root: string
  readonly nodes: SegmeshNode[] = []
  #count = 0

  constructor (prefix: string) {
    this.root = mkdtempSync(join(tempRoot(), prefix))
  }

  async start (options: BenchNodeOptions = {}): Promise<SegmeshNode> {
    const data = join(this.root, `node-${this.#count++}`)
    const flags: Record<string, string | boolean | string[]> = {
      data,
      'http-host': '127.0.0.1',
      'http-port': '0',
      'p2p-host': '127.0.0.1',
      'p2p-port': '0',
      bootstrap: (options.bootstrap ?? []).map((n) => n.host!.multiaddrs()[0]!),
      watch: false,
      'log-level': 'silent',
      announce: options.announce ?? true,
      'admin-token': ADMIN_TOKEN,
      ...ONE_HOST_FLAGS
    }
    if (options.digestIntervalSeconds != null) flags['digest-interval-seconds'] = String(options.digestIntervalSeconds)
    if (options.fetchConcurrency != null) flags['fetch-concurrency'] = String(options.fetchConcurrency)
    if (options.fetchPerPeer != null) flags['fetch-per-peer'] = String(options.fetchPerPeer)
    const config = resolveConfig({ flags })
    // Logs to stderr, so they never mix with the result line on stdout.
    const log = pino({ level: process.env.SEGMESH_BENCH_LOG ?? 'silent' }, pino.destination(2))
    const node = new SegmeshNode({ config, log })
    await node.start()
    this.nodes.push(node)
    return node
  }

  /** Stop a node and delete its data. */
  async remove (node: SegmeshNode): Promise<void> {
    const i = this.nodes.indexOf(node)
    if (i >= 0) this.nodes.splice(i, 1)
    await node.stop(500)
    removeDir(node.config.dataDir)
  }

  async stopAll (): Promise<void> {
    await Promise.allSettled(this.nodes.map(async (n) => await n.stop(500)))
    this.nodes.length = 0
    removeDir(this.root)
  }
}

/** Poll `check` every `everyMs` until it holds; false once `timeoutMs` has passed. */
export async function until (check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) return false
    await sleep(everyMs)
  }
  return true
}

export function portOf (multiaddr: string): number {
  const m = /\/tcp\/(\d+)/.exec(multiaddr)
  if (m == null) throw new Error(`no TCP port in ${multiaddr}`)
  return Number(m[1])
}

export function httpPortOf (node: SegmeshNode): number {
  return Number(new URL(node.url).port)
}

function byteLength (chunk: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk)
  if (chunk instanceof Uint8Array) return chunk.byteLength
  return 0
}

/**
 * Bytes handed to socket.write on sockets to or from the registered ports. On loopback every byte
 * is written once, by one end, so the sum over both ends is what crossed the wire (libp2p: after
 * noise and yamux framing; HTTP: headers included). TCP/IP headers are not counted.
 */
export class WireCounter {
  readonly p2pPorts = new Set<number>()
  readonly httpPorts = new Set<number>()
  p2pBytes = 0
  /** Written by the HTTP servers: responses. */
  httpServerBytes = 0
  /** Written by HTTP clients: requests. */
  httpClientBytes = 0

  install (): this {
    const proto = net.Socket.prototype as unknown as { write: (this: net.Socket, ...args: unknown[]) => boolean }
    const original = proto.write
    const counter = this
    proto.write = function (this: net.Socket, ...args: unknown[]): boolean {
      const n = byteLength(args[0])
      const local = this.localPort ?? -1
      const remote = this.remotePort ?? -1
      if (counter.p2pPorts.has(local) || counter.p2pPorts.has(remote)) counter.p2pBytes += n
      else if (counter.httpPorts.has(local)) counter.httpServerBytes += n
      else if (counter.httpPorts.has(remote)) counter.httpClientBytes += n
      return original.apply(this, args)
    }
    return this
  }

  watch (node: SegmeshNode): void {
    for (const a of node.host?.multiaddrs() ?? []) this.p2pPorts.add(portOf(a))
    this.httpPorts.add(httpPortOf(node))
  }

  snapshot (): { p2p: number, httpServer: number, httpClient: number } {
    return { p2p: this.p2pBytes, httpServer: this.httpServerBytes, httpClient: this.httpClientBytes }
  }
}

/** User + system CPU seconds of this process since `since` (all threads, libuv pool included). */
export function cpuSeconds (since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since)
  return (d.user + d.system) / 1e6
}
