/**
 * Repair with peers of the first protocol version, and backfill from wubloader restreamers: by
 * hour digests (`GET /replication/digests`, the newest two hours first) and whole hour listings
 * (`GET /files/C/Q/HOUR`), tombstones applied before any segment of their hour is queued. Peers of
 * version 2 are repaired by ranges instead (range-repair.ts); this path is kept so that a network
 * can be upgraded node by node, and so that a wubloader node's archive can be copied.
 */
import type { Logger } from '../lib/logger.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, MICROS_PER_SECOND, hourStart, parseHour } from '../storage/time.ts'
import { rootOf } from './digests.ts'
import { type AnnouncedItem, type HourDigest, type RootDigest, parseHourDigests, parseItemPath } from './messages.ts'
import type { PeerState } from './peer-table.ts'
import { isProofString } from './tombstone-signature.ts'

/** Hours (the live one and those before it) asked for first when a root differs. */
export const TAIL_HOURS = 2

/** Segments one repair session may have waiting in the fetcher's queue before it lists more hours (under the fetcher's 4,096 per peer). */
export const QUEUE_AHEAD = 2000

/** Our hour digests and roots over the window, computed once per index change. */
export interface OurDigests {
  windowStart: number
  /** ms since the epoch when computed. */
  at: number
  hours: Map<string, HourDigest[]>
  roots: RootDigest[]
  rootByKey: Map<string, string>
}

/** What the replicator lends a repair: its fetcher, index, log and stop signal, and how it wants and applies. */
export interface HourRepairContext {
  fetcher: {
    listHour: (peerUrl: string, channel: string, quality: string, hour: string, options?: { signal?: AbortSignal }) => Promise<string[]>
    getJson: (peerUrl: string, path: string, options?: { signal?: AbortSignal }) => Promise<unknown>
  }
  index: SegmentIndex
  log: Logger
  signal: AbortSignal
  stats: { hoursRepaired: number }
  windowStart: () => number
  windowHours: () => number
  /** Fetch unless held or tombstoned; true when this call stored it. */
  want: (ref: SegmentRef, peers: string[], offeredBy?: string | null) => Promise<boolean>
  applyTombstone: (ref: SegmentRef, proof: string | undefined, peerId: string | null) => Promise<void>
}

/** An hour whose tombstones are applied and whose missing segments are queued. */
interface QueuedHour {
  /** Start of the newest segment we lacked (0 if none). */
  newest: number
  /** Segments queued. */
  lacked: number
  /** Every queued segment is settled. */
  done: Promise<void>
}

/** How far one repair session is, for its progress log lines. */
interface BackfillProgress {
  peer: string
  hoursDone: number
  hoursTotal: number
  /** Segments the peer listed that we lacked, in the hours done. */
  segmentsLacked: number
  /** Of those, now in our index (from this peer or any other). */
  segmentsStored: number
  bytes: number
}

export class HourRepair {
  readonly #ctx: HourRepairContext
  /** Legacy peers already told about skipped hours (the configured list, so bounded). */
  readonly #legacyWindowLogged = new Set<string>()

  constructor(ctx: HourRepairContext) {
    this.#ctx = ctx
  }

  /** One repair session with a first-version peer; sets the peer's lag. */
  async session(peer: PeerState, ours: OurDigests): Promise<void> {
    const { signal } = this.#ctx
    const { windowStart } = ours
    const remote = await this.#remoteHours(peer, ours)
    const local = ours.hours
    const work: Array<{ channel: string; quality: string; hour: HourDigest }> = []
    for (const [key, hours] of remote) {
      const [channel, quality] = key.split('/') as [string, string]
      const mine = new Map((local.get(key) ?? []).map((h) => [h.hour, h.digest]))
      for (const hour of hours) {
        if ((parseHour(hour.hour) ?? 0) < windowStart) continue
        if (mine.get(hour.hour) !== hour.digest) work.push({ channel, quality, hour })
      }
    }
    // Newest hours first: what viewers are most likely to want.
    work.sort((a, b) => (a.hour.hour < b.hour.hour ? 1 : a.hour.hour > b.hour.hour ? -1 : 0))
    let newestMissing = 0
    // A long backfill (a node catching up on days) says how far it is, at most every 10 s.
    const progress: BackfillProgress = {
      peer: peer.url,
      hoursDone: 0,
      hoursTotal: work.length,
      segmentsLacked: 0,
      segmentsStored: 0,
      bytes: 0
    }
    let logged = Date.now()
    // The next hours are listed while this one downloads, so the fetcher never idles between
    // hours; at most QUEUE_AHEAD segments of this session wait in its queue at once.
    const running = new Set<Promise<void>>()
    let queued = 0
    for (const w of work) {
      signal.throwIfAborted()
      // Room for the hour as the peer's digest counts it, so a session stays under the fetcher's per-peer bound.
      while (queued > 0 && queued + w.hour.segments > QUEUE_AHEAD) await Promise.race(running)
      const hour = await this.#repairHour(peer.url, w.channel, w.quality, w.hour.hour, peer.peerId, progress)
      newestMissing = Math.max(newestMissing, hour.newest)
      queued += hour.lacked
      const done: Promise<void> = hour.done.then(() => {
        running.delete(done)
        queued -= hour.lacked
        progress.hoursDone++
        if (Date.now() - logged >= 10_000) {
          logged = Date.now()
          this.#ctx.log.info({ ...progress }, 'backfill progress')
        }
      })
      running.add(done)
      // Observed at once: if a later listing fails, the session ends without waiting for this hour,
      // and a rejection nobody listens to would end the process. Promise.all below still sees it.
      done.catch(() => {})
    }
    await Promise.all(running)
    peer.lagSeconds = newestMissing === 0 ? 0 : Math.max(0, Math.round((Date.now() * 1000 - newestMissing) / MICROS_PER_SECOND))
  }

  /**
   * The peer's hour digests, as far as they can differ from ours. Usually only a live hour changed,
   * so the newest hours are asked for first; when they, in place of ours, give every root the peer
   * sent, the older hours are equal and the whole window (about 300 KiB for 8 qualities over 14
   * days) is not fetched. Otherwise, or if the peer changed meanwhile, the whole window is.
   */
  async #remoteHours(peer: PeerState, ours: OurDigests): Promise<Map<string, HourDigest[]>> {
    const tailFrom = Math.max(ours.windowStart, hourStart(Date.now() * 1000) - (TAIL_HOURS - 1) * MICROS_PER_HOUR)
    const tail = await this.#peerHours(peer.url, tailFrom)
    const explained = [...peer.roots].every(([key, root]) => {
      if (root === '') return true
      const older = (ours.hours.get(key) ?? []).filter((h) => (parseHour(h.hour) ?? 0) < tailFrom)
      return rootOf([...older, ...(tail.get(key) ?? [])]) === root
    })
    return explained ? tail : await this.#peerHours(peer.url, ours.windowStart)
  }

  async #peerHours(url: string, from: number): Promise<Map<string, HourDigest[]>> {
    const body = await this.#ctx.fetcher.getJson(url, `/replication/digests?from=${from}`, { signal: this.#ctx.signal })
    const hours = parseHourDigests(body)
    if (typeof hours === 'string') throw new Error(`bad digests from ${url}: ${hours}`)
    return hours
  }

  /**
   * Diff one hour with a peer's listing: its tombstones applied, then the segments we lack queued
   * (`done` when all of them are settled).
   */
  async #repairHour(
    peerUrl: string,
    channel: string,
    quality: string,
    hour: string,
    peerId: string | null,
    progress?: BackfillProgress
  ): Promise<QueuedHour> {
    const { index } = this.#ctx
    const names = await this.#ctx.fetcher.listHour(peerUrl, channel, quality, hour, { signal: this.#ctx.signal })
    this.#ctx.stats.hoursRepaired++
    const items = names.map((n) => parseItemPath(`${channel}/${quality}/${hour}/${n}`)).filter((i): i is AnnouncedItem => i != null)
    const fresh = items.filter((i) => i.kind === 'tombstone' && !index.isTombstoned(i.ref))
    const proofs = fresh.length > 0 ? await this.#tombstoneProofs(peerUrl, channel, quality, hour) : new Map<string, string>()
    // Each is its own file and fsync: written side by side, all before any segment is queued.
    await Promise.all(fresh.map(async (item) => await this.#ctx.applyTombstone(item.ref, proofs.get(item.ref.file), peerId)))
    let newest = 0
    const wanted: Array<Promise<boolean>> = []
    const lacked: SegmentRef[] = []
    for (const item of items) {
      if (item.kind !== 'segment') continue
      if (index.getSegment(item.ref, { hidden: true }) != null || index.isTombstoned(item.ref)) continue
      newest = Math.max(newest, item.ref.start)
      lacked.push(item.ref)
      // Only peers that have it: repairs with other peers listing it add them to the same want.
      wanted.push(this.#ctx.want(item.ref, [peerUrl], peerId))
    }
    const done = Promise.all(wanted).then(() => {
      if (progress == null) return
      progress.segmentsLacked += lacked.length
      for (const ref of lacked) {
        const got = index.getSegment(ref, { hidden: true })
        if (got != null) {
          progress.segmentsStored++
          progress.bytes += got.size
        }
      }
    })
    return { newest, lacked: lacked.length, done }
  }

  /**
   * The signatures of a peer's tombstones in one hour (`GET /replication/tombstones/...`), keyed by
   * the segment name. The wubloader listing stays as it is; a peer without the route (a legacy one)
   * has none to give.
   */
  async #tombstoneProofs(peerUrl: string, channel: string, quality: string, hour: string): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    let body: unknown
    try {
      body = await this.#ctx.fetcher.getJson(peerUrl, `/replication/tombstones/${channel}/${quality}/${hour}`, {
        signal: this.#ctx.signal
      })
    } catch (err) {
      this.#ctx.log.debug({ err, peerUrl }, 'no tombstone signatures from peer')
      return out
    }
    const proofs = (body as { proofs?: unknown } | null)?.proofs
    if (proofs == null || typeof proofs !== 'object') return out
    for (const [segment, proof] of Object.entries(proofs)) {
      if (isProofString(proof)) out.set(segment, proof)
    }
    return out
  }

  /** Backfill from wubloader restreamers: their listings, newest hour first, no digests. */
  async legacyPass(urls: readonly string[]): Promise<void> {
    const signal = this.#ctx.signal
    const windowStart = this.#ctx.windowStart()
    for (const url of urls) {
      let skipped = 0
      try {
        const channels = await this.#ctx.fetcher.getJson(url, '/files', { signal })
        for (const channel of stringList(channels)) {
          const qualities = await this.#ctx.fetcher.getJson(url, `/files/${encodeURIComponent(channel)}`, { signal })
          for (const quality of stringList(qualities)) {
            const listed = stringList(
              await this.#ctx.fetcher.getJson(url, `/files/${encodeURIComponent(channel)}/${encodeURIComponent(quality)}`, { signal })
            )
            const hours = listed
              .filter((h) => (parseHour(h) ?? 0) >= windowStart)
              .sort()
              .reverse()
            skipped += listed.length - hours.length
            for (const hour of hours) await (await this.#repairHour(url, channel, quality, hour, null)).done
          }
        }
        // wubloader's backfiller takes everything; an operator moving from it should hear, once, that this does not.
        if (skipped > 0 && !this.#legacyWindowLogged.has(url)) {
          this.#legacyWindowLogged.add(url)
          this.#ctx.log.info(
            { url, skippedHours: skipped, windowHours: this.#ctx.windowHours() },
            `legacy backfill from ${url} skipped ${skipped} hours older than the window ` +
              `(--window-hours ${this.#ctx.windowHours()}); raise it to copy them`
          )
        }
      } catch (err) {
        if (!signal.aborted) this.#ctx.log.info({ err, url }, 'legacy backfill pass failed')
      }
    }
  }
}

/** A peer's JSON list of names, keeping only safe path components. */
function stringList(body: unknown): string[] {
  if (!Array.isArray(body)) return []
  return body.filter((n): n is string => typeof n === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(n))
}
