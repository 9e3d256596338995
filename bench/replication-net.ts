/**
 * Helpers for bench/replication.ts: real nodes in one process (HTTP and libp2p on 127.0.0.1,
 * ephemeral ports, data under os.tmpdir()), bounded polling, and a count of the bytes written to
 * libp2p and HTTP sockets.
 */
import { mkdtempSync } from 'node:fs'
import type net from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import { ONE_HOST_FLAGS } from '../simulations/sim-node.ts'
import { SocketBytes, watchSockets } from '../simulations/socket-bytes.ts'
import { cleanupOnExit, makeTempDir, removeDir } from './common.ts'

export const ADMIN_TOKEN = 'bench-admin-token'

export interface BenchNodeOptions {
  bootstrap?: SegmeshNode[]
  announce?: boolean
  /** @default 30 (the product default, unlike the tests' 1 s) */
  digestIntervalSeconds?: number
  fetchConcurrency?: number
  fetchPerPeer?: number
  /** Further flags, as on the command line without the dashes. */
  flags?: Record<string, string>
}

/** One temp folder per process for every cluster, removed when the process ends (also on Ctrl-C). */
let processRoot: string | null = null

function tempRoot(): string {
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

  constructor(prefix: string) {
    this.root = mkdtempSync(join(tempRoot(), prefix))
  }

  async start(options: BenchNodeOptions = {}): Promise<SegmeshNode> {
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
      ...ONE_HOST_FLAGS,
      ...options.flags
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
  async remove(node: SegmeshNode): Promise<void> {
    const i = this.nodes.indexOf(node)
    if (i >= 0) this.nodes.splice(i, 1)
    await node.stop(500)
    removeDir(node.config.dataDir)
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.nodes.map(async (n) => await n.stop(500)))
    this.nodes.length = 0
    removeDir(this.root)
  }
}

/** Poll `check` every `everyMs` until it holds; false once `timeoutMs` has passed. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) return false
    await sleep(everyMs)
  }
  return true
}

export function portOf(multiaddr: string): number {
  const m = /\/tcp\/(\d+)/.exec(multiaddr)
  if (m == null) throw new Error(`no TCP port in ${multiaddr}`)
  return Number(m[1])
}

export function httpPortOf(node: SegmeshNode): number {
  return Number(new URL(node.url).port)
}

/**
 * Bytes written to sockets to or from the registered ports (simulations/socket-bytes.ts). Sockets
 * are keyed by their two ports and classified when read, so a node's ports may be registered
 * after its first connections.
 */
export class WireCounter {
  readonly p2pPorts = new Set<number>()
  readonly httpPorts = new Set<number>()
  readonly #bytes = new SocketBytes<string>()

  install(): this {
    const track = (socket: net.Socket): void => this.#bytes.track(socket, `${socket.localPort ?? -1}>${socket.remotePort ?? -1}`)
    watchSockets({ accepted: track, opening: () => track })
    return this
  }

  watch(node: SegmeshNode): void {
    for (const a of node.host?.multiaddrs() ?? []) this.p2pPorts.add(portOf(a))
    this.httpPorts.add(httpPortOf(node))
  }

  /** p2p: libp2p both ways; httpServer: written by HTTP servers (responses); httpClient: requests. */
  snapshot(): { p2p: number; httpServer: number; httpClient: number } {
    const out = { p2p: 0, httpServer: 0, httpClient: 0 }
    for (const [key, n] of this.#bytes.byKind()) {
      const [local, remote] = key.split('>').map(Number) as [number, number]
      if (this.p2pPorts.has(local) || this.p2pPorts.has(remote)) out.p2p += n
      else if (this.httpPorts.has(local)) out.httpServer += n
      else if (this.httpPorts.has(remote)) out.httpClient += n
    }
    return out
  }
}

/** User + system CPU seconds of this process since `since` (all threads, libuv pool included). */
export function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since)
  return (d.user + d.system) / 1e6
}
