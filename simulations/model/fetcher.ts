/**
 * Downloads as replication/fetcher.ts bounds them: 8 at once per node, 3 per source peer, a source
 * serving at most 8 peers at once (upload slots; past them the asker waits 250 ms), wants of one
 * name merged, the least busy candidate asked first, a source across a partition dropped. A
 * busy source names up to 4 peers that fetched the name from it in full (they become candidates,
 * so first copies spread as a swarm: http/upload-slots.ts). With slots free, a source that served
 * the name in full to 4 peers names them instead, once per asker (asked again, it serves) and
 * only to askers that came by fewer than 2 referrals, for names the source got in the last 10 s
 * (wrote, or fetched: a repair's copies are referred too) (a round trip, and the source is not
 * asked again for 250 ms). A full source names its holders newest first (the likeliest idle), a
 * referral in random order (so askers spread). A download costs a
 * round trip, the bytes through the source's uplink and the asker's downlink, and CPU at both
 * ends (queued on the CPU plan).
 */
import type { Rng } from '../prng.ts'
import { PROTOCOL } from './constants.ts'
import type { Cpu, FifoServers } from './cpu.ts'
import type { Micros } from './events.ts'
import type { Replicas } from './replica.ts'
import type { Network } from './topology.ts'

export interface FetchPlan {
  segmentBytes: number
  /** CPU of one download, both ends together (HTTP, sha256, fsync, rename, index). */
  downloadCpuUs: number
  /** Null: links are not the bottleneck (loopback). */
  uplinks: FifoServers | null
  downlinks: FifoServers | null
  linkBytesPerSecond: number
}

interface Want {
  sources: number[]
  waiters: Array<(stored: boolean) => void>
  /** When the first want of it reached the fetcher. */
  since: Micros
  running: boolean
  /** Sources that answered busy, and when they may be asked again. */
  retryAt: Map<number, Micros>
  /** Sources busy answers named, with how many referrals led to each. */
  referrals: Map<number, number>
  /** Sources that referred this want on (asked again, they serve it). */
  referredBy: Set<number>
}

export interface FetchStats {
  downloads: number
  bytes: number
  /** Request to stored, µs, per download. */
  durations: number[]
  /** Per node, the first download it started after `mark` (µs after it; -1: none). */
  firstAfterMark: Float64Array
  mark: Micros
}

export class Fetcher {
  readonly #net: Network
  readonly #replicas: Replicas
  readonly #cpu: Cpu
  readonly #plan: FetchPlan
  readonly #wants: Array<Map<number, Want>>
  readonly #active: Int32Array
  readonly #uploads: Int32Array
  readonly #perSource: Array<Map<number, number>>
  readonly #pumpPending: Uint8Array
  /** (item, source) → the last peers that fetched the item from it in full, newest first. */
  readonly #served = new Map<number, number[]>()
  /** (item, node) → when the node stored its copy by download (its writer holds it from its write). */
  readonly #gotAt = new Map<number, Micros>()
  readonly #rng: Rng
  readonly stats: FetchStats
  /** A node stored an item (its view changed). */
  onStored: (node: number, item: number) => void = () => {}

  constructor(net: Network, replicas: Replicas, cpu: Cpu, plan: FetchPlan) {
    const n = net.nodes.length
    this.#net = net
    this.#replicas = replicas
    this.#cpu = cpu
    this.#plan = plan
    this.#wants = Array.from({ length: n }, () => new Map())
    this.#active = new Int32Array(n)
    this.#uploads = new Int32Array(n)
    this.#perSource = Array.from({ length: n }, () => new Map())
    this.#pumpPending = new Uint8Array(n)
    this.#rng = net.rng.fork('fetcher')
    this.stats = { downloads: 0, bytes: 0, durations: [], firstAfterMark: new Float64Array(n).fill(-1), mark: Number.POSITIVE_INFINITY }
  }

  /** Fetch `item` from one of `sources`; `done(stored)` once stored or given up. */
  want(node: number, item: number, sources: readonly number[], done: (stored: boolean) => void = () => {}): void {
    if (!this.#replicas.wants(node, item)) {
      done(false)
      return
    }
    const wants = this.#wants[node]!
    const w = wants.get(item)
    if (w != null) {
      for (const s of sources) if (!w.sources.includes(s)) w.sources.push(s)
      w.waiters.push(done)
      return
    }
    wants.set(item, {
      sources: [...sources],
      waiters: [done],
      since: this.#net.now,
      running: false,
      retryAt: new Map(),
      referrals: new Map(),
      referredBy: new Set()
    })
    this.#pump(node)
  }

  #pump(node: number): void {
    const net = this.#net
    const wants = this.#wants[node]!
    let busyWait = false
    for (const [item, w] of wants) {
      if (this.#active[node]! >= PROTOCOL.fetchConcurrency) return
      if (w.running) continue
      if (!this.#replicas.wants(node, item)) {
        this.#finish(node, item, false)
        continue
      }
      w.sources = w.sources.filter((s) => !net.blocked(node, s) && this.#replicas.inView(s, item))
      if (w.sources.length === 0) {
        this.#finish(node, item, false)
        continue
      }
      const per = this.#perSource[node]!
      const now = net.now
      const free = (s: number): boolean =>
        (per.get(s) ?? 0) < PROTOCOL.fetchPerPeer && this.#uploads[s]! < PROTOCOL.uploadSlots && (w.retryAt.get(s) ?? 0) <= now
      let best = -1
      for (const s of w.sources) if (free(s) && (best < 0 || this.#uploads[s]! < this.#uploads[best]!)) best = s
      if (best < 0) {
        // Busy answers name holders: new candidates, asked at once if one is free.
        for (const s of [...w.sources]) {
          if (this.#uploads[s]! < PROTOCOL.uploadSlots) continue
          this.#addNamed(w, this.#served.get(item * net.nodes.length + s) ?? [], node, s)
        }
        for (const s of w.sources) if (free(s) && (best < 0 || this.#uploads[s]! < this.#uploads[best]!)) best = s
      }
      if (best < 0) {
        busyWait = true
        continue
      }
      const key = item * net.nodes.length + best
      const holders = (this.#served.get(key) ?? []).filter((h) => h !== node)
      const heldSince = this.#gotAt.get(key) ?? this.#replicas.items[item]!.at
      const young = now - heldSince < PROTOCOL.referYoungUs
      if (
        young &&
        holders.length >= PROTOCOL.referAfter &&
        (w.referrals.get(best) ?? 0) < PROTOCOL.referralDepth &&
        !w.referredBy.has(best)
      ) {
        // Referred with a slot free: the answer's round trip, then the named peers (asked again, it serves).
        w.referredBy.add(best)
        this.#addNamed(w, this.#rng.shuffle(holders), node, best)
        w.retryAt.set(best, now + PROTOCOL.busyRetryUs)
        w.running = true
        net.queue.after(2 * net.oneWay(node, best), () => {
          w.running = false
          this.#pump(node)
        })
        continue
      }
      this.#start(node, item, best, w)
    }
    if (busyWait && this.#pumpPending[node] === 0) {
      this.#pumpPending[node] = 1
      net.queue.after(250_000, () => {
        this.#pumpPending[node] = 0
        this.#pump(node)
      })
    }
  }

  /** Peers `source`'s busy answer named, in the order it sends them, added as candidates. */
  #addNamed(w: Want, holders: readonly number[], node: number, source: number): void {
    const depth = (w.referrals.get(source) ?? 0) + 1
    for (const h of holders)
      if (h !== node && !w.sources.includes(h)) {
        w.sources.push(h)
        w.referrals.set(h, depth)
      }
  }

  #start(node: number, item: number, source: number, w: Want): void {
    const net = this.#net
    const plan = this.#plan
    w.running = true
    this.#active[node]!++
    this.#uploads[source]!++
    const per = this.#perSource[node]!
    per.set(source, (per.get(source) ?? 0) + 1)
    const now = net.now
    if (this.stats.firstAfterMark[node] === -1 && now >= this.stats.mark) this.stats.firstAfterMark[node] = now - this.stats.mark
    const rtt = 2 * net.oneWay(node, source)
    // Each step is reserved when it happens (a FIFO reserved ahead of time would idle in between):
    // the request's trip, the server's work, the transfer through both links, the asker's hash,
    // fsync and index update.
    net.charge(source, plan.segmentBytes + net.costs.httpOverheadBytes, 0)
    net.queue.after(rtt / 2, () => {
      net.queue.at(this.#cpu.run(source, net.now, plan.downloadCpuUs * 0.4), () => {
        let sent = net.now
        if (plan.uplinks != null && plan.downlinks != null) {
          const t = (plan.segmentBytes / plan.linkBytesPerSecond) * 1_000_000
          sent = Math.max(plan.uplinks.reserve(source, net.now, t), plan.downlinks.reserve(node, net.now, t))
        }
        net.queue.at(sent + rtt / 2, () =>
          net.queue.at(this.#cpu.run(node, net.now, plan.downloadCpuUs * 0.6), () => this.#done(node, item, source, w))
        )
      })
    })
  }

  #done(node: number, item: number, source: number, w: Want): void {
    const net = this.#net
    const per = this.#perSource[node]!
    {
      const plan = this.#plan
      this.#active[node]!--
      this.#uploads[source]!--
      per.set(source, per.get(source)! - 1)
      this.stats.downloads++
      this.stats.bytes += plan.segmentBytes
      this.stats.durations.push(net.now - w.since)
      const key = item * net.nodes.length + source
      this.#served.set(key, [node, ...(this.#served.get(key) ?? [])].slice(0, PROTOCOL.holdersListed))
      const gained = this.#replicas.gain(node, item, net.now)
      if (gained) {
        this.#gotAt.set(item * net.nodes.length + node, net.now)
        this.onStored(node, item)
      }
      this.#finish(node, item, gained)
      this.#pump(node)
    }
  }

  #finish(node: number, item: number, stored: boolean): void {
    const w = this.#wants[node]!.get(item)
    if (w == null) return
    this.#wants[node]!.delete(item)
    for (const done of w.waiters) done(stored)
  }
}
