/**
 * A node's counters in one flat shape, whether it runs in this process or in a child: the
 * replicator's and fetcher's own stats plus what the probe saw. Counters restart with each
 * incarnation of a node; the harness sums incarnations with addCounters().
 */
import { type FetchErrorKind, emptyCounters } from '../replication/fetch-stats.ts'
import { type NodeProbe, type ProbeCounters, type WireCounters, emptyProbeCounters } from './probe.ts'

/** The probe's counters (gossip received, HTTP by kind, wire bytes) plus the replicator's and fetcher's. */
export interface NodeCounters extends ProbeCounters {
  wire: WireCounters
  /** Gossip messages published, their bytes, and the names announced in them. */
  gossipOut: number
  gossipBytesOut: number
  announcedItems: number
  messagesInvalid: number
  digestsCompared: number
  repairs: number
  repairErrors: number
  hoursRepaired: number
  tombstonesApplied: number
  segmentsFetched: number
  bytesFetched: number
  hashMismatches: number
  itemsFailed: number
  listingErrors: number
  fetchErrors: Record<FetchErrorKind, number>
  /** Gauges at the time of the snapshot (not summed). */
  connections: number
  peersKnown: number
  /** The fewest peers in the gossip mesh of an announcement topic this node and a connected peer subscribe to; -1 when there is none. */
  meshPeersMin: number
}

export function emptyNodeCounters(): NodeCounters {
  return {
    gossipOut: 0,
    gossipBytesOut: 0,
    announcedItems: 0,
    ...emptyProbeCounters(),
    messagesInvalid: 0,
    digestsCompared: 0,
    repairs: 0,
    repairErrors: 0,
    hoursRepaired: 0,
    tombstonesApplied: 0,
    segmentsFetched: 0,
    bytesFetched: 0,
    hashMismatches: 0,
    itemsFailed: 0,
    listingErrors: 0,
    fetchErrors: emptyCounters().fetchErrors,
    wire: { p2p: 0, httpServed: 0, httpRequested: 0 },
    connections: 0,
    peersKnown: 0,
    meshPeersMin: -1
  }
}

/** The current incarnation's counters of the node `probe` belongs to. */
export function countersOf(probe: NodeProbe): NodeCounters {
  const out = emptyNodeCounters()
  const p = probe.counters
  Object.assign(out, {
    gossipIn: p.gossipIn,
    gossipInBytes: p.gossipInBytes,
    gossipDropped: p.gossipDropped,
    gossipDelayed: p.gossipDelayed,
    gossipInDigests: p.gossipInDigests,
    gossipInDigestBytes: p.gossipInDigestBytes
  })
  out.http = structuredClone(p.http)
  out.wire = probe.wire()
  const node = probe.segmesh
  const r = node?.replicator?.stats
  if (r != null) {
    Object.assign(out, {
      gossipOut: r.messagesOut,
      gossipBytesOut: r.bytesOut,
      announcedItems: r.announcedItems,
      messagesInvalid: r.messagesInvalid,
      digestsCompared: r.digestsCompared,
      repairs: r.repairs,
      repairErrors: r.repairErrors,
      hoursRepaired: r.hoursRepaired,
      tombstonesApplied: r.tombstonesApplied
    })
    out.peersKnown = node!.replicator!.peers.all().length
  }
  const f = node?.fetcher?.stats()
  if (f != null) {
    Object.assign(out, {
      segmentsFetched: f.segmentsFetched,
      bytesFetched: f.bytesFetched,
      hashMismatches: f.hashMismatches,
      itemsFailed: f.itemsFailed,
      listingErrors: f.listingErrors
    })
    out.fetchErrors = { ...f.fetchErrors }
  }
  out.connections = node?.host?.connectedPeers().length ?? 0
  const host = node?.host
  // Only topics some connected peer subscribes to: a mesh cannot form on the others.
  const shared = new Set(host?.peerTopics() ?? [])
  const topics = (node?.replicator?.topics.topics ?? []).filter((t) => shared.has(t))
  if (host != null && topics.length > 0) out.meshPeersMin = Math.min(...topics.map((t) => host.meshPeers(t)))
  return out
}

/** a + b, leaf by leaf; gauges are taken from b (the later one). */
export function addCounters(a: NodeCounters, b: NodeCounters): NodeCounters {
  const sum = (x: unknown, y: unknown): unknown => {
    if (typeof x === 'number' && typeof y === 'number') return x + y
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(y as object)) out[k] = sum((x as Record<string, unknown>)[k] ?? 0, (y as Record<string, unknown>)[k])
    return out
  }
  const out = sum(a, b) as NodeCounters
  out.connections = b.connections
  out.peersKnown = b.peersKnown
  out.meshPeersMin = b.meshPeersMin
  return out
}

/** b − a, leaf by leaf (a rate window); gauges from b. */
export function subtractCounters(b: NodeCounters, a: NodeCounters): NodeCounters {
  const neg = (x: unknown): unknown => {
    if (typeof x === 'number') return -x
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(x as object)) out[k] = neg(v)
    return out
  }
  return addCounters(neg(a) as NodeCounters, b)
}
