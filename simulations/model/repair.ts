/**
 * Anti-entropy after a hello, as replicator.ts decides it: equal roots end it; on a new connection
 * the larger peer id leaves the difference to the smaller's walk for 2 s, then looks again; a peer
 * that walked us or that we offered names to in the last 5 s is not walked until that settles (10 s
 * at most); at most 4 sessions at once (else look again in 2 s), one per peer (a second ask runs it
 * again). A walk costs what range-walk.ts measured, then queues what it lacks from the peer and
 * the connected holders of the same root, and offers the peer what it lacks; the session ends when
 * those downloads do. Storing 8 names or more asks every other connected peer for an exchange
 * within 250 ms, so a heal crosses the network hop by hop. Tombstones a walk or an offer brings are
 * offered on to every other connected peer at once when they came alone.
 */
import type { Rng } from '../prng.ts'
import { PROTOCOL } from './constants.ts'
import type { Cpu } from './cpu.ts'
import type { Micros } from './events.ts'
import type { Fetcher } from './fetcher.ts'
import type { PushPull } from './pushpull.ts'
import type { WalkCosts } from './range-walk.ts'
import type { Replicas } from './replica.ts'
import { announceBytes } from './sizes.ts'
import type { Network } from './topology.ts'

interface PairState {
  deferredAt: Micros
  walkingUsAt: Micros
  offeredAt: Micros
  recheck: boolean
}

const SETTLE_US = 5_000_000
const MAX_EXTRA_HOLDERS = 4

export interface RepairStats {
  walks: number
  walkBytes: number
  walkRequests: number
  spreads: number
}

export class Repair {
  readonly #net: Network
  readonly #replicas: Replicas
  readonly #fetcher: Fetcher
  readonly #walks: WalkCosts
  readonly #cpu: Cpu
  readonly #pushPull: PushPull
  readonly #rng: Rng
  readonly #keys: number
  readonly #rangeCpuUs: number
  readonly #pairs = new Map<number, PairState>()
  readonly #sessions: Array<Map<number, { again: boolean }>>
  readonly stats: RepairStats = { walks: 0, walkBytes: 0, walkRequests: 0, spreads: 0 }

  constructor(init: {
    net: Network
    replicas: Replicas
    fetcher: Fetcher
    walks: WalkCosts
    cpu: Cpu
    pushPull: PushPull
    keys: number
    rangeCpuUs: number
  }) {
    this.#net = init.net
    this.#replicas = init.replicas
    this.#fetcher = init.fetcher
    this.#walks = init.walks
    this.#cpu = init.cpu
    this.#pushPull = init.pushPull
    this.#rng = init.net.rng.fork('repair')
    this.#keys = init.keys
    this.#rangeCpuUs = init.rangeCpuUs
    this.#sessions = init.net.nodes.map(() => new Map())
  }

  #pair(a: number, b: number): PairState {
    const key = a * this.#net.nodes.length + b
    let s = this.#pairs.get(key)
    if (s == null) {
      s = { deferredAt: 0, walkingUsAt: -SETTLE_US, offeredAt: -SETTLE_US, recheck: false }
      this.#pairs.set(key, s)
    }
    return s
  }

  /** The asker has `answerer`'s hello: its newest names first (first answer), then its roots. */
  answered(asker: number, answerer: number, mutual: boolean, first: boolean): void {
    const r = this.#replicas
    if (first) for (const item of r.newest(answerer, PROTOCOL.recentNames)) this.#fetcher.want(asker, item, [answerer])
    const pair = this.#pair(asker, answerer)
    if (r.viewHash[asker] === r.viewHash[answerer]) {
      pair.deferredAt = 0
      return
    }
    const now = this.#net.now
    if (mutual && asker > answerer && (pair.deferredAt === 0 || now - pair.deferredAt < PROTOCOL.deferUs)) {
      if (pair.deferredAt === 0) {
        pair.deferredAt = now
        this.recheck(asker, answerer, PROTOCOL.deferUs)
      }
      return
    }
    const settledAt = Math.max(pair.walkingUsAt, pair.offeredAt) + SETTLE_US
    if (now < settledAt && (pair.deferredAt === 0 || now - pair.deferredAt < 2 * SETTLE_US)) {
      if (pair.deferredAt === 0) pair.deferredAt = now
      this.recheck(asker, answerer, settledAt - now)
      return
    }
    pair.deferredAt = 0
    this.#walk(asker, answerer)
  }

  /** Exchange with the peer again after `us` (and a quarter of a jittered 2 s); one timer per pair. */
  recheck(node: number, peer: number, us: Micros): void {
    const pair = this.#pair(node, peer)
    if (pair.recheck) return
    pair.recheck = true
    const jitter = (PROTOCOL.recheckUs * (0.8 + 0.4 * this.#rng.next())) / 4
    this.#net.queue.after(Math.round(us + jitter), () => {
      pair.recheck = false
      if (this.#net.connected(node, peer)) this.#pushPull.hello(node, peer, false)
    })
  }

  #walk(node: number, peer: number): void {
    const sessions = this.#sessions[node]!
    const running = sessions.get(peer)
    if (running != null) {
      running.again = true
      return
    }
    if (sessions.size >= PROTOCOL.maxRepairSessions || !this.#net.connected(node, peer)) {
      if (sessions.size >= PROTOCOL.maxRepairSessions) this.recheck(node, peer, PROTOCOL.recheckUs)
      return
    }
    const session = { again: false }
    sessions.set(peer, session)
    const end = (stored: number, tombstones: readonly number[] = []): void => {
      sessions.delete(peer)
      this.#spread(node, peer, stored)
      this.#passOn(node, peer, tombstones)
      if (session.again) this.#walk(node, peer)
    }
    this.#session(node, peer, end)
  }

  #session(node: number, peer: number, end: (stored: number, tombstones?: readonly number[]) => void): void {
    const net = this.#net
    const r = this.#replicas
    this.stats.walks++
    this.#pair(peer, node).walkingUsAt = net.now
    const lacked = r.lacking(node, peer)
    const extra = r.lacking(peer, node)
    const cost = this.#walks.cost(lacked.length, extra.length, this.#keys)
    this.stats.walkBytes += cost.bytes
    this.stats.walkRequests += cost.requests
    net.charge(peer, cost.bytes * 0.85, 0, cost.requests)
    net.charge(node, cost.bytes * 0.15, 0, cost.requests)
    // Each round trip waits for the peer's answer, its CPU queued like everything else, one after another.
    const rtt = 2 * net.oneWay(node, peer)
    let left = cost.rounds
    const round = (): void => {
      if (left-- === 0) {
        found()
        return
      }
      net.queue.after(rtt / 2, () => net.queue.at(this.#cpu.run(peer, net.now, this.#rangeCpuUs) + rtt / 2, round))
    }
    const found = (): void => {
      if (!net.connected(node, peer)) {
        end(0)
        return
      }
      // Tombstones first, then the segments, from the peer and connected holders of its root.
      const holders = this.#holders(node, peer)
      let pending = 1
      let stored = 0
      const gained = this.#gainTombstones(node, lacked)
      // Passed on only when they came alone: names to fetch start exchanges that carry them.
      const tombstones = lacked.some((i) => r.items[i]!.kind === 'segment') ? [] : gained
      const settle = (ok: boolean): void => {
        if (ok) stored++
        if (--pending === 0) end(stored, tombstones)
      }
      for (const item of lacked) {
        if (r.items[item]!.kind !== 'segment') continue
        pending++
        this.#fetcher.want(node, item, holders, settle)
      }
      if (extra.length > 0) this.#offer(node, peer, extra)
      settle(false)
    }
    round()
  }

  /** What the walk found the peer lacks, sent to it alone: it fetches from us and holders of our root. */
  #offer(node: number, peer: number, items: readonly number[]): void {
    const net = this.#net
    const r = this.#replicas
    this.#pair(node, peer).offeredAt = net.now
    net.queue.after(net.oneWay(node, peer), () => {
      const holders = this.#holders(peer, node)
      let pending = 1
      let stored = 0
      const gained = this.#gainTombstones(peer, items)
      const tombstones = items.some((i) => r.items[i]!.kind === 'segment') ? [] : gained
      const settle = (ok: boolean): void => {
        if (ok) stored++
        if (--pending === 0) {
          this.#spread(peer, node, stored)
          this.#passOn(peer, node, tombstones)
        }
      }
      for (const item of items) {
        if (r.items[item]!.kind === 'tombstone') continue
        pending++
        this.#fetcher.want(peer, item, holders, settle)
      }
      settle(false)
    })
  }

  /** The walked peer first, then up to 4 other connected peers whose root equals its own. */
  #holders(node: number, walked: number): number[] {
    const r = this.#replicas
    const out = [walked]
    for (const p of this.#net.nodes[node]!.links.keys()) {
      if (out.length > MAX_EXTRA_HOLDERS) break
      if (p !== walked && r.viewHash[p] === r.viewHash[walked]) out.push(p)
    }
    return out
  }

  /** The tombstones among `items` that `node` did not hold, now held. */
  #gainTombstones(node: number, items: readonly number[]): number[] {
    const r = this.#replicas
    const gained: number[] = []
    for (const item of items)
      if (r.items[item]!.kind === 'tombstone' && r.gain(node, item, this.#net.now)) {
        gained.push(item)
        this.#fetcher.onStored(node, item)
      }
    return gained
  }

  /** As the replicator: after many names, every other connected peer is asked for an exchange soon. */
  #spread(node: number, from: number, stored: number): void {
    if (stored < PROTOCOL.spreadMinStored) return
    this.stats.spreads++
    for (const p of this.#net.nodes[node]!.links.keys()) if (p !== from) this.recheck(node, p, PROTOCOL.spreadUs)
  }

  /**
   * As the replicator: tombstones that came alone (they missed their announcement) are offered to
   * every other connected peer, one message each, and a peer that lacked them does the same.
   */
  #passOn(node: number, from: number, tombstones: readonly number[]): void {
    const net = this.#net
    if (tombstones.length === 0) return
    for (const p of net.nodes[node]!.links.keys()) {
      if (p === from) continue
      net.charge(node, announceBytes(tombstones.length) + net.costs.helloOverheadBytes, net.costs.helloCpuUs)
      net.queue.after(net.oneWay(node, p), () => {
        if (net.connected(node, p)) this.#passOn(p, node, this.#gainTombstones(p, tombstones))
      })
    }
  }
}
