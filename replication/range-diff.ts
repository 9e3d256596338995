/**
 * Where two nodes differ, found by comparing range fingerprints (ranges.ts) level by level, as
 * range-based set reconciliation does: split the window, compare each part's fingerprint, go
 * down only into parts that differ, and ask for names once a part is small. Two nodes that differ
 * by d names exchange O(d · log(window)) small sums plus d small listings, whatever the size of
 * the archive; equal parts cost one fingerprint each and are never listed.
 *
 * The walk looks for what the remote holds and this node lacks (a pull). With `twoWay`, the
 * listings it makes also show what the remote lacks (`theyLack`), and small parts the remote has
 * nothing of are listed here alone, so one walk can heal both sides. Ranges are walked newest
 * first, as viewers want them.
 */
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { MAX_RANGE_NAMES, type RangeNames, type RangePart, splitRange } from './ranges.ts'

/** One node's side: the local index, or a peer over HTTP. */
export interface RangeReader {
  parts: (channel: string, quality: string, bounds: number[]) => Promise<RangePart[]> | RangePart[]
  names: (channel: string, quality: string, from: number, to: number) => Promise<RangeNames> | RangeNames
}

/** A small range that differs, with what each side holds in it. */
export interface DifferingRange {
  from: number
  to: number
  local: RangeNames
  remote: RangeNames
}

export interface RangeDiffOptions {
  /** A differing part with at most this many names on the remote side is listed, not split (a listing of 64 is about 6 KB). @default 64 */
  listAt?: number
  /**
   * A differing part is also listed when this side holds at most half of what the remote holds
   * there (a node catching up: splitting would only cost requests) and the remote holds at most
   * this many. @default MAX_RANGE_NAMES
   */
  listMax?: number
  /** Also list (locally, with no request) small parts only this side holds anything of. */
  twoWay?: boolean
  /** A part whose hours all answer true is taken as equal (hours either side evicted); parts that touch one are split to it. */
  skipHour?: (hourStart: number) => boolean
  signal?: AbortSignal
}

/** Counts of one walk, for stats and tests. */
export interface RangeDiffStats {
  partRequests: number
  nameRequests: number
}

export async function* rangeDiff(
  local: RangeReader,
  remote: RangeReader,
  channel: string,
  quality: string,
  from: number,
  to: number,
  options: RangeDiffOptions = {},
  stats: RangeDiffStats = { partRequests: 0, nameRequests: 0 }
): AsyncGenerator<DifferingRange> {
  const listAt = options.listAt ?? 64
  const listMax = options.listMax ?? MAX_RANGE_NAMES
  const listed = (theirs: RangePart, ours: RangePart): boolean =>
    theirs.count <= listAt || (theirs.count <= listMax && ours.count * 2 <= theirs.count)
  // Last in, first out: parts are pushed oldest first, so the newest is walked first.
  const stack: Array<[number, number]> = [[from, to]]
  while (stack.length > 0) {
    options.signal?.throwIfAborted()
    const [a, b] = stack.pop()!
    const bounds = splitRange(a, b)
    if (bounds == null) {
      yield await list(a, b)
      continue
    }
    stats.partRequests++
    const [theirs, ours] = await Promise.all([remote.parts(channel, quality, bounds), local.parts(channel, quality, bounds)])
    if (theirs.length !== bounds.length - 1) throw new Error(`peer answered ${theirs.length} parts for ${bounds.length - 1}`)
    const differing: Array<[number, number, boolean]> = []
    const onlyOurs: Array<[number, number]> = []
    for (let i = 0; i < theirs.length; i++) {
      if (theirs[i]!.fp === ours[i]!.fp) continue
      const [x, y] = [bounds[i]!, bounds[i + 1]!]
      const skipped = skippedHours(x, y)
      if (skipped === 'all') continue
      // An empty remote part holds nothing for us; with twoWay, a small one of ours is offered,
      // unless it spans a skipped hour: then it is split until the skipped hours fall out.
      if (theirs[i]!.count === 0) {
        if (skipped === 'some') differing.push([x, y, false])
        else if (options.twoWay === true && ours[i]!.count <= listMax) onlyOurs.push([x, y])
        continue
      }
      differing.push([x, y, skipped === 'none' && listed(theirs[i]!, ours[i]!)])
    }
    for (const [x, y] of onlyOurs.reverse())
      yield { from: x, to: y, local: await local.names(channel, quality, x, y), remote: { segments: [], tombstones: [] } }
    for (const [x, y, whole] of differing) if (!whole) stack.push([x, y])
    // Parts listed whole are asked for together (a heal has many small differing parts side by
    // side: one round trip, not one each), and handed on newest first, before the split ones.
    const listings = differing
      .filter(([, , whole]) => whole)
      .reverse()
      .map(async ([x, y]) => await list(x, y))
    // Observed at once: one failing while an earlier one is awaited must not go unhandled (the
    // await below still throws it).
    for (const listing of listings) listing.catch(() => {})
    for (const listing of listings) yield await listing
  }

  /** Whether the hours [x, y) touches are all, some or none skipped. */
  function skippedHours(x: number, y: number): 'all' | 'some' | 'none' {
    if (options.skipHour == null) return 'none'
    let any = false
    let every = true
    for (let h = hourStart(x); h < y; h += MICROS_PER_HOUR) {
      if (options.skipHour(h)) any = true
      else every = false
    }
    return every ? 'all' : any ? 'some' : 'none'
  }

  async function list(x: number, y: number): Promise<DifferingRange> {
    stats.nameRequests++
    const [theirs, ours] = await Promise.all([remote.names(channel, quality, x, y), local.names(channel, quality, x, y)])
    return { from: x, to: y, local: ours, remote: theirs }
  }
}

/** What the remote side of a range holds that the local side lacks: new tombstones, and segments neither held nor tombstoned here. */
export function lacking(range: DifferingRange): { segments: string[]; tombstones: RangeNames['tombstones'] } {
  return missing(range.local, range.remote)
}

/** What the local side holds that the remote lacks (what one walk can offer it). */
export function theyLack(range: DifferingRange): { segments: string[]; tombstones: RangeNames['tombstones'] } {
  return missing(range.remote, range.local)
}

function missing(mine: RangeNames, theirs: RangeNames): { segments: string[]; tombstones: RangeNames['tombstones'] } {
  const held = new Set(mine.segments)
  const hidden = new Set(mine.tombstones.map((t) => t.segment))
  const tombstones = theirs.tombstones.filter((t) => !hidden.has(t.segment))
  for (const t of tombstones) hidden.add(t.segment)
  const segments = theirs.segments.filter((s) => !held.has(s) && !hidden.has(s))
  return { segments, tombstones }
}
