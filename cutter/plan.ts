/**
 * A cut as the cutter sees it: runs of back-to-back segments, each with the part of it to keep.
 * Every range of a request is split at its HOLEs; each piece of continuous data is a run. Between
 * runs there is always a hard cut (the end of a range, or missing data), and the cutter butts them
 * together so a hole's length is simply missing from the output.
 */
import { HOLE, type Selection } from '../storage/best-segments.ts'
import type { IndexedSegment } from '../storage/segment-index.ts'

export interface TimeRange {
  /** µs since the epoch. */
  start: number
  /** µs since the epoch, exclusive. */
  end: number
}

export interface Run {
  /** Back to back (within the selection's join tolerance), in order; never empty. */
  segments: IndexedSegment[]
  /** The part to keep: within [first segment start, last segment end), µs. */
  start: number
  end: number
}

/** The runs of one range's selection, in order; empty when it holds no segment. */
export function runsOf(selection: Selection, range: TimeRange): Run[] {
  const runs: Run[] = []
  let current: IndexedSegment[] = []
  const close = (): void => {
    if (current.length === 0) return
    const first = current[0]!
    const last = current.at(-1)!
    const start = Math.max(range.start, first.start)
    const end = Math.min(range.end, last.start + last.duration)
    if (end > start) runs.push({ segments: current, start, end })
    current = []
  }
  for (const item of selection) {
    if (item === HOLE) close()
    else current.push(item)
  }
  close()
  return runs
}

export const hasHoles = (selection: Selection): boolean => selection.includes(HOLE)
