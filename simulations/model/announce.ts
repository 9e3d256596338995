/**
 * A new segment's name on every node: after the idle settle, `count` announcements from random
 * nodes, one a second, each flooded over the mesh as gossipsub does. Per announcement, the time
 * until the last node held the name; over all (announcement, node) pairs, the p99. Plus the
 * copies and duplicates each node received.
 */
import { PROTOCOL } from './constants.ts'
import { type Micros, US_PER_MS, US_PER_S } from './events.ts'
import { quantile } from './idle.ts'
import { buildMesh, flood } from './mesh.ts'
import { setUpNetwork } from './network-setup.ts'
import type { Profile } from './profiles.ts'

export interface AnnounceResult {
  nodes: number
  announcements: number
  /** Publication (after the 50 ms batch) until a node held the name, ms: p50, p99 over all pairs; slowest node of any. */
  knownMs: { p50: number; p99: number; max: number }
  missed: number
  copiesPerNode: number
  duplicatesPerNode: number
  bytesPerNodePerAnnouncement: number
  meshDegree: { median: number; max: number }
  wallMs: number
}

export function runAnnounce(o: { nodes: number; seed: number; profile: Profile; count?: number }): AnnounceResult {
  const t0 = performance.now()
  const p = o.profile
  const { net, lastJoin } = setUpNetwork({
    nodes: o.nodes,
    seed: o.seed,
    costs: p.costs,
    latency: p.latency,
    roots: p.idleRoots,
    joinGapUs: p.joinGapUs
  })
  const start = lastJoin + p.idleSettleUs
  net.queue.runUntil(start)
  const rng = net.rng.fork('announce')
  const mesh = buildMesh(net, rng)
  const count = o.count ?? 20
  const times: Micros[] = []
  let missed = 0
  let copies = 0
  let duplicates = 0
  let bytes = 0
  for (let i = 0; i < count; i++) {
    net.queue.runUntil(start + i * US_PER_S)
    const origin = rng.int(o.nodes)
    const f = flood(net, mesh, origin, 1, net.costs.gossipHopCpuUs / 2, rng)
    net.queue.runUntil(start + i * US_PER_S + (PROTOCOL.historyGossip + 1) * PROTOCOL.heartbeatUs)
    for (const t of f.knownAfter) {
      if (t < 0) missed++
      else times.push(t + PROTOCOL.announceDelayUs)
    }
    copies += f.copies
    duplicates += f.duplicates
    bytes += f.bytes
  }
  times.sort((a, b) => a - b)
  const degrees = mesh.map((m) => m.size).sort((a, b) => a - b)
  const ms = (us: number): number => Math.round(us / US_PER_MS)
  return {
    nodes: o.nodes,
    announcements: count,
    knownMs: { p50: ms(quantile(times, 0.5)), p99: ms(quantile(times, 0.99)), max: ms(times.at(-1) ?? 0) },
    missed,
    copiesPerNode: copies / count / o.nodes,
    duplicatesPerNode: duplicates / count / o.nodes,
    bytesPerNodePerAnnouncement: bytes / count / o.nodes,
    meshDegree: { median: quantile(degrees, 0.5), max: degrees.at(-1) ?? 0 },
    wallMs: Math.round(performance.now() - t0)
  }
}
