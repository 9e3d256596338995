/**
 * Invariant checkers over the final state and the recorded history. Each returns every violation
 * (the report keeps the first few); a run passes when all of them hold.
 */
import type { DiskState, ServedState } from './final-state.ts'
import type { OpRecord } from './history.ts'
import type { ProbeEvent } from './probe.ts'

export interface Check {
  name: string
  ok: boolean
  /** What was checked, in one line. */
  what: string
  violations: string[]
}

function check(name: string, what: string, violations: string[]): Check {
  return { name, ok: violations.length === 0, what, violations }
}

/** Every node matched the expected digests within `boundMs` of the heal. */
export function convergence(lagMs: ReadonlyMap<number, number | null>, boundMs: number): Check {
  const violations: string[] = []
  for (const [node, lag] of lagMs) {
    if (lag == null) violations.push(`node ${node} had not converged ${boundMs} ms after the heal`)
    else if (lag > boundMs) violations.push(`node ${node} converged after ${lag} ms (bound ${boundMs} ms)`)
  }
  return check('convergence', `every node holds every live segment and tombstone within ${boundMs} ms of the heal`, violations)
}

/** Every acknowledged, untombstoned write is listed by every node; none is missing everywhere. */
export function nothingLost(live: ReadonlySet<string>, served: readonly ServedState[]): Check {
  const violations: string[] = []
  for (const path of live) {
    const missing = served.filter((s) => !s.visible.has(path)).map((s) => s.node)
    if (missing.length === served.length) violations.push(`LOST ${path}: on no node`)
    else if (missing.length > 0) violations.push(`${path} missing on nodes ${missing.join(',')}`)
  }
  return check('nothing-lost', 'every acknowledged write that was not tombstoned is listed by every node', violations)
}

/** Nothing is listed that was never written (a resurrected or invented segment). */
export function nothingUnexpected(written: ReadonlySet<string>, served: readonly ServedState[]): Check {
  const violations: string[] = []
  for (const s of served) {
    for (const path of s.visible) if (!written.has(path)) violations.push(`node ${s.node} lists ${path}, which no one wrote`)
  }
  return check('nothing-unexpected', 'no node lists a segment the harness never wrote', violations)
}

/** Every node holds every tombstone, lists none of those segments and answers 404 for each. */
export function tombstonesHold(tombstoned: ReadonlySet<string>, served: readonly ServedState[]): Check {
  const violations: string[] = []
  for (const s of served) {
    for (const path of tombstoned) {
      if (!s.tombstones.has(path)) violations.push(`node ${s.node} lacks the tombstone of ${path}`)
      if (s.visible.has(path)) violations.push(`node ${s.node} lists tombstoned ${path}`)
      const status = s.served.get(path)
      if (status !== 404) violations.push(`node ${s.node} answers ${status} for tombstoned ${path}`)
    }
    for (const path of s.tombstones)
      if (!tombstoned.has(path)) violations.push(`node ${s.node} holds a tombstone no one asked for: ${path}`)
  }
  return check('tombstones-hold', 'every node holds every tombstone, lists none of them and answers 404 for each', violations)
}

/**
 * From the history: once a node recorded a tombstone, it never requested that segment again, and
 * nothing it had not already requested was stored or indexed under that name. (The fetcher checks
 * the index right before each request, and the tombstone event fires after the index write, so a
 * request created after the event is a real re-fetch. A download that was already running may
 * still complete; the store then refuses it or indexes it hidden, which is allowed.)
 */
export function noResurrection(events: readonly ProbeEvent[]): Check {
  const reached = new Map<string, number>()
  const requested = new Set<string>()
  const sorted = [...events].sort((a, b) => a.t - b.t)
  const violations: string[] = []
  for (const e of sorted) {
    const key = `${e.node} ${e.path}`
    const at = reached.get(key)
    if (e.type === 'tombstone') {
      if (at == null) reached.set(key, e.t)
      continue
    }
    if (e.type === 'fetch-request' && at == null) requested.add(key)
    if (at == null) continue
    const late =
      e.type === 'fetch-request' ||
      ((e.type === 'fetch-stored' || e.type === 'fetch-duplicate' || e.type === 'segment') && !requested.has(key))
    if (late) violations.push(`node ${e.node}: ${e.type} of ${e.path} ${e.t - at} ms after its tombstone reached it`)
  }
  return check(
    'no-resurrection',
    'no node requested a segment again after its tombstone reached it, nor stored one it had not requested before',
    violations
  )
}

/** A Reconciler pass over every stopped node found its index equal to its disk. */
export function indexEqualsDisk(disks: readonly DiskState[]): Check {
  const violations: string[] = []
  for (const d of disks) {
    const r = d.reconcile
    if (r.added !== 0 || r.removed !== 0 || r.corrupt !== 0)
      violations.push(`node ${d.node}: reconcile added ${r.added}, removed ${r.removed}, corrupt ${r.corrupt}`)
  }
  return check('index-equals-disk', 'a Reconciler pass over each stopped node adds, removes and sets aside nothing', violations)
}

/** Every segment file on every disk hashes to its name. */
export function hashesMatch(disks: readonly DiskState[]): Check {
  const violations: string[] = []
  for (const d of disks) {
    for (const path of d.wrongHash) violations.push(`node ${d.node}: ${path} does not hash to its name`)
    if (d.corruptAside > 0) violations.push(`node ${d.node}: ${d.corruptAside} file(s) set aside as corrupt`)
  }
  return check('hashes-match', 'every segment file on every node hashes to its name', violations)
}

/** Every step of the schedule was carried out: a write listed, a tombstone taken, a restart up. */
export function stepsSucceeded(ops: readonly OpRecord[]): Check {
  // First line only: a failed start carries the node's log.
  const violations = ops.filter((o) => !o.ok).map((o) => `step at ${o.at} ms (${o.op.op}) failed: ${(o.error ?? '').split('\n')[0]}`)
  return check('steps-succeeded', 'every step of the schedule (write, tombstone, purge, kill, restart, fault) succeeded', violations)
}

/** No node exited unless the schedule killed or stopped it. */
export function noCrashes(crashes: ReadonlyArray<{ node: number; code: number | null; signal: string | null; logTail: string }>): Check {
  const violations = crashes.map((c) => {
    // One line, so it fits the summary's table: the log's last lines joined.
    const last = c.logTail.trimEnd().split('\n').slice(-4).join(' ⏎ ')
    return `node ${c.node} exited on its own (${c.code ?? c.signal}); its log ends: ${last}`
  })
  return check('no-crashes', 'no node exited unless the schedule killed or stopped it', violations)
}

/** The probe attributed every store event and gossip message to a node (in one process). */
export function attribution(unattributed: { storeEvents: number }): Check {
  const violations: string[] = []
  if (unattributed.storeEvents > 0) violations.push(`${unattributed.storeEvents} store events belonged to no node`)
  return check('attribution', 'every store event was attributed to its node', violations)
}
