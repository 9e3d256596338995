/**
 * How fast a new segment reaches every node, from the history and the probe events (no I/O).
 *
 * For a write, its spread is the time from its acknowledgement on its origin node (`ackAt`) to the
 * moment the last node stored it (the node's first `segment` store event or `fetch-stored` backfill
 * write of that path); or, with NAME_KNOWN, the moment the last node knew its name (replication
 * learned it, a `name` event, or the node stored it).
 *
 * Only writes made while the network was whole count. A write is measured when:
 * - it was acknowledged, and no fault was in effect when its step started;
 * - no fault began from its start until it was on every node, or until `windowMs` after its
 *   acknowledgement if it took longer (then the network was whole for the whole window, and what
 *   came after is the write's own slowness: it is measured, not excused);
 * - it was not tombstoned (acknowledged) before it was on every node or the window ended (a
 *   tombstone stops its spread on purpose).
 * A fault is any step that changes the network: a partition until `heal-partition`, gossip loss or
 * delay on a node until it is lifted, a toxic on a node until it is lifted, a kill or stop until the
 * restart finished, an attack until `end-attacks`; all of them until the heal. A fault is in effect
 * from its step's start to the end of the step that lifts it (both as recorded in the history).
 * Writes whose window a fault cut are counted apart (`interrupted`), so a reader sees how many the
 * definition left out. "Every node" is every node of the plan: a node that is down is a fault.
 *
 * Times are integer ms: events carry `Date.now()`, the history ms after its `t0`.
 */
import type { History, OpRecord } from './history.ts'
import type { ProbeEvent, ProbeEventType } from './probe.ts'

/** How long the network must stay whole after a write's acknowledgement for it to count, ms. */
export const SPREAD_WINDOW_MS = 10_000

export interface NewSegmentSpread {
  /** The window after the acknowledgement that must be fault-free, ms. */
  windowMs: number
  /** Writes measured (reached every node, or not within the run). */
  measured: number
  /** Of those, writes that some node had not stored by the end of the run. */
  unreached: number
  /** Writes left out: a fault began inside their window. */
  interrupted: number
  /** Writes left out: made under a fault. */
  underFault: number
  /** Writes left out: tombstoned before they were everywhere. */
  tombstonedFirst: number
  /** Nearest-rank percentiles over the measured writes, ms; null when it falls on an unreached write (or none measured). */
  p50Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

/** The intervals (ms after t0) during which any fault was in effect. */
export function faultIntervals(ops: readonly OpRecord[], healAt: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  const open = new Map<string, number>()
  const begin = (key: string, t: number): void => {
    if (!open.has(key)) open.set(key, t)
  }
  const end = (key: string, t: number): void => {
    const from = open.get(key)
    if (from == null) return
    open.delete(key)
    out.push([from, t])
  }
  for (const o of [...ops].sort((a, b) => a.t - b.t)) {
    const op = o.op
    const done = o.t + o.ms
    switch (op.op) {
      case 'partition':
        begin('partition', o.t)
        break
      case 'heal-partition':
        end('partition', done)
        break
      case 'gossip':
        for (const n of op.nodes) {
          if (op.loss > 0 || op.delayMs > 0) begin(`gossip ${n}`, o.t)
          else end(`gossip ${n}`, done)
        }
        break
      case 'toxic':
        if (op.toxic != null) begin(`toxic ${op.node}`, o.t)
        else end(`toxic ${op.node}`, done)
        break
      case 'kill':
      case 'stop':
        begin(`down ${op.node}`, o.t)
        break
      case 'restart':
        end(`down ${op.node}`, done)
        break
      case 'attack':
        begin('attack', o.t)
        break
      case 'end-attacks':
        end('attack', done)
        break
      default:
    }
  }
  for (const from of open.values()) out.push([from, Math.max(from, healAt)])
  return out.sort((a, b) => a[0] - b[0])
}

/** Nearest rank: the smallest value with at least p % of the values at or below it. */
export function percentile(sorted: ReadonlyArray<number>, p: number): number | null {
  if (sorted.length === 0) return null
  const v = sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!
  return Number.isFinite(v) ? v : null
}

/** A node has a write once it stored it. */
export const STORED: ReadonlySet<ProbeEventType> = new Set(['segment', 'fetch-stored'])
/** A node knows a write's name once replication learned it (or it stored the write: its origin never learns it). */
export const NAME_KNOWN: ReadonlySet<ProbeEventType> = new Set(['segment', 'fetch-stored', 'name'])

/** How long writes took to reach every node; `reached` says which events count as having one. */
export function newSegmentSpread(
  history: Pick<History, 't0' | 'healAt' | 'ops' | 'writes' | 'tombstones'>,
  events: readonly ProbeEvent[],
  nodes: number,
  reached: ReadonlySet<ProbeEventType> = STORED,
  windowMs: number = SPREAD_WINDOW_MS
): NewSegmentSpread {
  const faults = faultIntervals(history.ops, history.healAt)
  // When each node first had each path, ms after t0.
  const stored = new Map<string, Map<number, number>>()
  for (const e of events) {
    if (!reached.has(e.type)) continue
    const t = e.t - history.t0
    let byNode = stored.get(e.path)
    if (byNode == null) stored.set(e.path, (byNode = new Map()))
    const had = byNode.get(e.node)
    if (had == null || t < had) byNode.set(e.node, t)
  }
  const startOf = new Map<number, number>()
  for (const o of history.ops) if (o.op.op === 'write') startOf.set(o.op.write, o.t)
  const tombstonedAt = new Map<string, number>()
  for (const x of history.tombstones) if (x.ok) tombstonedAt.set(x.path, Math.min(x.at, tombstonedAt.get(x.path) ?? x.at))

  const values: number[] = []
  let unreached = 0
  let interrupted = 0
  let underFault = 0
  let tombstonedFirst = 0
  for (const w of history.writes.values()) {
    if (!w.ok) continue
    const start = startOf.get(w.write) ?? w.ackAt
    if (faults.some(([a, b]) => a <= start && start <= b)) {
      underFault++
      continue
    }
    const byNode = stored.get(w.path)
    const everywhere = byNode != null && byNode.size >= nodes ? Math.max(...byNode.values()) : null
    const until = everywhere == null ? w.ackAt + windowMs : Math.min(Math.max(everywhere, w.ackAt), w.ackAt + windowMs)
    if (faults.some(([a]) => start < a && a <= until)) {
      interrupted++
      continue
    }
    const tomb = tombstonedAt.get(w.path)
    if (tomb != null && tomb <= until) {
      tombstonedFirst++
      continue
    }
    if (everywhere == null) unreached++
    values.push(everywhere == null ? Number.POSITIVE_INFINITY : Math.max(0, everywhere - w.ackAt))
  }
  values.sort((a, b) => a - b)
  return {
    windowMs,
    measured: values.length,
    unreached,
    interrupted,
    underFault,
    tombstonedFirst,
    p50Ms: percentile(values, 50),
    p99Ms: percentile(values, 99),
    maxMs: percentile(values, 100)
  }
}
