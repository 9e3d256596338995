/**
 * A run's schedule, made up front from the seed: every write, tombstone, fault and restart with
 * its time. Executing a plan involves no further random choice, so one seed replays one run.
 */
import { createHash } from 'node:crypto'
import { type Grudge, type GrudgeKind, grudgeJson, makeGrudge } from './grudge.ts'
import type { AttackKind } from './attacks.ts'
import type { Rng } from './prng.ts'

export const CHANNEL = 'sim'
export const QUALITIES = ['source', 'low'] as const
export const SEGMENT_US = 2_000_000

/** A synthetic segment: its bytes come from `seed`; its start is `slot` × 2 s after the run's base. */
export interface SegmentSpec {
  quality: string
  slot: number
  seed: string
  size: number
}

/** HTTP faults of a node's proxy (what peers fetching from it see). */
export interface Toxic {
  /** Delay before the response starts, ms. */
  latencyMs?: number
  /** Response bytes per second (slow peer). */
  bytesPerSecond?: number
  /** Flip a byte in every segment body (lying peer). */
  corrupt?: boolean
}

export type Op =
  | { op: 'write'; node: number; write: number; segment: SegmentSpec }
  | { op: 'tombstone'; node: number; write: number }
  | { op: 'purge'; node: number }
  | { op: 'partition'; kind: GrudgeKind; grudge: Record<string, number[]>; sides: number[][] }
  | { op: 'heal-partition' }
  | { op: 'gossip'; nodes: number[]; loss: number; delayMs: number }
  | { op: 'toxic'; node: number; toxic: Toxic | null }
  | { op: 'kill'; node: number }
  | { op: 'stop'; node: number }
  | { op: 'restart'; node: number }
  /** Hostile participants (attacks.ts) join through `node` until `end-attacks`. */
  | { op: 'attack'; node: number; attack: AttackKind }
  | { op: 'end-attacks' }

export interface Step {
  /** ms after the fault phase starts. */
  at: number
  op: Op
}

export interface Plan {
  scenario: string
  seed: number
  nodes: number
  /** Length of the fault phase, ms; everything heals at its end. */
  durationMs: number
  /** bootstrapOf[i]: the node i joins through (-1 for the first). */
  bootstrapOf: number[]
  /** Nodes whose HTTP goes through a fault proxy. */
  proxied: number[]
  steps: Step[]
}

export type Topology = 'star' | 'tree'

export interface WorkloadOptions {
  /** Writes per second over the whole network. */
  writesPerSecond: number
  /** Share of writes followed later by a tombstone of a random earlier write. */
  tombstoneRatio: number
  /** Mean segment size, bytes. */
  segmentBytes: number
}

/** Builds a plan: scenarios add faults; the workload fills the phase with writes and tombstones. */
export class PlanBuilder {
  readonly nodes: number[]
  readonly durationMs: number
  readonly rng: Rng
  readonly workloadOptions: WorkloadOptions
  readonly #steps: Step[] = []
  readonly #proxied = new Set<number>()
  #writes = 0

  constructor(nodeCount: number, durationMs: number, workload: WorkloadOptions, rng: Rng) {
    this.nodes = Array.from({ length: nodeCount }, (_, i) => i)
    this.durationMs = durationMs
    this.workloadOptions = workload
    this.rng = rng
  }

  add(at: number, op: Op): void {
    this.#steps.push({ at: Math.round(at), op })
  }

  proxy(node: number): void {
    this.#proxied.add(node)
  }

  /** Apply a grudge of `kind` from `from` to `to` (ms); returns it. */
  partition(kind: GrudgeKind, from: number, to: number): { grudge: Grudge; sides: number[][] } {
    const made = makeGrudge(kind, this.nodes, this.rng.fork(`grudge-${kind}-${from}`))
    this.add(from, { op: 'partition', kind, grudge: grudgeJson(made.grudge), sides: made.sides })
    this.add(to, { op: 'heal-partition' })
    return made
  }

  /** A write of a new segment on `node`; returns its id (which is also its time slot). */
  write(at: number, node: number, rng: Rng): number {
    const id = this.#writes++
    const size = Math.max(188, Math.round(this.workloadOptions.segmentBytes * (0.5 + rng.next())))
    this.add(at, {
      op: 'write',
      node,
      write: id,
      segment: { quality: rng.pick(QUALITIES), slot: id, seed: `w${id}-${rng.nextU32()}`, size }
    })
    return id
  }

  /**
   * Which nodes are down at `at`, from the kill/stop/restart steps added so far. Steps are kept in
   * whole ms, and a step added later runs after those already at its ms: a kill at that ms counts.
   */
  downAt(at: number): Set<number> {
    const down = new Set<number>()
    const t = Math.round(at)
    for (const s of this.#sorted()) {
      if (s.at > t) break
      if (s.op.op === 'kill' || s.op.op === 'stop') down.add(s.op.node)
      if (s.op.op === 'restart') down.delete(s.op.node)
    }
    return down
  }

  /** Writes (and some tombstones and purges) on random up nodes, spread over the phase. */
  workload(): void {
    const options = this.workloadOptions
    const rng = this.rng.fork('workload')
    const count = Math.max(4, Math.round((options.writesPerSecond * this.durationMs) / 1000))
    const writes: number[] = []
    for (let i = 0; i < count; i++) {
      const at = ((i + rng.next()) * this.durationMs) / count
      const node = this.upNode(at, rng)
      if (node == null) continue
      writes.push(this.write(at, node, rng))
      if (writes.length > 1 && rng.chance(options.tombstoneRatio)) {
        const target = rng.pick(writes.slice(0, -1))
        const later = at + rng.next() * (this.durationMs - at) * 0.5
        const by = this.upNode(later, rng)
        if (by != null) this.add(later, { op: 'tombstone', node: by, write: target })
        if (by != null && rng.chance(0.3)) this.add(later + 1, { op: 'purge', node: by })
      }
    }
  }

  /** A random node that is up at `at` (null when none is). */
  upNode(at: number, rng: Rng, among: readonly number[] = this.nodes): number | null {
    const down = this.downAt(at)
    const up = among.filter((n) => !down.has(n))
    return up.length === 0 ? null : rng.pick(up)
  }

  #sorted(): Step[] {
    return [...this.#steps].sort((a, b) => a.at - b.at)
  }

  /**
   * `star`: every node joins through node 0, as operators sharing one bootstrap address do.
   * `tree`: each node joins through a random earlier one.
   */
  build(scenario: string, seed: number, topology: Topology = 'star'): Plan {
    const rng = this.rng.fork('bootstrap')
    const bootstrapOf = this.nodes.map((i) => (i === 0 ? -1 : topology === 'star' ? 0 : rng.int(i)))
    return {
      scenario,
      seed,
      nodes: this.nodes.length,
      durationMs: this.durationMs,
      bootstrapOf,
      proxied: [...this.#proxied].sort((a, b) => a - b),
      steps: this.#sorted()
    }
  }
}

/** A short fingerprint of the schedule: equal for equal seeds and options. */
export function fingerprint(plan: Plan): string {
  return createHash('sha256').update(JSON.stringify(plan)).digest('base64url').slice(0, 16)
}
