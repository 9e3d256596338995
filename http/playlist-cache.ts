/**
 * Media playlist bodies assembled from each hour's rendered lines, cached in memory.
 *
 * Writing the lines is most of a long playlist's cost (24 h: 43,200 segments, 7.7 MB), and a
 * finished hour's lines only change when its index version does. So the lines of an hour's whole
 * best-per-start candidate list are written once, and a playlist is its header, slices of those
 * texts (zero-copy) and discontinuity lines. Only hours that changed, and the live hour as it
 * grows, are written again.
 */
import type { SegmentSelector } from '../storage/best-segments.ts'
import type { IndexedSegment } from '../storage/segment-index.ts'
import { hourStart } from '../storage/time.ts'
import { DISCONTINUITY, ENDLIST, type MediaPlan, type RenderedLines, playlistHeader, renderLines } from './playlist.ts'

/** Pieces are coalesced into chunks of about this many bytes, so a hole-ridden hour is not thousands of writes. */
const CHUNK_BYTES = 256 * 1024

/** Index of `segment` (by identity) in `best`, sorted by start; -1 when it is not there. */
function positionOf(best: readonly IndexedSegment[], segment: IndexedSegment): number {
  let lo = 0
  let hi = best.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const start = best[mid]!.start
    if (start < segment.start) lo = mid + 1
    else if (start > segment.start) hi = mid - 1
    else return best[mid] === segment ? mid : -1
  }
  return -1
}

/**
 * Bounds of the rendered-hours cache (an LRU by hour). An hour costs its text and offsets plus
 * `HOUR_BYTES` for its key, map slot and record; a 2 s stream's hour is ~370 KiB rendered, so the
 * default budget holds ~3 days of one stream's lines.
 */
export const PLAYLIST_CACHE_DEFAULTS = Object.freeze({
  cacheBytes: 32 * 1024 * 1024,
  cacheHours: 4096,
  HOUR_BYTES: 256
})

export interface MediaPlaylistWriterInit {
  /** Most bytes the rendered-hours cache may hold. */
  cacheBytes?: number
  /** Most hours it may hold, empty ones included. */
  cacheHours?: number
}

interface RenderedHour {
  /**
   * The selector's candidate array the lines were written from. The selector hands out one array
   * per index version of an hour, so a tombstone or a new segment means a new array (exactly that
   * hour is written again). Held weakly: an hour the selector drops is not kept alive here.
   */
  best: WeakRef<readonly IndexedSegment[]>
  lines: RenderedLines
  bytes: number
}

export class MediaPlaylistWriter {
  readonly #selector: SegmentSelector
  readonly #cacheBytes: number
  readonly #cacheHours: number
  #bytes = 0
  /** Keyed by channel, quality and hour; map order is insertion order: re-inserting on use makes it an LRU. */
  readonly #hours = new Map<string, RenderedHour>()
  /** Hours written so far (each a whole candidate list): how well the cache does, for tests and diagnosis. */
  hoursRendered = 0

  constructor(selector: SegmentSelector, init: MediaPlaylistWriterInit = {}) {
    this.#selector = selector
    this.#cacheBytes = init.cacheBytes ?? PLAYLIST_CACHE_DEFAULTS.cacheBytes
    this.#cacheHours = init.cacheHours ?? PLAYLIST_CACHE_DEFAULTS.cacheHours
  }

  /** What the cache holds now, against its bounds (tests, diagnosis). */
  get cacheUsage(): { hours: number; bytes: number; maxHours: number; maxBytes: number } {
    return { hours: this.#hours.size, bytes: this.#bytes, maxHours: this.#cacheHours, maxBytes: this.#cacheBytes }
  }

  #rendered(key: string, best: readonly IndexedSegment[]): RenderedLines {
    const cached = this.#hours.get(key)
    if (cached != null) {
      this.#hours.delete(key)
      this.#bytes -= cached.bytes
      if (cached.best.deref() === best) {
        this.#remember(key, cached)
        return cached.lines
      }
    }
    const lines = renderLines(best)
    this.hoursRendered++
    this.#remember(key, {
      best: new WeakRef(best),
      lines,
      bytes: PLAYLIST_CACHE_DEFAULTS.HOUR_BYTES + lines.text.length + lines.offsets.byteLength
    })
    return lines
  }

  #remember(key: string, entry: RenderedHour): void {
    this.#hours.set(key, entry)
    this.#bytes += entry.bytes
    // The entry just added stays even when it alone is over budget: the playlist being written uses it.
    while ((this.#bytes > this.#cacheBytes || this.#hours.size > this.#cacheHours) && this.#hours.size > 1) {
      const oldest = this.#hours.keys().next().value!
      this.#bytes -= this.#hours.get(oldest)!.bytes
      this.#hours.delete(oldest)
    }
  }

  /**
   * The playlist body of `plan` in chunks. Each entry is looked up in its hour's candidate array
   * (as the selector returns it now); runs of neighbouring candidates become one slice of that
   * hour's text. An entry the array no longer holds (the hour changed since the selection) is
   * written on its own, so the body always matches the plan.
   */
  *chunks(plan: MediaPlan): Generator<Buffer> {
    let pieces: Buffer[] = [Buffer.from(playlistHeader(plan))]
    let pending = pieces[0]!.length
    const take = (piece: Buffer): Buffer | null => {
      pieces.push(piece)
      pending += piece.length
      if (pending < CHUNK_BYTES) return null
      const out = pieces.length === 1 ? piece : Buffer.concat(pieces, pending)
      pieces = []
      pending = 0
      return out
    }
    let best: readonly IndexedSegment[] = []
    let lines: RenderedLines | null = null
    let hourUs = Number.NaN
    // The run of candidates best[from, to) not yet taken.
    let from = 0
    let to = 0
    const endRun = (): Buffer | null => {
      if (from === to || lines == null) return null
      const piece = lines.text.subarray(lines.offsets[from], lines.offsets[to])
      from = to
      return take(piece)
    }
    for (const e of plan.entries) {
      if (e != null && to < best.length && best[to] === e) {
        to++
        continue
      }
      let out = endRun()
      if (out != null) yield out
      if (e == null) {
        out = take(Buffer.from(DISCONTINUITY))
        if (out != null) yield out
        continue
      }
      const h = hourStart(e.start)
      if (h !== hourUs) {
        hourUs = h
        best = this.#selector.hourCandidates(e.channel, e.quality, h)
        lines = this.#rendered(`${e.channel}\0${e.quality}\0${h}`, best)
      }
      const at = positionOf(best, e)
      if (at >= 0) {
        from = at
        to = at + 1
      } else {
        from = to = 0
        out = take(renderLines([e]).text)
        if (out != null) yield out
      }
    }
    const out = endRun()
    if (out != null) yield out
    if (plan.endlist) pieces.push(Buffer.from(ENDLIST))
    if (pieces.length > 0) yield pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)
  }
}
