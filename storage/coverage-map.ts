/**
 * The status page's coverage map: for each hour, which stretches are covered by a full best
 * segment, only by a suspect or partial one, only by tombstoned segments, or by nothing (a hole).
 * The four span lists are disjoint, sorted, and in µs offsets from the start of the hour.
 */
import { JOIN_TOLERANCE, type SegmentSelector } from './best-segments.ts'
import type { SegmentIndex } from './segment-index.ts'
import { parseSegmentFileName } from './segment-name.ts'
import { MICROS_PER_HOUR, formatHour } from './time.ts'

/** [from, to) µs from the start of the hour. */
export type Span = [from: number, to: number]

export interface HourMap {
  hour: string
  start: number
  /** The spans reach this far into the hour (µs): its end, or a little before now for the live hour. */
  span: number
  /** Recording of this channel/quality began this far into the hour (µs): 0 but in its first hour. */
  before: number
  full: Span[]
  partial: Span[]
  tombstoned: Span[]
  holes: Span[]
}

/** Most hours one map may cover (a week). */
export const MAX_MAP_HOURS = 168
/**
 * The live hour is mapped up to this long before now (or to the end of its data, if later), so a
 * segment still being recorded or fetched is not shown as a hole. The same 30 s the live playlist
 * waits before trusting a hole.
 */
const LIVE_GRACE = 30_000_000

/** Painting order: where kinds overlap, the first one wins; where none does, it is a hole. */
const KINDS = ['full', 'partial', 'tombstoned'] as const
type Kind = (typeof KINDS)[number] | 'holes'
interface Run {
  kind: Kind
  from: number
  to: number
}

/**
 * Maps of the last `hours` hours of a channel/quality that end with its newest hour: hours with
 * no data at all are included, as one hole. Nothing before the first data is a hole: that is
 * before recording began. Finished hours are kept until they or the hour before them change, so
 * a status page polling every few seconds recomputes only the live hour.
 */
export class CoverageMaps {
  readonly #index: SegmentIndex
  readonly #selector: SegmentSelector
  readonly #maxCached: number
  /** Map order is insertion order: re-inserting on use makes it an LRU. */
  readonly #cache = new Map<string, { versions: string; map: HourMap }>()

  constructor(index: SegmentIndex, selector: SegmentSelector, init: { maxCachedHours?: number } = {}) {
    this.#index = index
    this.#selector = selector
    this.#maxCached = init.maxCachedHours ?? 4096
  }

  get(channel: string, quality: string, hours: number, now = Date.now() * 1000): HourMap[] {
    const summaries = this.#index.hourSummaries(channel, quality)
    if (summaries.length === 0) return []
    const last = summaries.at(-1)!.start
    const first = Math.max(summaries[0]!.start, last - (hours - 1) * MICROS_PER_HOUR)
    const out: HourMap[] = []
    for (let start = first; start <= last; start += MICROS_PER_HOUR)
      out.push(this.#hour(channel, quality, start, now, start === summaries[0]!.start))
    return out
  }

  #hour(channel: string, quality: string, start: number, now: number, firstHour: boolean): HourMap {
    const key = `${channel}\0${quality}\0${start}\0${firstHour}`
    const previous = this.#index.hourVersion(channel, quality, start - MICROS_PER_HOUR)
    const versions = `${previous}/${this.#index.hourVersion(channel, quality, start)}`
    const cached = this.#cache.get(key)
    if (cached != null) {
      this.#cache.delete(key)
      if (cached.versions === versions) {
        this.#cache.set(key, cached)
        return cached.map
      }
    }
    const map = hourMap(this.#index, this.#selector, channel, quality, start, now, firstHour)
    // The live hour depends on now: only finished hours are kept.
    if (map.span === MICROS_PER_HOUR) {
      this.#cache.set(key, { versions, map })
      if (this.#cache.size > this.#maxCached) this.#cache.delete(this.#cache.keys().next().value!)
    }
    return map
  }
}

function hourMap(
  index: SegmentIndex,
  selector: SegmentSelector,
  channel: string,
  quality: string,
  hourStartUs: number,
  now: number,
  firstHour = false
): HourMap {
  const hourEnd = hourStartUs + MICROS_PER_HOUR
  const pieces: Array<{ kind: (typeof KINDS)[number]; from: number; to: number }> = []
  // A segment or tombstone of the previous hour may run into this one.
  const previous = selector.hourCandidates(channel, quality, hourStartUs - MICROS_PER_HOUR).at(-1)
  for (const s of [...(previous == null ? [] : [previous]), ...selector.hourCandidates(channel, quality, hourStartUs)]) {
    pieces.push({ kind: s.type === 'full' ? 'full' : 'partial', from: s.start, to: s.start + s.duration })
  }
  for (const t of index.tombstones(channel, quality, hourStartUs - MICROS_PER_HOUR, hourEnd)) {
    const name = parseSegmentFileName(t.segment)
    if (name.ok) pieces.push({ kind: 'tombstoned', from: t.start, to: t.start + name.value.duration })
  }
  let dataStart = hourEnd
  let dataEnd = hourStartUs
  for (const p of pieces) {
    dataStart = Math.min(dataStart, p.from)
    dataEnd = Math.max(dataEnd, Math.min(p.to, hourEnd))
  }
  const to = Math.min(hourEnd, Math.max(now - LIVE_GRACE, dataEnd))
  const from = firstHour ? Math.min(to, Math.max(hourStartUs, dataStart)) : hourStartUs
  const runs = absorbShortHoles(sweep(pieces, from, to))
  const map: HourMap = {
    hour: formatHour(hourStartUs),
    start: hourStartUs,
    span: to - hourStartUs,
    before: from - hourStartUs,
    full: [],
    partial: [],
    tombstoned: [],
    holes: []
  }
  for (const r of runs) map[r.kind].push([r.from - hourStartUs, r.to - hourStartUs])
  return map
}

/** Cuts [from, to) at every piece edge and labels each stretch with the winning kind. */
function sweep(pieces: ReadonlyArray<{ kind: (typeof KINDS)[number]; from: number; to: number }>, from: number, to: number): Run[] {
  const edges: Array<[at: number, kind: number, delta: 1 | -1]> = []
  for (const p of pieces) {
    const a = Math.max(p.from, from)
    const b = Math.min(p.to, to)
    if (b <= a) continue
    const k = KINDS.indexOf(p.kind)
    edges.push([a, k, 1], [b, k, -1])
  }
  edges.sort((x, y) => x[0] - y[0])
  const depth = [0, 0, 0]
  const runs: Run[] = []
  let at = from
  let i = 0
  while (at < to) {
    while (i < edges.length && edges[i]![0] <= at) depth[edges[i]![1]]! += edges[i++]![2]
    const next = i < edges.length ? Math.min(edges[i]![0], to) : to
    const k = depth.findIndex((d) => d > 0)
    push(runs, { kind: k < 0 ? 'holes' : KINDS[k]!, from: at, to: next })
    at = next
  }
  return runs
}

/** Gaps within the join tolerance are not holes (best-segment selection joins across them). */
function absorbShortHoles(runs: readonly Run[]): Run[] {
  const out: Run[] = []
  for (const [i, r] of runs.entries()) {
    const neighbour = out.at(-1) ?? runs[i + 1]
    if (r.kind === 'holes' && r.to - r.from <= JOIN_TOLERANCE && neighbour != null) push(out, { ...r, kind: neighbour.kind })
    else push(out, r)
  }
  return out
}

function push(runs: Run[], run: Run): void {
  const last = runs.at(-1)
  if (last != null && last.kind === run.kind && last.to === run.from) last.to = run.to
  else runs.push({ ...run })
}
