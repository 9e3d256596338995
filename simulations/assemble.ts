/** Everything a run measured and checked, put together as the report (no I/O). */
import type { Check } from './checkers.ts'
import type { NodeCounters } from './counters.ts'
import type { History } from './history.ts'
import type { Plan } from './plan.ts'
import { fingerprint } from './plan.ts'
import type { ProbeEvent } from './probe.ts'
import { type RateWindow, type RunReport, fetchStats, spread } from './report.ts'
import type { Scenario } from './scenarios.ts'

export interface RunData {
  scenario: Scenario
  plan: Plan
  options: Record<string, unknown>
  mode: string
  startedAt: Date
  history: History
  setupMs: number
  meshMs: number
  meshComplete: boolean
  boundMs: number
  /** Per node: ms from the heal until it converged, or null. */
  lags: Array<number | null>
  cpuConverging: { seconds: number; wallSeconds: number; cores: number }
  missingAtHeal: Array<number | null>
  missingWithinReach: Array<number | null> | null
  windows: RateWindow[]
  final: { sum: NodeCounters; each: NodeCounters[] }
  memory: Array<{ rss: number; heapUsed: number | null } | null>
  urls: string[]
  answered: number[]
  events: readonly ProbeEvent[]
  checks: Check[]
}

const round2 = (x: number): number => Math.round(x * 100) / 100
const sum = (xs: ReadonlyArray<number | null>): number => xs.reduce<number>((n, x) => n + (x ?? 0), 0)
const ratio = (a: number, b: number): number => Math.round(a / Math.max(1, b))

export function assembleReport(d: RunData): RunReport {
  const { history, final, lags } = d
  const t = final.sum
  const fetched = fetchStats(d.events)
  const convergedAfterMs = lags.every((l) => l != null) ? Math.max(0, ...(lags as number[])) : null
  const own = process.memoryUsage()
  return {
    scenario: d.scenario.name,
    summary: d.scenario.summary,
    seed: d.plan.seed,
    mode: d.mode,
    nodes: d.plan.nodes,
    fingerprint: fingerprint(d.plan),
    startedAt: d.startedAt.toISOString(),
    options: d.options,
    ok: d.checks.every((c) => c.ok),
    timings: {
      setupMs: d.setupMs,
      meshMs: d.meshMs,
      meshComplete: d.meshComplete,
      faultPhaseMs: d.plan.durationMs,
      healAtMs: history.healAt,
      convergedAfterMs
    },
    convergence: {
      boundMs: d.boundMs,
      cpu: { seconds: round2(d.cpuConverging.seconds), wallSeconds: round2(d.cpuConverging.wallSeconds), cores: d.cpuConverging.cores },
      missingAtHeal: sum(d.missingAtHeal),
      nodesBehindAtHeal: d.missingAtHeal.filter((m) => m !== 0).length,
      missingWithinReachAtHeal: d.missingWithinReach == null ? null : sum(d.missingWithinReach),
      lagMs: spread(lags.filter((l): l is number => l != null)),
      perNodeLagMs: lags
    },
    workload: {
      writes: history.writes.size,
      writesAcked: history.written().size,
      tombstones: history.tombstones.length,
      tombstonesAcked: history.tombstoned().size,
      purges: history.ops.filter((o) => o.op.op === 'purge').length,
      bytesWritten: [...history.writes.values()].reduce((n, w) => n + w.bytes, 0),
      live: history.live().size,
      failedOps: history.ops.filter((o) => !o.ok).length
    },
    traffic: {
      gossipOut: t.gossipOut,
      gossipIn: t.gossipIn,
      gossipBytesOut: t.gossipBytesOut,
      gossipBytesIn: t.gossipInBytes,
      gossipDropped: t.gossipDropped,
      announcedItems: t.announcedItems,
      digestsCompared: t.digestsCompared,
      repairs: t.repairs,
      repairErrors: t.repairErrors,
      segmentsFetched: t.segmentsFetched,
      bytesFetched: t.bytesFetched,
      duplicateRequests: fetched.duplicateRequests,
      duplicateStores: fetched.duplicateStores,
      refusedAfterTombstone: fetched.refused,
      segmentRequestsServed: spread(d.answered) ?? { min: 0, median: 0, max: 0 },
      hashMismatches: t.hashMismatches,
      itemsFailed: t.itemsFailed,
      fetchErrors: t.fetchErrors,
      http: t.http,
      wire: t.wire
    },
    rates: d.windows,
    sizes: {
      digestMessage: ratio(t.gossipInDigestBytes, t.gossipInDigests),
      announceMessage: ratio(t.gossipInBytes - t.gossipInDigestBytes, t.gossipIn - t.gossipInDigests),
      digestsBody: ratio(t.http.digests.bytes, t.http.digests.requests),
      listingBody: ratio(t.http.listing.bytes, t.http.listing.requests)
    },
    memory: {
      perNodeRssBytes: spread(d.memory.map((m) => m?.rss).filter((r): r is number => r != null)),
      perNodeHeapUsedBytes: spread(d.memory.map((m) => m?.heapUsed).filter((r): r is number => r != null)),
      processRssBytes: own.rss,
      processHeapUsedBytes: own.heapUsed
    },
    connections: spread(final.each.map((c) => c.connections)) ?? { min: 0, median: 0, max: 0 },
    perNode: final.each.map((c, i) => ({
      node: i,
      url: d.urls[i]!,
      lagMs: lags[i] ?? null,
      missingAtHeal: d.missingAtHeal[i] ?? null,
      missingWithinReachAtHeal: d.missingWithinReach?.[i] ?? null,
      segmentsFetched: c.segmentsFetched,
      bytesFetched: c.bytesFetched,
      gossipOut: c.gossipOut,
      gossipIn: c.gossipIn,
      repairs: c.repairs,
      segmentRequestsServed: d.answered[i] ?? 0,
      connections: c.connections,
      peersKnown: c.peersKnown,
      rssBytes: d.memory[i]?.rss ?? null
    })),
    checks: d.checks.map((c) => ({ ...c, count: c.violations.length, violations: c.violations.slice(0, 20) }))
  }
}
