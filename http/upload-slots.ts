/**
 * Upload slots: how many segment downloads by peers this node serves at once (BitTorrent's upload
 * slots). A new segment is announced to every node within a second and all of them would fetch it
 * from its recorder; past the slots a peer gets 503 `busy` naming peers that fetched that segment
 * from here in full, newest first (the likeliest to be idle), and asks them instead.
 *
 * Free slots are not a reason to serve everyone either (BitTorrent's super-seeding): once
 * `referAfter` peers fetched a live segment (one this node got within `referYoungerThanMs`) in full
 * from here, the next asker is referred to them with the same busy answer, in random order so
 * that askers spread over them. Small segments finish in milliseconds, so slots seldom fill:
 * without this the recorder served nearly every copy on its side of the network (the busiest node
 * answered 2.7–2.9× the median's requests among 50). Older segments are fetched by repairs, which
 * walks spread already. Referrals are stateless, carried by REFERRALS_HEADER, which a fetcher that
 * stores what it gets sends on every segment request: how many referrals led it to this peer, or
 * REFERRAL_DEPTH when it asks again a peer that referred it (none of those named could give it the
 * segment, say across a partition). Askers at REFERRAL_DEPTH are served, so a swarm's tree is two
 * levels deep. Requests without the header (a read-through, which passes bytes on and may not
 * store them; a peer of an older version) are served and never named as holders.
 *
 * A peer says it is one with the PEER_HEADER header, whose value is the URL it serves from; viewers
 * never send it and are not counted here. Only a URL of a peer this node knows (`knownPeer`: one
 * whose hello gave it) is named as a holder: a peer making up URLs cannot send others to addresses
 * that never answer. A peer that claims referrals it did not have is served, as every peer was
 * before referrals.
 *
 * Bounds: `slots` uploads at once; holders of the last `segmentsRemembered` segments uploaded,
 * `holdersListed` URLs each (an entry costs about 1 KiB with its key and URLs: ~256 KiB at the defaults).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { randomSample } from '../lib/random-sample.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { PEER_HEADER, REFERRALS_HEADER, REFERRAL_DEPTH, normalizePeerUrl } from '../replication/fetch-http.ts'

export const UPLOAD_SLOT_DEFAULTS = Object.freeze({
  slots: 8,
  holdersListed: 4,
  /** Full copies of a live segment served before askers are referred to those who have it. */
  referAfter: 4,
  /**
   * Only segments this node got this recently (recorded or fetched: its file's mtime) are referred:
   * the live swarm, where every node wants the same new segment at the same moment. Others are
   * fetched by repairs, which walks already spread over many peers.
   */
  referYoungerThanMs: 10_000,
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
  referYoungerThanMs?: number
  /** Whether `url` is a peer this node knows (holders are named only then). @default none is */
  knownPeer?: (url: string) => boolean
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
  readonly #referAfter: number
  readonly #referYoungMs: number
  readonly #knownPeer: (url: string) => boolean
  readonly #remembered: number
  /** Segment (relative path) → URLs of known peers that fetched it in full from here, newest last; oldest segment first. */
  readonly #holders = new Map<string, string[]>()
  #active = 0
  /** `busy` counts every busy answer, `referred` those of them given while a slot was free; `peak`: most uploads at once since start. */
  readonly stats = { uploads: 0, busy: 0, referred: 0, peak: 0 }

  constructor(init: UploadSlotsInit = {}) {
    this.#slots = init.slots ?? UPLOAD_SLOT_DEFAULTS.slots
    this.#listed = init.holdersListed ?? UPLOAD_SLOT_DEFAULTS.holdersListed
    this.#referAfter = Math.min(init.referAfter ?? UPLOAD_SLOT_DEFAULTS.referAfter, this.#listed)
    this.#referYoungMs = init.referYoungerThanMs ?? UPLOAD_SLOT_DEFAULTS.referYoungerThanMs
    this.#knownPeer = init.knownPeer ?? (() => false)
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
   * For a GET of segment `ref`, held here since `heldSinceMs`: null when the asker is not a peer;
   * else a busy answer to send, or a slot held until the response closes (its socket too), the
   * asker remembered as a holder when the whole body went out.
   */
  admit(request: FastifyRequest, reply: FastifyReply, ref: SegmentRef, heldSinceMs: number): BusyAnswer | null {
    const peerUrl = peerUrlOf(request.headers[PEER_HEADER])
    if (peerUrl == null) return null
    const key = segmentRelPath(ref)
    const known = (this.#holders.get(key) ?? []).filter((u) => u !== peerUrl)
    const referrals = referralsOf(request.headers[REFERRALS_HEADER])
    if (this.#active >= this.#slots) {
      this.stats.busy++
      const message = `${this.#slots} peer downloads running; ask a holder or retry`
      return { error: 'busy', message, holders: known.reverse(), retryMs: UPLOAD_SLOT_DEFAULTS.retryMs }
    }
    if (
      referrals != null &&
      referrals < REFERRAL_DEPTH &&
      this.#referAfter > 0 &&
      known.length >= this.#referAfter &&
      Date.now() - heldSinceMs < this.#referYoungMs
    ) {
      this.stats.busy++
      this.stats.referred++
      const message = `${known.length} peers have this segment from here; ask them first`
      return { error: 'busy', message, holders: randomSample(known, known.length), retryMs: UPLOAD_SLOT_DEFAULTS.retryMs }
    }
    this.#active++
    this.stats.uploads++
    this.stats.peak = Math.max(this.stats.peak, this.#active)
    const res = reply.raw
    res.once('close', () => {
      this.#active--
      // Named later only if it stores what it got (it sent the header) and is a peer we know.
      if (res.writableFinished && res.statusCode === 200 && referrals != null && this.#knownPeer(peerUrl)) this.#served(key, peerUrl)
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

/** REFERRALS_HEADER as a count; null when absent or not a small number (an asker that does not store, or an older version). */
export function referralsOf(header: string | string[] | undefined): number | null {
  return typeof header === 'string' && /^\d{1,3}$/.test(header) ? Number(header) : null
}

/** The header's URL if it is a plain http(s) URL of a sane length, without query or credentials. */
export function peerUrlOf(header: string | string[] | undefined): string | null {
  return typeof header === 'string' && header.length <= MAX_URL_LENGTH ? normalizePeerUrl(header) : null
}
