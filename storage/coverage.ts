/**
 * Per-hour coverage facts for metrics and the status page: how much of an hour the best segments
 * cover, where the holes are, how many segments overlap, and how many of each type exist.
 */
import { JOIN_TOLERANCE, type SegmentSelector } from './best-segments.ts'
import type { IndexedSegment, SegmentIndex } from './segment-index.ts'
import { MICROS_PER_HOUR, formatHour } from './time.ts'

export interface HourCoverage {
  hour: string
  start: number
  /** The part of the hour the facts are about: the whole hour, or up to `now` for the live one. */
  span: number
  /** µs of the span covered by at least one best segment. */
  covered: number
  /** Gaps longer than the join tolerance, including at the span's edges. */
  holes: number
  /** µs of the span not covered. */
  holeTime: number
  /** Best segments that start more than the tolerance before the coverage so far ends. */
  overlaps: number
  /** Visible segments by type (every copy, not just the best). */
  types: { full: number; suspect: number; partial: number }
  /** Tombstones in the hour. */
  tombstones: number
}

/** Coverage of `best` (best-per-start, in start order) over [from, to). Pure. */
function coverageOf(
  best: readonly IndexedSegment[],
  from: number,
  to: number
): Pick<HourCoverage, 'covered' | 'holes' | 'holeTime' | 'overlaps'> {
  let covered = 0
  let holes = 0
  let overlaps = 0
  let reach = from
  for (const s of best) {
    const end = s.start + s.duration
    if (end <= from || s.start >= to) continue
    if (s.start > reach + JOIN_TOLERANCE) holes++
    else if (s.start < reach - JOIN_TOLERANCE && reach > from) overlaps++
    const a = Math.max(s.start, reach)
    const b = Math.min(end, to)
    if (b > a) covered += b - a
    reach = Math.max(reach, Math.min(end, to))
  }
  if (to > reach + JOIN_TOLERANCE) holes++
  return { covered, holes, holeTime: to - from - covered, overlaps }
}

/** Coverage facts of one hour, from the index (the hour before is consulted for spill-over). */
export function hourCoverage(
  index: SegmentIndex,
  selector: SegmentSelector,
  channel: string,
  quality: string,
  hourStartUs: number,
  now = Date.now() * 1000
): HourCoverage {
  const to = Math.min(hourStartUs + MICROS_PER_HOUR, Math.max(now, hourStartUs))
  // A segment from the previous hour may run into this one.
  const previous = selector.hourCandidates(channel, quality, hourStartUs - MICROS_PER_HOUR).at(-1)
  const best = selector.hourCandidates(channel, quality, hourStartUs)
  const facts = coverageOf(previous == null ? best : [previous, ...best], hourStartUs, to)
  const types = { full: 0, suspect: 0, partial: 0 }
  for (const s of index.hourSegments(channel, quality, hourStartUs)) types[s.type]++
  return {
    hour: formatHour(hourStartUs),
    start: hourStartUs,
    span: to - hourStartUs,
    ...facts,
    types,
    tombstones: index.hourSummary(channel, quality, hourStartUs)?.tombstones ?? 0
  }
}
