/**
 * The run report: one JSON file with everything measured and checked, and a short markdown summary
 * for people. Rates are per node per minute so runs of different sizes and lengths compare.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Check } from './checkers.ts'
import { type NodeCounters, addCounters, emptyNodeCounters } from './counters.ts'
import type { ProbeEvent, WireKind } from './probe.ts'
import type { NewSegmentSpread } from './spread.ts'

export interface Spread {
  min: number
  median: number
  max: number
}

export interface RateWindow {
  /** What the window covers and how long it was. */
  label: string
  seconds: number
  /** Means over nodes, per node per minute. */
  perNodePerMinute: {
    gossipOut: number
    gossipIn: number
    gossipBytesOut: number
    gossipBytesIn: number
    httpRequests: number
    httpBytes: number
    p2pWireBytes: number
    httpWireBytes: number
    digestsIn: number
    repairs: number
    digestRequests: number
    listingRequests: number
    segmentRequests: number
    /** CPU seconds per node per minute (in one process: the whole process's, divided by the nodes). */
    cpuSeconds: number
  }
}

export interface NodeRow {
  node: number
  /** The URL peers fetch from (a proxy's when the node has one). */
  url: string
  lagMs: number | null
  /** Items it lacked when the faults ended (null: it was down). */
  missingAtHeal: number | null
  missingWithinReachAtHeal: number | null
  segmentsFetched: number
  bytesFetched: number
  gossipOut: number
  gossipIn: number
  repairs: number
  segmentRequestsServed: number
  connections: number
  peersKnown: number
  rssBytes: number | null
  /** TCP sockets it held when sampled (see RunReport.sockets); null when down or not readable. */
  sockets?: number | null
  /** In one process: those sockets by kind, and the most it held at once in the run. */
  socketsByKind?: Record<WireKind, number> | null
  socketsMax?: number | null
  socketsMaxByKind?: Record<WireKind, number> | null
  /** The longest it was connected with an empty gossip mesh on a subscribed announcement topic, sampled every 2 s, ms. */
  meshEmptyMaxMs?: number | null
}

/**
 * TCP sockets the nodes hold, sampled once at the end of the run before the final reads (after the
 * steady window when there is one). In one process, per node from the probes: libp2p connections'
 * sockets (dialled and accepted), the HTTP server's accepted sockets (the harness's own requests
 * left out) and the fetcher's undici client sockets. As child processes, per node from /proc: every
 * connected TCP socket of its process (the harness's keep-alive requests to it included).
 */
export interface SocketReport {
  sampledAt: string
  perNode: Spread | null
  /** The most each node held at once during the run (in one process exact, as children every 2 s). */
  perNodeMax: Spread | null
  /** Sum over nodes when sampled, and its maximum over the samples taken every 2 s and at the end. */
  total: number
  totalMax: number
  /** In one process: what the sockets of the node that held the most were, at that moment. */
  busiestByKind?: Record<WireKind, number> | null
  /** In one process, summed over nodes by kind. */
  byKind: Record<WireKind, number> | null
  /** Connected TCP sockets in the whole process (one process) or all the children, from /proc. */
  processTcp: number | null
  /**
   * In one process, when sampled: client sockets to nodes' ports opened outside any node. To HTTP
   * ports: the harness's requests (not counted for any node, nor their server ends). To libp2p
   * ports: nodes' dials whose node was not found (libp2p's dial queue loses the async context now
   * and then); not in any node's count, so per-node counts are short by this many in all.
   */
  outsideNodes: { p2p: number; http: number } | null
}

export interface RunReport {
  scenario: string
  summary: string
  seed: number
  mode: string
  nodes: number
  fingerprint: string
  startedAt: string
  options: Record<string, unknown>
  ok: boolean
  timings: {
    setupMs: number
    meshMs: number
    meshComplete: boolean
    faultPhaseMs: number
    healAtMs: number
    convergedAfterMs: number | null
  }
  /** missingAtHeal: live segments and tombstones the nodes lacked when the faults ended (down nodes not counted). */
  convergence: {
    boundMs: number
    /** CPU the nodes used from the heal until convergence (or the bound), against wall time × cores. */
    cpu: { seconds: number; wallSeconds: number; cores: number }
    missingAtHeal: number
    nodesBehindAtHeal: number
    /** Of those, items a node could have had from nodes it could still reach (null with kills). */
    missingWithinReachAtHeal: number | null
    lagMs: Spread | null
    perNodeLagMs: Array<number | null>
  }
  workload: {
    writes: number
    writesAcked: number
    tombstones: number
    tombstonesAcked: number
    purges: number
    bytesWritten: number
    live: number
    failedOps: number
  }
  traffic: {
    gossipOut: number
    gossipIn: number
    gossipBytesOut: number
    gossipBytesIn: number
    gossipDropped: number
    announcedItems: number
    digestsCompared: number
    repairs: number
    repairErrors: number
    segmentsFetched: number
    bytesFetched: number
    /** Segment requests beyond the first, per node and name (retries after a bad peer included). */
    duplicateRequests: number
    /** Downloads of a name the node already held. */
    duplicateStores: number
    /** Downloads refused because the tombstone arrived meanwhile. */
    refusedAfterTombstone: number
    /** Segment requests each node answered (min/median/max over nodes). */
    segmentRequestsServed: Spread
    hashMismatches: number
    /** Wanted segments the fetcher gave up (attempts used up or no candidate left). */
    itemsFailed: number
    fetchErrors: Record<string, number>
    http: Record<string, { requests: number; bytes: number }>
    wire: { p2p: number; httpServed: number; httpRequested: number }
  }
  rates: RateWindow[]
  /** Mean sizes, bytes: a digest gossip message, a /replication/digests body, an hour listing body. */
  sizes: { digestMessage: number; announceMessage: number; digestsBody: number; listingBody: number }
  memory: { perNodeRssBytes: Spread | null; perNodeHeapUsedBytes: Spread | null; processRssBytes: number; processHeapUsedBytes: number }
  connections: Spread
  /** Optional: absent from reports made before they were measured. */
  sockets?: SocketReport
  newSegmentSpread?: NewSegmentSpread
  /** The same for a new segment's name (replication learned it, before any download). */
  newNameSpread?: NewSegmentSpread
  /** Nodes that were connected with an empty gossip mesh on a subscribed announcement topic for 10 s or more, and the longest such stretch. */
  meshEmpty?: { nodes: number[]; longestMs: number }
  /**
   * In one process: perf_hooks' event-loop delay over the fault phase, sampled every 20 ms. The
   * readings include that interval (an idle loop reads about 20 ms): lateness is a reading less 20 ms.
   */
  eventLoopDelayMs?: { p50Ms: number; p99Ms: number; maxMs: number }
  perNode: NodeRow[]
  checks: Array<Check & { count: number }>
}

export function spread(values: readonly number[]): Spread | null {
  if (values.length === 0) return null
  const s = [...values].sort((a, b) => a - b)
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s.at(-1)! }
}

/** Counters summed over nodes (gauges are meaningless in a sum). */
export function sumCounters(all: readonly NodeCounters[]): NodeCounters {
  return all.reduce((acc, c) => addCounters(acc, c), emptyNodeCounters())
}

/** Rates per node per minute from the counters summed over nodes during `seconds`. */
export function rateWindow(label: string, total: NodeCounters, nodes: number, seconds: number, cpuSeconds: number): RateWindow {
  const per = (x: number): number => Math.round(x / nodes / (seconds / 60))
  const http = Object.values(total.http)
  return {
    label,
    seconds: Math.round(seconds),
    perNodePerMinute: {
      gossipOut: per(total.gossipOut),
      gossipIn: per(total.gossipIn),
      gossipBytesOut: per(total.gossipBytesOut),
      gossipBytesIn: per(total.gossipInBytes),
      httpRequests: per(http.reduce((n, h) => n + h.requests, 0)),
      httpBytes: per(http.reduce((n, h) => n + h.bytes, 0)),
      p2pWireBytes: per(total.wire.p2p),
      httpWireBytes: per(total.wire.httpServed + total.wire.httpRequested),
      digestsIn: per(total.gossipInDigests),
      repairs: per(total.repairs),
      digestRequests: per(total.http.digests.requests),
      listingRequests: per(total.http.listing.requests),
      segmentRequests: per(total.http.segment.requests),
      cpuSeconds: Math.round((cpuSeconds / nodes / (seconds / 60)) * 100) / 100
    }
  }
}

/** Duplicate segment requests (busy answers aside) and stores, and downloads refused by a tombstone, from the events. */
export function fetchStats(events: readonly ProbeEvent[]): { duplicateRequests: number; duplicateStores: number; refused: number } {
  const requests = new Map<string, number>()
  let duplicateStores = 0
  let refused = 0
  for (const e of events) {
    // A request answered busy moved nothing: only the one that was served counts.
    if (e.type === 'fetch-request' || e.type === 'fetch-busy')
      requests.set(`${e.node} ${e.path}`, (requests.get(`${e.node} ${e.path}`) ?? 0) + (e.type === 'fetch-request' ? 1 : -1))
    if (e.type === 'fetch-duplicate') duplicateStores++
    if (e.type === 'fetch-refused') refused++
  }
  let duplicateRequests = 0
  for (const n of requests.values()) duplicateRequests += n - 1
  return { duplicateRequests, duplicateStores, refused }
}

const kib = (n: number): string => (n >= 10 * 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`)
const ms = (n: number | null | undefined): string => (n == null ? '—' : n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${n} ms`)

/** One line: the spread of new segments (spread.ts). */
export function spreadLine(s: NewSegmentSpread): string {
  const reached = (v: number | null): string => (v == null ? 'not all reached' : `${v} ms`)
  const out = `p50 ${s.measured === 0 ? '—' : reached(s.p50Ms)}, p99 ${s.measured === 0 ? '—' : reached(s.p99Ms)}, max ${s.measured === 0 ? '—' : reached(s.maxMs)} over ${s.measured} writes made while the network was whole${s.unreached > 0 ? ` (${s.unreached} of them not on every node by the end)` : ''}`
  const left = [
    s.underFault > 0 ? `${s.underFault} made under a fault` : '',
    s.interrupted > 0 ? `${s.interrupted} cut by a fault within ${s.windowMs / 1000} s` : '',
    s.tombstonedFirst > 0 ? `${s.tombstonedFirst} tombstoned first` : ''
  ].filter((x) => x !== '')
  return left.length === 0 ? out : `${out}; left out: ${left.join(', ')}`
}

function kindsText(k: Record<WireKind, number>): string {
  return `libp2p ${k.p2p}, HTTP served ${k.httpServed}, HTTP client ${k.httpRequested}`
}

/** One line: the sockets per node (SocketReport). */
export function socketsLine(s: SocketReport): string {
  const k = s.byKind
  const parts = [
    `${s.perNode == null ? '—' : `${s.perNode.min} / ${s.perNode.median} / ${s.perNode.max}`} at the ${s.sampledAt}, ${s.total} in all${k == null ? '' : ` (${kindsText(k)})`}`
  ]
  if (s.perNodeMax != null)
    parts.push(
      `most at once per node ${s.perNodeMax.min} / ${s.perNodeMax.median} / ${s.perNodeMax.max}${s.busiestByKind == null ? '' : ` (that one: ${kindsText(s.busiestByKind)})`}, all nodes ${s.totalMax}`
    )
  if (s.processTcp != null)
    parts.push(
      `connected TCP sockets in the process${k == null ? 'es' : ''} ${s.processTcp}${s.outsideNodes == null ? '' : ` (of them, client sockets opened outside any node: ${s.outsideNodes.p2p} libp2p dials whose node was not found, ${s.outsideNodes.http} the harness's HTTP requests)`}`
    )
  return parts.join('; ')
}

function markdown(r: RunReport, dir: string): string {
  const lines = [
    `# ${r.scenario}: ${r.ok ? 'PASS' : 'FAIL'}`,
    '',
    `${r.summary}. ${r.nodes} nodes (${r.mode}), seed ${r.seed}, schedule ${r.fingerprint}, ${r.startedAt}.`,
    '',
    '| | |',
    '|---|---|',
    `| convergence after heal | ${ms(r.timings.convergedAfterMs)} (bound ${ms(r.convergence.boundMs)}); per-node lag min/median/max ${ms(r.convergence.lagMs?.min)} / ${ms(r.convergence.lagMs?.median)} / ${ms(r.convergence.lagMs?.max)} |`,
    `| CPU while converging | ${r.convergence.cpu.seconds} s of CPU in ${r.convergence.cpu.wallSeconds} s on ${r.convergence.cpu.cores} cores (${Math.round((100 * r.convergence.cpu.seconds) / Math.max(0.01, r.convergence.cpu.wallSeconds * r.convergence.cpu.cores))} % busy) |`,
    `| behind at heal | ${r.convergence.nodesBehindAtHeal} node(s) lacking ${r.convergence.missingAtHeal} segment(s)/tombstone(s) in all${r.convergence.missingWithinReachAtHeal == null ? '' : `; ${r.convergence.missingWithinReachAtHeal} of them long held by nodes they could still reach`} |`,
    `| workload | ${r.workload.writesAcked}/${r.workload.writes} writes, ${r.workload.tombstonesAcked}/${r.workload.tombstones} tombstones, ${r.workload.purges} purges, ${r.workload.live} live at the end |`,
    `| bytes moved | ${kib(r.traffic.bytesFetched)} in ${r.traffic.segmentsFetched} segment downloads; HTTP JSON ${kib((r.traffic.http.digests?.bytes ?? 0) + (r.traffic.http.listing?.bytes ?? 0))}; wire ${kib(r.traffic.wire.p2p)} libp2p + ${kib(r.traffic.wire.httpServed + r.traffic.wire.httpRequested)} HTTP |`,
    `| segment requests answered per node | ${r.traffic.segmentRequestsServed.min} / ${r.traffic.segmentRequestsServed.median} / ${r.traffic.segmentRequestsServed.max} |`,
    `| duplicate fetches | ${r.traffic.duplicateRequests} extra segment requests, ${r.traffic.duplicateStores} duplicate stores, ${r.traffic.hashMismatches} hash mismatches, ${r.traffic.refusedAfterTombstone} refused by a tombstone, ${r.traffic.itemsFailed} given up; ${r.traffic.fetchErrors.http_4xx ?? 0} answered 4xx |`,
    `| gossip | ${r.traffic.gossipOut} published (${kib(r.traffic.gossipBytesOut)}), ${r.traffic.gossipIn} received, ${r.traffic.gossipDropped} dropped by the nemesis; ${r.traffic.repairs} repairs |`,
    `| connections per node | ${r.connections.min} / ${r.connections.median} / ${r.connections.max} |`,
    ...(r.sockets == null ? [] : [`| TCP sockets per node, min / median / max | ${socketsLine(r.sockets)} |`]),
    ...(r.newSegmentSpread == null
      ? []
      : [`| a new segment stored on every node, after its write was acknowledged | ${spreadLine(r.newSegmentSpread)} |`]),
    ...(r.newNameSpread == null ? [] : [`| its name known on every node | ${spreadLine(r.newNameSpread)} |`]),
    ...(r.meshEmpty == null
      ? []
      : [
          `| connected with an empty gossip mesh for 10 s or more | ${r.meshEmpty.nodes.length === 0 ? 'no node' : `nodes ${r.meshEmpty.nodes.join(', ')}`}; the longest stretch ${ms(r.meshEmpty.longestMs)} |`
        ]),
    ...(r.eventLoopDelayMs == null
      ? []
      : [
          `| event loop delay in the fault phase (one loop for all nodes; idle reads 20 ms) | p50 ${r.eventLoopDelayMs.p50Ms} ms, p99 ${r.eventLoopDelayMs.p99Ms} ms, max ${r.eventLoopDelayMs.maxMs} ms |`
        ]),
    `| memory | ${r.memory.perNodeRssBytes == null ? `process RSS ${kib(r.memory.processRssBytes)} for ${r.nodes} nodes` : `RSS per node ${kib(r.memory.perNodeRssBytes.min)} / ${kib(r.memory.perNodeRssBytes.median)} / ${kib(r.memory.perNodeRssBytes.max)}, JS heap used median ${kib(r.memory.perNodeHeapUsedBytes?.median ?? 0)}`} |`,
    ''
  ]
  for (const w of r.rates) {
    const p = w.perNodePerMinute
    lines.push(
      `Per node per minute (${w.label}, ${w.seconds} s): ${p.gossipOut} gossip out, ${p.gossipIn} in (${p.digestsIn} digests), ${kib(p.gossipBytesOut)} gossip out; ${p.repairs} repairs, ${p.httpRequests} HTTP requests (${p.digestRequests} digests, ${p.listingRequests} listings, ${p.segmentRequests} segments); wire ${kib(p.p2pWireBytes)} libp2p, ${kib(p.httpWireBytes)} HTTP; ${p.cpuSeconds} CPU s.`,
      ''
    )
  }
  lines.push(
    `Mean sizes: digest message ${r.sizes.digestMessage} B, announce ${r.sizes.announceMessage} B, /replication/digests body ${r.sizes.digestsBody} B, hour listing ${r.sizes.listingBody} B.`,
    ''
  )
  lines.push('| check | result |', '|---|---|')
  for (const c of r.checks)
    lines.push(`| ${c.name} | ${c.ok ? 'ok' : `**${c.count} violation(s)**: ${c.violations.slice(0, 3).join('; ')}`} |`)
  lines.push(
    '',
    '| node | behind at heal (within reach) | lag | fetched | gossip out/in | repairs | conns | sockets (max) | RSS |',
    '|---|---|---|---|---|---|---|---|---|'
  )
  for (const n of r.perNode)
    lines.push(
      `| ${n.node} | ${n.missingAtHeal ?? 'down'}${n.missingWithinReachAtHeal == null ? '' : ` (${n.missingWithinReachAtHeal})`} | ${ms(n.lagMs)} | ${n.segmentsFetched} (${kib(n.bytesFetched)}) | ${n.gossipOut}/${n.gossipIn} | ${n.repairs} | ${n.connections} | ${n.sockets ?? '—'}${n.socketsMax == null ? '' : ` (${n.socketsMax})`} | ${n.rssBytes == null ? '—' : kib(n.rssBytes)} |`
    )
  lines.push('', `Files: ${dir}`)
  return `${lines.join('\n')}\n`
}

export async function writeReport(r: RunReport, dir: string): Promise<{ json: string; md: string }> {
  const json = join(dir, 'report.json')
  const md = join(dir, 'summary.md')
  await writeFile(json, `${JSON.stringify(r, null, 2)}\n`)
  await writeFile(md, markdown(r, dir))
  return { json, md }
}
