/**
 * gossipsub on segmesh's one topic, at the message level: each node's mesh is what its heartbeats
 * make of its connections (graft up to D = 6 when under Dlo = 4, prune to D past Dhi = 24; a GRAFT
 * is accepted by the other end), an announcement is flood-published by its author to every
 * connected peer and relayed once by every other node to its mesh peers but the one it came from.
 * Every copy beyond a node's first is a duplicate. For the next 3 heartbeats each node that holds
 * it names it in IHAVE to up to max(Dlazy, 25 % of its non-mesh peers) of them.
 */
import type { Rng } from '../prng.ts'
import { PROTOCOL } from './constants.ts'
import type { Micros } from './events.ts'
import { sampleInPlace } from './membership.ts'
import { announceBytes } from './sizes.ts'
import type { Network } from './topology.ts'

export function buildMesh(net: Network, rng: Rng): Array<Set<number>> {
  const mesh = net.nodes.map(() => new Set<number>())
  for (let beat = 0; beat < 3; beat++) heartbeat(net, mesh, rng)
  return mesh
}

/** One heartbeat of every node's mesh maintenance (closed connections leave the mesh). */
export function heartbeat(net: Network, mesh: Array<Set<number>>, rng: Rng): void {
  for (const node of rng.shuffle(net.nodes.map((n) => n.id))) {
    const m = mesh[node]!
    for (const p of m) if (!net.connected(node, p)) m.delete(p)
    if (m.size < PROTOCOL.meshDlo) {
      const others = [...net.nodes[node]!.links.keys()].filter((p) => !m.has(p))
      for (const p of sampleInPlace(rng, others, PROTOCOL.meshD - m.size)) {
        m.add(p)
        mesh[p]!.add(node)
      }
    }
    if (m.size > PROTOCOL.meshDhi) {
      const keep = new Set(sampleInPlace(rng, [...m], PROTOCOL.meshD))
      for (const p of [...m]) {
        if (keep.has(p)) continue
        m.delete(p)
        mesh[p]!.delete(node)
      }
    }
  }
}

export interface Flood {
  /** When each node first held the message (µs after publication; -1: never). */
  knownAfter: Micros[]
  copies: number
  duplicates: number
  bytes: number
}

/**
 * One announcement of `names` names from `origin`, published at the current time. Each hop costs
 * the link's latency plus the receiver's share of the per-message CPU (`hopServiceUs`); the
 * sender's and receiver's bytes and CPU are charged to them.
 */
export function flood(
  net: Network,
  mesh: Array<Set<number>>,
  origin: number,
  names: number,
  hopServiceUs: Micros,
  rng: Rng,
  onReceive: (node: number) => void = () => {}
): Flood {
  const c = net.costs
  const size = announceBytes(names) + c.gossipHopOverheadBytes
  const t0 = net.now
  const knownAfter = net.nodes.map(() => -1)
  const result: Flood = { knownAfter, copies: 0, duplicates: 0, bytes: 0 }
  const send = (from: number, to: number): void => {
    result.copies++
    result.bytes += size
    net.charge(from, size, c.gossipHopCpuUs / 2)
    net.queue.after(net.oneWay(from, to) + hopServiceUs, () => {
      net.charge(to, 0, c.gossipHopCpuUs / 2, 0)
      if (knownAfter[to] !== -1) {
        result.duplicates++
        return
      }
      knownAfter[to] = net.now - t0
      onReceive(to)
      for (const p of mesh[to]!) if (p !== from && p !== origin && net.connected(to, p)) send(to, p)
      gossip(to, from)
    })
  }
  // IHAVE over the next heartbeats to non-mesh peers (they already hold it, or ask for it with IWANT).
  const gossip = (node: number, from: number): void => {
    const others = [...net.nodes[node]!.links.keys()].filter((p) => p !== from && !mesh[node]!.has(p))
    const n = Math.max(PROTOCOL.meshDlazy, Math.ceil(PROTOCOL.gossipFactor * others.length))
    for (let beat = 1; beat <= PROTOCOL.historyGossip; beat++) {
      for (const p of sampleInPlace(rng, [...others], n)) {
        result.bytes += c.ihaveBytes
        net.charge(node, c.ihaveBytes, 0)
        net.queue.after(beat * PROTOCOL.heartbeatUs + net.oneWay(node, p), () => {
          if (knownAfter[p] === -1 && net.connected(node, p)) send(node, p)
        })
      }
    }
  }
  knownAfter[origin] = 0
  for (const p of net.nodes[origin]!.links.keys()) send(origin, p)
  gossip(origin, -1)
  return result
}
