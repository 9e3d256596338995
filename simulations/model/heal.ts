/**
 * The partition-halves scenario of docs/SIMULATIONS.md, modelled: a settled network; a fault phase
 * with writes (and tombstones of earlier writes) at a steady rate; random halves cut apart from
 * 15 % of the phase to its end (connections across closed, dials and downloads refused); then the
 * heal, where every node redials its kept peers at once. Writes are announced on gossipsub and
 * fetched from their recorder; after the heal the newest names in first hello answers, range walks,
 * offers, spreads and push-pull rounds carry the rest. Measured: each node's lag from the heal
 * until its view equals the end state, and the work it took.
 */
import { PROTOCOL } from './constants.ts'
import type { Costs } from './costs.ts'
import { Cpu, type CpuPlan, FifoServers } from './cpu.ts'
import { type Micros, US_PER_MS, US_PER_S } from './events.ts'
import { Fetcher } from './fetcher.ts'
import { quantile } from './idle.ts'
import { buildMesh, flood, heartbeat } from './mesh.ts'
import { setUpNetwork } from './network-setup.ts'
import type { WalkCosts } from './range-walk.ts'
import { Repair } from './repair.ts'
import { Replicas } from './replica.ts'
import type { LatencyModel } from './topology.ts'

export interface HealOptions {
  nodes: number
  seed: number
  costs: Costs
  latency: LatencyModel
  /** Channel/qualities written (their roots ride in hellos; a walk goes through each that differs). */
  keys: number
  walks: WalkCosts
  cpu: CpuPlan
  /** CPU per download, both ends; per range request served. */
  downloadCpuUs: number
  rangeCpuUs: number
  /** CPU of a connection's setup at each end (noise, identify). */
  connectCpuUs: number
  segmentBytes: number
  /** Null: the links are never the bottleneck (one host's loopback). */
  linkBytesPerSecond: number | null
  writesPerSecond: number
  tombstoneRatio: number
  /** Writers: null, any node (the simulator); k, k fixed recorders. */
  recorders: number | null
  faultUs?: Micros
  joinGapUs?: Micros
  settleUs?: Micros
  timeoutUs?: Micros
  /** Then measure this long idle (the simulator's --steady 60). */
  steadyUs?: Micros
}

export interface HealResult {
  nodes: number
  /** Names and tombstones the nodes lacked at the heal, summed over nodes. */
  lackedAtHeal: number
  writes: number
  tombstones: number
  /** Per-node lag after the heal, ms; null past the timeout. */
  lagMs: { min: number; median: number; p90: number; max: number } | null
  converged: number
  walks: number
  walkBytes: number
  walkRequests: number
  spreads: number
  downloads: number
  downloadMs: { median: number; p90: number }
  firstDownloadAfterHealMs: number
  /** CPU busy while converging, % of the shared box (null: one machine per node). */
  cpuBusyPercent: number | null
  /** The idle window after convergence: libp2p bytes written per node per minute, connections. */
  steady: { bytesPerNodeMinute: number; connections: { median: number; max: number; mean: number } } | null
  events: number
  wallMs: number
}

export function runHeal(o: HealOptions): HealResult {
  const t0 = performance.now()
  const setup = setUpNetwork({ ...o, roots: o.keys })
  const { net, membership, pushPull } = setup
  const replicas = new Replicas(o.nodes)
  const cpu = new Cpu(o.nodes, o.cpu)
  const links = o.linkBytesPerSecond == null ? null : { up: new FifoServers(o.nodes, 1), down: new FifoServers(o.nodes, 1) }
  const fetcher = new Fetcher(net, replicas, cpu, {
    segmentBytes: o.segmentBytes,
    downloadCpuUs: o.downloadCpuUs,
    uplinks: links?.up ?? null,
    downlinks: links?.down ?? null,
    linkBytesPerSecond: o.linkBytesPerSecond ?? 1
  })
  const repair = new Repair({ net, replicas, fetcher, walks: o.walks, cpu, pushPull, keys: o.keys, rangeCpuUs: o.rangeCpuUs })
  pushPull.hooks = {
    recentNames: (answerer) => replicas.newest(answerer, PROTOCOL.recentNames).length,
    answered: (asker, answerer, mutual, first) => repair.answered(asker, answerer, mutual, first)
  }
  net.work = (node, demandUs) => cpu.run(node, net.now, demandUs)
  net.connectCpuUs = o.connectCpuUs
  const rng = net.rng.fork('heal')
  const settle = o.settleUs ?? 40 * US_PER_S
  const fault = o.faultUs ?? 60 * US_PER_S
  const start = setup.lastJoin + settle
  net.queue.runUntil(start)

  // Gossip: the mesh as the heartbeats keep it; an announcement makes every receiver fetch from the announcer.
  const mesh = buildMesh(net, rng)
  const hop = net.costs.gossipHopCpuUs / 2
  const announce = (origin: number, item: number): void => {
    net.queue.after(PROTOCOL.announceDelayUs, () => {
      heartbeat(net, mesh, rng)
      flood(net, mesh, origin, 1, hop, rng, (node) => {
        if (replicas.items[item]!.kind === 'tombstone') replicas.gain(node, item, net.now)
        else fetcher.want(node, item, [origin])
      })
    })
  }
  const recorders = o.recorders == null ? null : rng.shuffle(net.nodes.map((n) => n.id)).slice(0, o.recorders)
  const segments: number[] = []
  let writes = 0
  let tombstones = 0
  const gap = Math.round(US_PER_S / o.writesPerSecond)
  for (let t = start + gap; t < start + fault; t += gap) {
    net.queue.at(t, () => {
      const origin = recorders == null ? rng.int(o.nodes) : recorders[writes % recorders.length]!
      const item = replicas.add({ kind: 'segment', of: -1, at: net.now })
      writes++
      segments.push(item)
      replicas.gain(origin, item, net.now)
      announce(origin, item)
      if (segments.length > 1 && rng.chance(o.tombstoneRatio)) {
        const target = segments.splice(rng.int(segments.length - 1), 1)[0]!
        const where = rng.int(o.nodes)
        const tomb = replicas.add({ kind: 'tombstone', of: target, at: net.now })
        tombstones++
        replicas.gain(where, tomb, net.now)
        announce(where, tomb)
      }
    })
  }

  // The cut: random halves, connections across closed; the heal: everyone redials its kept peers.
  const side = new Uint8Array(o.nodes)
  for (const i of rng.shuffle(net.nodes.map((n) => n.id)).slice(0, Math.floor(o.nodes / 2))) side[i] = 1
  net.queue.at(start + Math.round(fault * 0.15), () => {
    net.cut = (a, b) => side[a] !== side[b]
    for (const node of net.nodes) for (const p of [...node.links.keys()]) if (side[p] !== side[node.id]) net.close(node.id, p)
  })
  const healAt = start + fault
  net.queue.runUntil(healAt)
  net.cut = null
  replicas.freeze(net.now)
  const lackedAtHeal = replicas.mismatch.reduce((s, m) => s + m, 0)
  fetcher.stats.mark = net.now
  const busyBefore = cpu.busyUs
  for (const node of net.nodes)
    for (const p of node.kept) if (!node.links.has(p)) net.dial(node.id, p, () => membership.shedBootstrap(node.id))

  const timeout = o.timeoutUs ?? 300 * US_PER_S
  const pending = (): boolean => replicas.mismatch.some((m) => m !== 0)
  net.queue.runWhile(pending, healAt + timeout)
  const convergedAt = net.now
  const lags = Array.from(replicas.matchedAt, (at) => (at < 0 ? -1 : Math.max(0, at - healAt)))
    .filter((l) => l >= 0)
    .sort((a, b) => a - b)
  const durations = [...fetcher.stats.durations].sort((a, b) => a - b)
  const firsts = Array.from(fetcher.stats.firstAfterMark)
    .filter((f) => f >= 0)
    .sort((a, b) => a - b)
  const span = Math.max(1, convergedAt - healAt)
  const busyWhileConverging = cpu.busyUs - busyBefore
  let steady: HealResult['steady'] = null
  if (o.steadyUs != null) {
    net.resetMeters()
    net.queue.runUntil(net.now + o.steadyUs)
    net.closeMeters(o.steadyUs)
    const conns = net.nodes.map((n) => n.links.size).sort((a, b) => a - b)
    const bytes = net.nodes.reduce((sum, n) => sum + n.meter.bytesOut, 0) / o.nodes / (o.steadyUs / (60 * US_PER_S))
    steady = {
      bytesPerNodeMinute: Math.round(bytes),
      connections: { median: quantile(conns, 0.5), max: conns.at(-1)!, mean: conns.reduce((a, b) => a + b, 0) / o.nodes }
    }
  }
  return {
    nodes: o.nodes,
    lackedAtHeal,
    writes,
    tombstones,
    lagMs:
      lags.length === o.nodes
        ? { min: ms(lags[0]!), median: ms(quantile(lags, 0.5)), p90: ms(quantile(lags, 0.9)), max: ms(lags.at(-1)!) }
        : null,
    converged: lags.length,
    walks: repair.stats.walks,
    walkBytes: repair.stats.walkBytes,
    walkRequests: repair.stats.walkRequests,
    spreads: repair.stats.spreads,
    downloads: fetcher.stats.downloads,
    downloadMs: { median: ms(quantile(durations, 0.5)), p90: ms(quantile(durations, 0.9)) },
    firstDownloadAfterHealMs: ms(quantile(firsts, 0.5)),
    cpuBusyPercent:
      o.cpu.sharedCores == null
        ? null
        : Math.min(100, Math.round((100 * (busyWhileConverging / span + o.cpu.baselineCoresPerNode * o.nodes)) / o.cpu.sharedCores)),
    steady,
    events: net.queue.processed,
    wallMs: Math.round(performance.now() - t0)
  }
}

function ms(us: number): number {
  return Math.round(us / US_PER_MS)
}
