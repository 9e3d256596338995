/**
 * Upload slots: how many segment downloads by peers this node serves at once (BitTorrent's upload
 * slots). A new segment is announced to every node within a second and all of them would fetch it
 * from its recorder; past the slots a peer gets 503 `busy` naming peers that fetched that segment
 * from here in full, and asks them instead. The recorder serves the first copies, the swarm the rest.
 *
 * A peer says it is one with the PEER_HEADER header, whose value is the URL it serves from; viewers
 * never send it and are not counted here. A peer that lies harms little: it takes a slot like any
 * other, or names a URL that others ask once and find lacking (their fetchers drop it for that name).
 *
 * Bounds: `slots` uploads at once; holders of the last `segmentsRemembered` segments uploaded,
 * `holdersListed` URLs each (an entry costs about 1 KiB with its key and URLs: ~256 KiB at the defaults).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PEER_HEADER, normalizePeerUrl } from '../replication/fetch-http.ts'

export const UPLOAD_SLOT_DEFAULTS = Object.freeze({
  slots: 8,
  holdersListed: 4,
  segmentsRemembered: 256,
  /** What a busy answer asks the peer to wait before asking this node again for that segment, ms. */
  retryMs: 250
})

/** Longest URL accepted in PEER_HEADER. */
const MAX_URL_LENGTH = 256

export interface UploadSlotsInit {
  /** Peer downloads served at once. @default 8 */
  slots?: number
  holdersListed?: number
  segmentsRemembered?: number
}

/** The body of a busy answer. */
export interface BusyAnswer {
  error: 'busy'
  message: string
  holders: string[]
  retryMs: number
}

export class UploadSlots {
  readonly #slots: number
  readonly #listed: number
  readonly #remembered: number
  /** Segment (relative path) → URLs of peers that fetched it in full from here, newest last; oldest segment first. */
  readonly #holders = new Map<string, string[]>()
  #active = 0
  /** `peak`: most uploads at once since start. */
  readonly stats = { uploads: 0, busy: 0, peak: 0 }

  constructor(init: UploadSlotsInit = {}) {
    this.#slots = init.slots ?? UPLOAD_SLOT_DEFAULTS.slots
    this.#listed = init.holdersListed ?? UPLOAD_SLOT_DEFAULTS.holdersListed
    this.#remembered = init.segmentsRemembered ?? UPLOAD_SLOT_DEFAULTS.segmentsRemembered
    if (!(this.#slots >= 1)) throw new RangeError(`upload slots must be at least 1, got ${this.#slots}`)
  }

  get active(): number {
    return this.#active
  }

  /** Segments whose holders are remembered (for the bound's test). */
  get remembered(): number {
    return this.#holders.size
  }

  /**
   * For a GET of segment `key`: null when the asker is not a peer; else a busy answer to send, or
   * a slot held until the response closes (its socket too), the asker remembered as a holder when
   * the whole body went out.
   */
  admit(request: FastifyRequest, reply: FastifyReply, key: string): BusyAnswer | null {
    const peerUrl = peerUrlOf(request.headers[PEER_HEADER])
    if (peerUrl == null) return null
    if (this.#active >= this.#slots) {
      this.stats.busy++
      const holders = (this.#holders.get(key) ?? []).filter((u) => u !== peerUrl)
      const message = `${this.#slots} peer downloads running; ask a holder or retry`
      return { error: 'busy', message, holders, retryMs: UPLOAD_SLOT_DEFAULTS.retryMs }
    }
    this.#active++
    this.stats.uploads++
    this.stats.peak = Math.max(this.stats.peak, this.#active)
    const res = reply.raw
    res.once('close', () => {
      this.#active--
      if (res.writableFinished && res.statusCode === 200) this.#served(key, peerUrl)
    })
    return null
  }

  #served(key: string, peerUrl: string): void {
    const urls = this.#holders.get(key) ?? []
    this.#holders.delete(key) // re-inserted last: the newest segments stay
    if (!urls.includes(peerUrl)) {
      urls.push(peerUrl)
      if (urls.length > this.#listed) urls.shift()
    }
    this.#holders.set(key, urls)
    if (this.#holders.size > this.#remembered) this.#holders.delete(this.#holders.keys().next().value!)
  }
}

/** The header's URL if it is a plain http(s) URL of a sane length, without query or credentials. */
export function peerUrlOf(header: string | string[] | undefined): string | null {
  return typeof header === 'string' && header.length <= MAX_URL_LENGTH ? normalizePeerUrl(header) : null
}
