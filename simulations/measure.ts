/** Readings taken from every node of a cluster at a moment: counters, CPU, sockets, and what they served. */
import { readFile, readdir, readlink } from 'node:fs/promises'
import type { Cluster } from './cluster.ts'
import type { NodeCounters } from './counters.ts'
import { socketsOf } from './instrument.ts'
import type { ProbeEvent, WireKind } from './probe.ts'
import { sumCounters } from './report.ts'

export async function totals(cluster: Cluster): Promise<{ sum: NodeCounters; each: NodeCounters[] }> {
  const each = await Promise.all(cluster.nodes.map(async (n) => await n.counters()))
  return { sum: sumCounters(each), each }
}

/** CPU seconds used so far: this process's in one process, else each child's (a restart resets it). */
export async function cpuSeconds(cluster: Cluster): Promise<number[]> {
  const each = await Promise.all(cluster.nodes.map(async (n) => await n.cpuSeconds()))
  if (each.every((c) => c == null)) {
    const { user, system } = process.cpuUsage()
    return [(user + system) / 1e6]
  }
  return each.map((c) => c ?? 0)
}

/** CPU used between two cpuSeconds() readings (a process that restarted counts from 0). */
export function cpuBetween(a: readonly number[], b: readonly number[]): number {
  return b.reduce((sum, x, i) => sum + (x >= (a[i] ?? 0) ? x - (a[i] ?? 0) : x), 0)
}

/**
 * Segment requests each node served (busy answers, which send no bytes, not counted): a recorder
 * every node fetches from carries the fan-out.
 */
export function requestsAnswered(cluster: Cluster, events: readonly ProbeEvent[]): number[] {
  const nodeOf = new Map(cluster.nodes.map((n) => [new URL(n.publicUrl).origin, n.id]))
  const answered = cluster.nodes.map(() => 0)
  for (const e of events) {
    const id = (e.type === 'fetch-request' || e.type === 'fetch-busy') && e.peer != null ? nodeOf.get(new URL(e.peer).origin) : undefined
    if (id != null) answered[id]! += e.type === 'fetch-request' ? 1 : -1
  }
  return answered
}

/**
 * Connected TCP sockets of a process (listening ones left out), from /proc: its fds that are
 * sockets, matched by inode against /proc/PID/net/tcp and tcp6. Null without /proc.
 */
export async function tcpSocketsOf(pid: number): Promise<number | null> {
  const dir = `/proc/${pid}/fd`
  const fds = await readdir(dir).catch(() => null)
  if (fds == null) return null
  const inodes = new Set<string>()
  await Promise.all(
    fds.map(async (fd) => {
      const link = await readlink(`${dir}/${fd}`).catch(() => '')
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1))
    })
  )
  let n = 0
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …; st 0A is LISTEN.
      const f = line.trim().split(/\s+/)
      if (f.length > 9 && f[3] !== '0A' && inodes.has(f[9]!)) n++
    }
  }
  return n
}

/** Sockets each node holds now: in one process by kind from the probe, in a child from /proc (total only). */
export interface SocketReading {
  node: number
  total: number | null
  byKind: Record<WireKind, number> | null
  /** In one process: the most the node held at once so far (its probe's count), and those by kind. */
  max: number | null
  maxByKind: Record<WireKind, number> | null
}

export async function socketReadings(cluster: Cluster): Promise<SocketReading[]> {
  return await Promise.all(
    cluster.nodes.map(async (n) => {
      const own = socketsOf(n.id)
      if (own != null) {
        const total = own.open.p2p + own.open.httpServed + own.open.httpRequested
        return { node: n.id, total: n.up ? total : null, byKind: own.open, max: own.max, maxByKind: own.maxByKind }
      }
      return { node: n.id, total: n.pid == null ? null : await tcpSocketsOf(n.pid), byKind: null, max: null, maxByKind: null }
    })
  )
}

/**
 * Samples socketReadings() (and each node's gossip meshes) every `everyMs` until stopped (a sample
 * still running makes the next wait): the most each node and all nodes together held at any
 * sample. In one process the probes' own maxima are exact; the sum over nodes at one moment only
 * comes from here.
 */
export class SocketSampler {
  readonly perNodeMax: number[]
  processMax = 0
  /**
   * Per node, the longest time it was connected and subscribed to an announcement topic with no
   * peer in that topic's gossip mesh (it then hears new names only by lazy gossip or push-pull), ms.
   */
  readonly meshEmptyMaxMs: number[]
  readonly #meshEmptySince: Array<number | null>
  readonly #cluster: Cluster
  #timer: NodeJS.Timeout | null = null
  #busy = false

  constructor(cluster: Cluster, everyMs: number) {
    this.#cluster = cluster
    this.perNodeMax = cluster.nodes.map(() => 0)
    this.meshEmptyMaxMs = cluster.nodes.map(() => 0)
    this.#meshEmptySince = cluster.nodes.map(() => null)
    this.#timer = setInterval(() => void this.#tick(), everyMs)
    this.#timer.unref()
  }

  async #tick(): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      this.note(await socketReadings(this.#cluster))
      await this.#meshes()
    } catch {
    } finally {
      this.#busy = false
    }
  }

  async #meshes(): Promise<void> {
    const now = Date.now()
    await Promise.all(
      this.#cluster.nodes.map(async (n, i) => {
        const c = n.up ? await n.counters() : null
        if (c == null || c.meshPeersMin !== 0 || c.connections === 0) {
          this.#meshEmptySince[i] = null
          return
        }
        const since = (this.#meshEmptySince[i] ??= now)
        this.meshEmptyMaxMs[i] = Math.max(this.meshEmptyMaxMs[i]!, now - since)
      })
    )
  }

  /** Take a reading made elsewhere into the maxima. */
  note(readings: readonly SocketReading[]): void {
    let sum = 0
    for (const r of readings) {
      sum += r.total ?? 0
      this.perNodeMax[r.node] = Math.max(this.perNodeMax[r.node] ?? 0, r.total ?? 0)
    }
    this.processMax = Math.max(this.processMax, sum)
  }

  stop(): void {
    if (this.#timer != null) clearInterval(this.#timer)
    this.#timer = null
  }
}
