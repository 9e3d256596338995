/**
 * What a range walk costs, from the product's own walk (replication/range-diff.ts `rangeDiff`, its
 * real splitting: the window into ≤ 32 runs of hours, hours, 16 parts …, listing at ≤ 64 names)
 * run against two in-memory archives that differ by a given number of names. Counted: part and
 * name requests, sequential round trips, and the bytes of the requests and answers as the HTTP
 * routes encode them. Walked once per (lacked, extra) point of a grid before a model runs (the
 * walk is async); the model interpolates.
 */
import { type RangeReader, lacking, rangeDiff, theyLack } from '../../replication/range-diff.ts'
import type { RangeNames, RangePart } from '../../replication/ranges.ts'
import { MICROS_PER_HOUR } from '../../storage/time.ts'
import type { Costs } from './costs.ts'
import { listedNameBytes } from './sizes.ts'

export interface ArchiveShape {
  /** Hours in the walked window (the product's --window-hours, 336). */
  windowHours: number
  /** Names per hour per channel/quality everywhere but the newest hour (1,800: 2 s segments). */
  namesPerHour: number
  /** Names in the newest hour before the difference (where a partition's writes land). */
  newestHourNames: number
}

export interface WalkCost {
  partRequests: number
  nameRequests: number
  /** Sequential round trips (a split waits for its answer; listings of one level go together). */
  rounds: number
  /** HTTP bytes both ways, headers included. */
  bytes: number
  /** What the walk found: names the walker lacked, names it could offer. */
  lacked: number
  offerable: number
}

/** A 32-bit mix (splitmix32's finaliser) for fingerprints: equal sets give equal sums. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** One side: the shared background plus the names only it holds (µs starts in the newest hour). */
function archive(shape: ArchiveShape, own: readonly number[], stats: { round: number; rounds: Set<number> } | null): RangeReader {
  const newest = (shape.windowHours - 1) * MICROS_PER_HOUR
  const perHour = (h: number): number => (h * MICROS_PER_HOUR === newest ? shape.newestHourNames : shape.namesPerHour)
  const starts = (h: number): number[] => {
    const n = perHour(h)
    return Array.from({ length: n }, (_, i) => h * MICROS_PER_HOUR + Math.floor((i * MICROS_PER_HOUR) / n))
  }
  const inRange = (x: number, y: number): number[] => {
    const out: number[] = []
    for (let h = Math.floor(x / MICROS_PER_HOUR); h * MICROS_PER_HOUR < y; h++) for (const s of starts(h)) if (s >= x && s < y) out.push(s)
    for (const s of own) if (s >= x && s < y) out.push(s)
    return out
  }
  const part = (x: number, y: number): RangePart => {
    let a = 0
    let count = 0
    if (x % MICROS_PER_HOUR === 0 && y % MICROS_PER_HOUR === 0) {
      // Whole hours: the background sums alike on both sides; only the count and own names matter.
      for (let h = x / MICROS_PER_HOUR; h < y / MICROS_PER_HOUR; h++) {
        a ^= mix(h + 1)
        count += perHour(h)
      }
      for (const s of own) {
        if (s >= x && s < y) {
          a ^= mix(s)
          count++
        }
      }
    } else {
      for (const s of inRange(x, y)) {
        a ^= mix(s)
        count++
      }
    }
    return { fp: count === 0 ? '' : String(a >>> 0), count }
  }
  return {
    parts: (_c, _q, bounds) => {
      if (stats != null) stats.round++
      return bounds.slice(1).map((y, i) => part(bounds[i]!, y))
    },
    names: (_c, _q, x, y): RangeNames => {
      if (stats != null) stats.rounds.add(stats.round)
      return { segments: inRange(x, y).map((s) => `${s}`), tombstones: [] }
    }
  }
}

/** One walk of one channel/quality: the walker lacks `lacked` names the peer holds and holds `extra` it lacks. */
export async function walkOnce(shape: ArchiveShape, costs: Costs, lacked: number, extra: number): Promise<WalkCost> {
  const newest = (shape.windowHours - 1) * MICROS_PER_HOUR
  // Differences spread over the newest hour, off the background's instants.
  const spread = (n: number, salt: number): number[] =>
    Array.from({ length: n }, (_, i) => newest + Math.floor(((i + 0.5) * MICROS_PER_HOUR) / Math.max(1, n)) + salt)
  const stats = { round: 0, rounds: new Set<number>() }
  const local = archive(shape, spread(extra, 7), null)
  const remote = archive(shape, spread(lacked, 3), stats)
  const counts = { partRequests: 0, nameRequests: 0 }
  let bytes = 0
  let found = 0
  let offerable = 0
  const nameBytes = listedNameBytes()
  for await (const range of rangeDiff(local, remote, 'c', 'q', 0, shape.windowHours * MICROS_PER_HOUR, { twoWay: true }, counts)) {
    found += lacking(range).segments.length
    offerable += theyLack(range).segments.length
    bytes += 40 + nameBytes * (range.remote.segments.length + range.remote.tombstones.length)
  }
  // A parts answer: `{"parts":[["<22 base64url chars>",count],…]}`, about 32 B a part.
  bytes += counts.partRequests * 12 + partsAnswered(shape, counts.partRequests) * 32
  bytes += (counts.partRequests + counts.nameRequests) * costs.httpOverheadBytes
  return { ...counts, rounds: stats.round + stats.rounds.size, bytes, lacked: found, offerable }
}

/** Parts in the answers of a walk that asked `requests` splits: 32 for the window, then ≤ 32, then 16s. */
function partsAnswered(shape: ArchiveShape, requests: number): number {
  const runs = Math.min(32, shape.windowHours)
  const hoursPerRun = Math.ceil(shape.windowHours / 32)
  return requests === 0 ? 0 : runs + (requests > 1 ? hoursPerRun : 0) + Math.max(0, requests - 2) * 16
}

const GRID = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]

/** Walk costs over a grid of (lacked, extra) per channel/quality, interpolated between points. */
export class WalkCosts {
  readonly #table: WalkCost[][]
  readonly shape: ArchiveShape

  private constructor(shape: ArchiveShape, table: WalkCost[][]) {
    this.shape = shape
    this.#table = table
  }

  static async build(shape: ArchiveShape, costs: Costs): Promise<WalkCosts> {
    const table: WalkCost[][] = []
    for (const l of GRID) {
      const row: WalkCost[] = []
      for (const e of GRID) row.push(await walkOnce(shape, costs, l, e))
      table.push(row)
    }
    return new WalkCosts(shape, table)
  }

  /** A walk over `keys` differing channel/qualities, the difference spread evenly over them. */
  cost(lacked: number, extra: number, keys: number): { rounds: number; bytes: number; requests: number } {
    const k = Math.max(1, keys)
    const one = this.#at(lacked / k, extra / k)
    // Channel/qualities are walked one after another.
    return { rounds: Math.ceil(one.rounds * k), bytes: Math.round(one.bytes * k), requests: Math.round(one.requests * k) }
  }

  #at(l: number, e: number): { rounds: number; bytes: number; requests: number } {
    const [i0, i1, fi] = bracket(l)
    const [j0, j1, fj] = bracket(e)
    const t = this.#table
    const f = (pick: (w: WalkCost) => number): number => {
      const a = pick(t[i0]![j0]!) * (1 - fj) + pick(t[i0]![j1]!) * fj
      const b = pick(t[i1]![j0]!) * (1 - fj) + pick(t[i1]![j1]!) * fj
      return a * (1 - fi) + b * fi
    }
    return { rounds: f((w) => w.rounds), bytes: f((w) => w.bytes), requests: f((w) => w.partRequests + w.nameRequests) }
  }
}

/** Grid indexes around x and the fraction between them (past the grid: its last point, scaled). */
function bracket(x: number): [number, number, number] {
  const last = GRID.length - 1
  if (x >= GRID[last]!) return [last, last, 0]
  let i = 0
  while (GRID[i + 1]! <= x) i++
  return [i, i + 1, (x - GRID[i]!) / (GRID[i + 1]! - GRID[i]!)]
}
