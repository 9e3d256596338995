/**
 * Upload fairness: a node sends every response body at the speed its socket drains, so at
 * saturation each connection gets an equal share, and a peer backfilling over 3 connections from a
 * node that 200 viewers keep busy gets 3/203 of it (docs/BENCHMARKS.md, "Load"). Here segment bodies
 * to viewers go through a gate that keeps a share of the streams for peers: while `p` peer downloads
 * run (http/upload-slots.ts counts them), viewers stream at most
 * max(`minViewers`, ⌈p · (100 − share) / share⌉) segments at once, so the peers' streams are about
 * `share` % of all (less when the floor is above that); with no peer downloading, up to `maxViewers`. A viewer over the limit waits its
 * turn, first come first served (its socket is already open; a client that leaves is dropped from
 * the line), up to `maxWaiting` of them and `waitMs` each, then 503 `busy` with Retry-After.
 *
 * Bounds: `maxViewers` streams, `maxWaiting` waiters (a closure and a timer each, ~300 bytes).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpError } from './errors.ts'

export const VIEWER_STREAM_DEFAULTS = Object.freeze({
  /** Percent of the segment streams kept for peers while they download; 0 turns the gate off. */
  share: 10,
  /** A floor high enough that a few clients that never read cannot hold every viewer stream. */
  minViewers: 32,
  maxViewers: 256,
  maxWaiting: 1024,
  waitMs: 10_000
})

export interface ViewerStreamsInit {
  /** Peer downloads running now. */
  peerUploads: () => number
  share?: number
  minViewers?: number
  maxViewers?: number
  maxWaiting?: number
  waitMs?: number
}

export class ViewerStreams {
  readonly #init: ViewerStreamsInit
  readonly #opts: Required<Omit<ViewerStreamsInit, 'peerUploads'>>
  #active = 0
  /** Waiting viewers, oldest first: calling one lets it in. */
  readonly #waiting = new Set<() => void>()
  readonly stats = { streams: 0, waited: 0, busy: 0 }

  constructor(init: ViewerStreamsInit) {
    this.#init = init
    const d = VIEWER_STREAM_DEFAULTS
    this.#opts = {
      share: init.share ?? d.share,
      minViewers: init.minViewers ?? d.minViewers,
      maxViewers: init.maxViewers ?? d.maxViewers,
      maxWaiting: init.maxWaiting ?? d.maxWaiting,
      waitMs: init.waitMs ?? d.waitMs
    }
    if (!(this.#opts.share >= 0 && this.#opts.share < 100)) throw new RangeError(`peer share must be 0–99 %, got ${this.#opts.share}`)
  }

  get active(): number {
    return this.#active
  }

  get waiting(): number {
    return this.#waiting.size
  }

  /** Viewer streams allowed now. */
  limit(): number {
    const { share, minViewers, maxViewers } = this.#opts
    const peers = this.#init.peerUploads()
    if (share === 0 || peers === 0) return maxViewers
    return Math.min(maxViewers, Math.max(minViewers, Math.ceil((peers * (100 - share)) / share)))
  }

  /**
   * Wait for a stream for this viewer's segment body; it is held until the response closes.
   * Throws 503 `busy` when too many wait or the wait is too long, and returns false when the
   * client left while waiting (nothing to send).
   */
  async admit(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    if (this.#opts.share === 0 || (this.#active < this.limit() && this.#waiting.size === 0)) this.#active++
    else {
      if (this.#waiting.size >= this.#opts.maxWaiting) throw this.#busy()
      this.stats.waited++
      // `yes`: #next counted this stream before letting it in.
      const admitted = await new Promise<'yes' | 'timeout' | 'gone'>((resolve) => {
        const timer = setTimeout(() => done('timeout'), this.#opts.waitMs)
        const gone = (): void => done('gone')
        const turn = (): void => done('yes')
        const done = (how: 'yes' | 'timeout' | 'gone'): void => {
          clearTimeout(timer)
          this.#waiting.delete(turn)
          request.raw.off('close', gone)
          resolve(how)
        }
        this.#waiting.add(turn)
        request.raw.once('close', gone)
      })
      if (admitted === 'gone') return false
      if (admitted === 'timeout') throw this.#busy()
    }
    this.stats.streams++
    if (reply.raw.destroyed) {
      this.#release()
      return false
    }
    reply.raw.once('close', () => this.#release())
    return true
  }

  #release(): void {
    this.#active--
    this.#next()
  }

  /** A peer download ended: the viewers' limit may have risen. */
  wake(): void {
    this.#next()
  }

  /** Let waiting viewers in, oldest first, while there is room. */
  #next(): void {
    for (const turn of this.#waiting) {
      if (this.#active >= this.limit()) return
      this.#active++
      turn()
    }
  }

  #busy(): HttpError {
    this.stats.busy++
    return new HttpError(503, 'busy', `${this.#active} segments are being sent to viewers and ${this.#waiting.size} wait; retry`, {
      'retry-after': '1'
    })
  }
}
