/**
 * The recorded history of a run: every operation the harness performed with its planned and actual
 * time and outcome, the writes and tombstones that were acknowledged, and the phase marks. The
 * expected final state (and its per-hour digests) is derived from it.
 */
import { createHash } from 'node:crypto'
import { tombstoneFileName } from '../storage/segment-name.ts'
import type { Op } from './plan.ts'
import type { DigestMap } from './sim-node.ts'

export interface OpRecord {
  /** Planned, ms after the fault phase started. */
  at: number
  /** Actual start, ms after the fault phase started. */
  t: number
  /** How long it took, ms. */
  ms: number
  op: Op
  ok: boolean
  error?: string
}

export interface WriteRecord {
  write: number
  node: number
  /** CHANNEL/QUALITY/HOUR/FILE */
  path: string
  bytes: number
  /** Acknowledged: the node listed it (child) or indexed it (in-process). */
  ok: boolean
  /** ms after the fault phase started. */
  ackAt: number
}

export interface TombstoneRecord {
  node: number
  write: number
  path: string
  ok: boolean
  at: number
}

export class History {
  /** ms since the epoch when the fault phase started. */
  t0 = 0
  /** ms after t0 when everything was healed. */
  healAt = 0
  readonly ops: OpRecord[] = []
  readonly writes = new Map<number, WriteRecord>()
  readonly tombstones: TombstoneRecord[] = []

  now(): number {
    return Date.now() - this.t0
  }

  /** Segment paths acknowledged as written. */
  written(): Set<string> {
    return new Set([...this.writes.values()].filter((w) => w.ok).map((w) => w.path))
  }

  /** Segment paths the harness tried to write, acknowledged or not. */
  attempted(): Set<string> {
    return new Set([...this.writes.values()].map((w) => w.path))
  }

  /** Segment paths whose tombstone a node acknowledged. */
  tombstoned(): Set<string> {
    return new Set(this.tombstones.filter((t) => t.ok).map((t) => t.path))
  }

  live(): Set<string> {
    const dead = this.tombstoned()
    return new Set([...this.written()].filter((p) => !dead.has(p)))
  }

  /** The per-hour digests every node must end with (as the index computes them). */
  expectedDigests(): DigestMap {
    const acc = new Map<string, Map<string, Buffer>>()
    const add = (path: string, name: string): void => {
      const [channel, quality, hour] = path.split('/') as [string, string, string]
      const key = `${channel}/${quality}`
      if (!acc.has(key)) acc.set(key, new Map())
      const hours = acc.get(key)!
      const d = hours.get(hour) ?? Buffer.alloc(32)
      const h = createHash('sha256').update(name).digest()
      for (let i = 0; i < 32; i++) d[i]! ^= h[i]!
      hours.set(hour, d)
    }
    for (const path of this.live()) add(path, path.split('/')[3]!)
    for (const path of this.tombstoned()) add(path, tombstoneFileName(path.split('/')[3]!))
    const out: DigestMap = new Map()
    for (const [key, hours] of acc) {
      const kept = new Map<string, string>()
      for (const [hour, d] of hours) if (d.some((b) => b !== 0)) kept.set(hour, d.toString('base64url'))
      if (kept.size > 0) out.set(key, kept)
    }
    return out
  }
}

export function sameDigests(a: DigestMap, b: DigestMap): boolean {
  if (a.size !== b.size) return false
  for (const [key, hours] of a) {
    const other = b.get(key)
    if (other == null || other.size !== hours.size) return false
    for (const [hour, d] of hours) if (other.get(hour) !== d) return false
  }
  return true
}
