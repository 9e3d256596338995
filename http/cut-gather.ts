/**
 * The segments of a cut or a frame that this node lacks (a range it holds in part, or only its
 * peers hold), fetched through read-through before the cutter reads them: in output order,
 * `parallel` at a time, each stored through the store's normal write path. A rough cut waits only
 * for the segment it is about to stream, so its first byte leaves once the first segment is here;
 * a fast or full cut and a frame wait for all of theirs before ffmpeg starts.
 *
 * A fetch that fails (no peer sent the bytes, or the read-through limit is reached) fails the
 * segments that wait on it with an HttpError; once the client has gone, nothing new starts.
 */
import type { IndexedSegment } from '../storage/segment-index.ts'
import { parseSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { HttpError } from './errors.ts'
import type { ReadThrough } from './read-through.ts'

export const CUT_GATHER_DEFAULTS = Object.freeze({
  /** Segments fetched at once for one cut. */
  parallel: 4,
  /** Most segments one cut may read through (~1 h of 2 s segments); past it the cut is refused. */
  maxSegments: 1800
})

export class CutGather {
  readonly #readThrough: ReadThrough
  readonly #order: IndexedSegment[]
  readonly #keys: Set<string>
  readonly #signal: AbortSignal
  readonly #parallel: number
  /** Relative path → its fetch: null once stored, else why it failed. */
  readonly #fetches = new Map<string, Promise<HttpError | null>>()
  #next = 0
  #running = 0

  /** `missing`: the segments this node lacks, in the order the cutter reads them. */
  constructor(readThrough: ReadThrough, missing: readonly IndexedSegment[], signal: AbortSignal, parallel = CUT_GATHER_DEFAULTS.parallel) {
    if (missing.length > CUT_GATHER_DEFAULTS.maxSegments) {
      throw new HttpError(
        400,
        'range_too_long',
        `this node lacks ${missing.length} segments of that range, ` +
          `more than the ${CUT_GATHER_DEFAULTS.maxSegments} a cut may fetch from peers: cut a shorter range, or ask a node that holds it`
      )
    }
    this.#readThrough = readThrough
    this.#order = missing.slice()
    this.#keys = new Set(missing.map(segmentRelPath))
    this.#signal = signal
    this.#parallel = parallel
  }

  get size(): number {
    return this.#order.length
  }

  /** Resolves once `segment` is on this node's disk (at once for one it held already). */
  ready = async (segment: IndexedSegment): Promise<void> => {
    const key = segmentRelPath(segment)
    if (!this.#keys.has(key)) return
    this.#fill()
    // Asked for ahead of its turn (the window is full of earlier ones): it starts now.
    if (!this.#fetches.has(key)) this.#begin(segment)
    const error = await this.#fetches.get(key)
    if (error != null) throw error
  }

  /** Resolves once every missing segment is here. */
  async all(): Promise<void> {
    for (const segment of this.#order) await this.ready(segment)
  }

  #fill(): void {
    while (this.#running < this.#parallel && this.#next < this.#order.length && !this.#signal.aborted) {
      const segment = this.#order[this.#next++]!
      if (!this.#fetches.has(segmentRelPath(segment))) this.#begin(segment)
    }
  }

  #begin(segment: IndexedSegment): void {
    this.#running++
    const fetch = this.#signal.aborted
      ? Promise.resolve(new HttpError(499, 'client_closed', 'the client closed the connection'))
      : this.#fetch(segment)
    this.#fetches.set(
      segmentRelPath(segment),
      fetch.finally(() => {
        this.#running--
        this.#fill()
      })
    )
  }

  async #fetch(segment: IndexedSegment): Promise<HttpError | null> {
    const parsed = parseSegmentRef(segment.channel, segment.quality, segment.hour, segment.file)
    if (!parsed.ok) return new HttpError(502, 'read_through_failed', `${segmentRelPath(segment)} is not a segment name`)
    const outcome = await this.#readThrough.ensure(parsed.value)
    if (outcome === 'stored') return null
    if (outcome === 'busy')
      return new HttpError(503, 'busy', `${this.#readThrough.active} segments are being read through from peers; retry`, {
        'retry-after': '1'
      })
    return new HttpError(502, 'read_through_failed', `no peer sent ${segmentRelPath(segment)}, which a peer listed`)
  }
}
