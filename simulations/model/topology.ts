/**
 * Nodes and the connections between them, as libp2p holds them for segmesh: a connection is one
 * link whichever end dialled, an inbound one counts against the acceptor's cap (128) and every one
 * against 300; a partition refuses dials across it and closes what crosses it. Per-link latency
 * comes from each node's region. Each node meters what it writes, its messages and its CPU.
 */
import { Rng } from '../prng.ts'
import { PROTOCOL } from './constants.ts'
import type { Costs } from './costs.ts'
import { EventQueue, type Micros, US_PER_MS } from './events.ts'
import { KnownBits, PeerTable } from './peers.ts'

export interface Link {
  /** The neighbour dialled this node. */
  inbound: boolean
}

export interface Meter {
  bytesOut: number
  messagesOut: number
  cpuUs: number
  hellosAsked: number
  /** ∫ connections dt (µs), for per-connection costs. */
  connectionUs: number
}

export class ModelNode {
  readonly id: number
  readonly peers: PeerTable
  readonly links = new Map<number, Link>()
  /** Peers this node keeps a connection to (chosen at random; connected or being redialled). */
  readonly kept = new Set<number>()
  /** Peers this node answered a first hello (16 peers) on the current connection. */
  readonly answered = new Set<number>()
  bootstrap = -1
  shed = false
  inbound = 0
  region = 0
  /** Push-pull rounds so far (the first ones come after 1, 2, 4 … s). */
  round = 0
  started = false
  meter: Meter = { bytesOut: 0, messagesOut: 0, cpuUs: 0, hellosAsked: 0, connectionUs: 0 }
  #degreeSince: Micros = 0

  constructor(id: number, bits: KnownBits) {
    this.id = id
    this.peers = new PeerTable(bits, id, PROTOCOL.maxKnownPeers)
  }

  /** Call before the degree changes: adds the time spent at the old degree. */
  settleDegree(now: Micros): void {
    this.meter.connectionUs += this.links.size * (now - this.#degreeSince)
    this.#degreeSince = now
  }

  keptConnected(): number {
    let n = 0
    for (const p of this.kept) if (this.links.has(p)) n++
    return n
  }
}

export interface LatencyModel {
  /** One-way delay between two regions, µs. */
  oneWay: (a: number, b: number) => Micros
  regions: number
}

/** Every node on one host: loopback is a fraction of a millisecond; the host's CPU is the delay. */
export const LOOPBACK: LatencyModel = { oneWay: () => 200, regions: 1 }

/** Nodes spread over 5 regions: 10 ms one way within a region, 40–120 ms between them. */
export const WAN: LatencyModel = {
  regions: 5,
  oneWay: (a, b) => (a === b ? 10 * US_PER_MS : (40 + 20 * Math.abs(a - b)) * US_PER_MS)
}

export class Network {
  readonly queue = new EventQueue()
  readonly nodes: ModelNode[]
  readonly rng: Rng
  readonly costs: Costs
  readonly latency: LatencyModel
  /** Pairs that may not reach each other (a partition); null: none. */
  cut: ((a: number, b: number) => boolean) | null = null
  /** Called when a connection opens (both ends say hello) and closes. */
  onConnect: (a: number, b: number) => void = () => {}
  onDisconnect: (a: number, b: number) => void = () => {}
  /**
   * When `demandUs` of CPU started now on `node` is done. Idle runs take no queueing (the box is
   * nearly idle); the heal scenario queues it on its CPU plan (cpu.ts).
   */
  work: (node: number, demandUs: number) => Micros = () => this.queue.now
  /** CPU of setting up a connection (noise, identify), each end; only the heal scenario queues it. */
  connectCpuUs = 0

  constructor(init: { nodes: number; seed: number; costs: Costs; latency: LatencyModel }) {
    this.rng = new Rng(init.seed)
    this.costs = init.costs
    this.latency = init.latency
    const bits = new KnownBits(init.nodes)
    const regions = this.rng.fork('regions')
    this.nodes = Array.from({ length: init.nodes }, (_, i) => {
      const node = new ModelNode(i, bits)
      node.region = regions.int(init.latency.regions)
      return node
    })
  }

  get now(): Micros {
    return this.queue.now
  }

  oneWay(a: number, b: number): Micros {
    return this.latency.oneWay(this.nodes[a]!.region, this.nodes[b]!.region)
  }

  connected(a: number, b: number): boolean {
    return this.nodes[a]!.links.has(b)
  }

  blocked(a: number, b: number): boolean {
    return this.cut?.(a, b) === true
  }

  /** What `node` writes and spends. */
  charge(node: number, bytes: number, cpuUs: number, messages = 1): void {
    const m = this.nodes[node]!.meter
    m.bytesOut += bytes
    m.messagesOut += messages
    m.cpuUs += cpuUs
  }

  /**
   * Dial `b` from `a`: connected after the handshake's three round trips, or refused (a partition,
   * b's inbound cap or its connection cap). `done(ok)` runs when that is known.
   */
  dial(a: number, b: number, done: (ok: boolean) => void): void {
    if (this.connected(a, b)) {
      done(true)
      return
    }
    const rtt = 2 * this.oneWay(a, b)
    const ready = Math.max(this.work(a, this.connectCpuUs), this.work(b, this.connectCpuUs))
    this.queue.at(ready + 3 * rtt, () => {
      const target = this.nodes[b]!
      if (this.connected(a, b)) return done(true)
      if (this.blocked(a, b) || target.inbound >= PROTOCOL.maxInbound || target.links.size >= PROTOCOL.maxConnections) return done(false)
      const now = this.now
      const from = this.nodes[a]!
      from.settleDegree(now)
      target.settleDegree(now)
      from.links.set(b, { inbound: false })
      target.links.set(a, { inbound: true })
      target.inbound++
      this.charge(a, this.costs.connectBytes / 2, 0, 0)
      this.charge(b, this.costs.connectBytes / 2, 0, 0)
      this.onConnect(a, b)
      done(true)
    })
  }

  close(a: number, b: number): void {
    const x = this.nodes[a]!
    const y = this.nodes[b]!
    const link = x.links.get(b)
    if (link == null) return
    const now = this.now
    x.settleDegree(now)
    y.settleDegree(now)
    x.links.delete(b)
    y.links.delete(a)
    if (link.inbound) x.inbound--
    else y.inbound--
    x.answered.delete(b)
    y.answered.delete(a)
    this.onDisconnect(a, b)
  }

  /** Reset every meter (a measurement window starts now). */
  resetMeters(): void {
    for (const n of this.nodes) {
      n.settleDegree(this.now)
      n.meter = { bytesOut: 0, messagesOut: 0, cpuUs: 0, hellosAsked: 0, connectionUs: 0 }
    }
  }

  /** Per-connection costs (pings, keep-alives) and each node's own CPU, added for the window. */
  closeMeters(windowUs: Micros): void {
    const c = this.costs
    const pingRounds = windowUs / PROTOCOL.pingIntervalUs
    for (const n of this.nodes) {
      n.settleDegree(this.now)
      const connectionMinutes = n.meter.connectionUs / 60_000_000
      const pings = (n.meter.connectionUs / windowUs) * pingRounds
      // Each end writes half of a connection's ping round and of its keep-alives.
      n.meter.bytesOut += (pings * c.pingBytesPerConnectionRound) / 2 + (connectionMinutes * c.idleBytesPerConnectionMinute) / 2
      n.meter.messagesOut += 2 * pings
      n.meter.cpuUs += pings * c.pingCpuUs + (windowUs / 60_000_000) * c.baseCpuUsPerMinute
    }
  }
}
