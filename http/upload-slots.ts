/**
 * Upload slots: how many segment downloads by peers this node serves at once (BitTorrent's upload
 * slots). A new segment is announced to every node within a second and all of them would fetch it
 * from its recorder; past the slots a peer gets 503 `busy` naming peers that fetched that segment
 * from here in full, and asks them instead. The recorder serves the first copies, the swarm the rest.
 *
 * Free slots are not a reason to serve everyone either (BitTorrent's super-seeding): once
 * `referAfter` peers fetched a segment in full from here, the next asker is referred to them with
 * the same busy answer, in random order so that askers spread over them; holders do the same for
 * askers that came by fewer than `referralDepth` referrals (REFERRALS_HEADER). Small segments finish in
 * milliseconds, so slots seldom fill: without this the recorder served nearly every copy on its
 * side of the network (the busiest node answered 2.7–2.9× the median's requests among 50). An
 * asker is referred once per segment: when it comes back (none of those it was sent to could give
 * it the segment, say across a partition) it is served.
 *
 * A peer says it is one with the PEER_HEADER header, whose value is the URL it serves from; viewers
 * never send it and are not counted here. A peer that lies harms little: it takes a slot like any
 * other, or names a URL that others ask once and find lacking (their fetchers drop it for that name);
 * one that claims referrals it did not have is served, as every peer was before referrals.
 *
 * Bounds: `slots` uploads at once; for the last `segmentsRemembered` segments uploaded,
 * `holdersListed` holders and `referredListed` referred askers each (an entry costs about 2 KiB
 * with its key and URLs: ~512 KiB at the defaults).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { randomSample } from '../lib/random-sample.ts'
import { PEER_HEADER, REFERRALS_HEADER, normalizePeerUrl } from '../replication/fetch-http.ts'

export const UPLOAD_SLOT_DEFAULTS = Object.freeze({
  slots: 8,
  holdersListed: 4,
  /** Full copies of a segment served before askers are referred to those who have it. */
  referAfter: 4,
  /**
   * Askers that came by this many referrals are served, not referred again: the recorder names
   * its first holders, they name theirs, and those serve (4 + 16 + 64 copies before anyone is
   * sent a third time). Without it every holder referred on and a late asker went down the whole
   * tree, one request per level: 3 requests per copy among 100 nodes.
   */
  referralDepth: 2,
  referredListed: 16,
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
  /** 0: never refer while a slot is free. */
  referAfter?: number
  referralDepth?: number
  referredListed?: number
  segmentsRemembered?: number
}

/** The body of a busy answer. */
export interface BusyAnswer {
  error: 'busy'
  message: string
  holders: string[]
  retryMs: number
}

/** Per segment: peers that fetched it in full from here, and askers referred to them; newest last. */
interface Uploaded {
  holders: string[]
  referred: string[]
}

export class UploadSlots {
  readonly #slots: number
  readonly #listed: number
  readonly #referAfter: number
  readonly #referralDepth: number
  readonly #referredListed: number
  readonly #remembered: number
  /** Segment (relative path) → who has it from here; oldest segment first. */
  readonly #uploaded = new Map<string, Uploaded>()
  #active = 0
  /** `busy` counts every busy answer, `referred` those of them given while a slot was free; `peak`: most uploads at once since start. */
  readonly stats = { uploads: 0, busy: 0, referred: 0, peak: 0 }

  constructor(init: UploadSlotsInit = {}) {
    this.#slots = init.slots ?? UPLOAD_SLOT_DEFAULTS.slots
    this.#listed = init.holdersListed ?? UPLOAD_SLOT_DEFAULTS.holdersListed
    this.#referAfter = Math.min(init.referAfter ?? UPLOAD_SLOT_DEFAULTS.referAfter, this.#listed)
    this.#referredListed = init.referredListed ?? UPLOAD_SLOT_DEFAULTS.referredListed
    this.#referralDepth = init.referralDepth ?? UPLOAD_SLOT_DEFAULTS.referralDepth
    this.#remembered = init.segmentsRemembered ?? UPLOAD_SLOT_DEFAULTS.segmentsRemembered
    if (!(this.#slots >= 1)) throw new RangeError(`upload slots must be at least 1, got ${this.#slots}`)
  }

  get active(): number {
    return this.#active
  }

  /** Segments whose holders are remembered (for the bound's test). */
  get remembered(): number {
    return this.#uploaded.size
  }

  /**
   * For a GET of segment `key`: null when the asker is not a peer; else a busy answer to send, or
   * a slot held until the response closes (its socket too), the asker remembered as a holder when
   * the whole body went out.
   */
  admit(request: FastifyRequest, reply: FastifyReply, key: string): BusyAnswer | null {
    const peerUrl = peerUrlOf(request.headers[PEER_HEADER])
    if (peerUrl == null) return null
    const uploaded = this.#uploaded.get(key)
    const holders = randomSample(uploaded?.holders.filter((u) => u !== peerUrl) ?? [], this.#listed)
    if (this.#active >= this.#slots) {
      this.stats.busy++
      const message = `${this.#slots} peer downloads running; ask a holder or retry`
      return { error: 'busy', message, holders, retryMs: UPLOAD_SLOT_DEFAULTS.retryMs }
    }
    if (
      uploaded != null &&
      this.#referAfter > 0 &&
      holders.length >= this.#referAfter &&
      referralsOf(request.headers[REFERRALS_HEADER]) < this.#referralDepth &&
      !uploaded.referred.includes(peerUrl)
    ) {
      this.stats.busy++
      this.stats.referred++
      pushBounded(uploaded.referred, peerUrl, this.#referredListed)
      const message = `${holders.length} peers have this segment from here; ask them first`
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
    const uploaded = this.#uploaded.get(key) ?? { holders: [], referred: [] }
    this.#uploaded.delete(key) // re-inserted last: the newest segments stay
    pushBounded(uploaded.holders, peerUrl, this.#listed)
    this.#uploaded.set(key, uploaded)
    if (this.#uploaded.size > this.#remembered) this.#uploaded.delete(this.#uploaded.keys().next().value!)
  }
}

/** REFERRALS_HEADER as a count: 0 when absent or not a small number. */
function referralsOf(header: string | string[] | undefined): number {
  return typeof header === 'string' && /^\d{1,3}$/.test(header) ? Number(header) : 0
}

/** Append `url` unless listed, dropping the oldest past `max`. */
function pushBounded(urls: string[], url: string, max: number): void {
  if (urls.includes(url)) return
  urls.push(url)
  if (urls.length > max) urls.shift()
}

/** The header's URL if it is a plain http(s) URL of a sane length, without query or credentials. */
export function peerUrlOf(header: string | string[] | undefined): string | null {
  return typeof header === 'string' && header.length <= MAX_URL_LENGTH ? normalizePeerUrl(header) : null
}
