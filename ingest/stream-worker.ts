/**
 * One channel/quality: resolve the media playlist (through the master when given one), poll it,
 * and record each new non-ad entry. Up once its first non-ad entry is seen; down on playlist
 * errors or the end of the stream, when it goes back to the master (whose variant URLs may have
 * changed) after a backoff.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import { backoffMs } from '../lib/backoff.ts'
import type { Logger } from '../lib/logger.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { type AdState, adFlags, emptyAdState } from './ad-markers.ts'
import type { IngestOptions } from './constants.ts'
import { PlaylistError } from './errors.ts'
import { createPool, fetchWhole } from './http-fetch.ts'
import { parsePlaylist } from './hls.ts'
import { selectVariant } from './master-playlist.ts'
import { type InitSection, type KnownEntry, type MediaEntry, entryTimes, parseMediaPlaylist } from './media-playlist.ts'
import type { WorkerMetrics } from './metrics.ts'
import { type DownloadContext, type EntryResult, entryKey, recordEntry } from './segment-download.ts'

export interface StreamWorkerInit {
  channel: string
  quality: string
  /** Master or media playlist. */
  url: string
  /** The quality a media playlist URL is recorded as (the channel's first); the others need a master. */
  mediaQuality: string
  important: boolean
  store: SegmentStore
  options: IngestOptions
  metrics: WorkerMetrics
  log: Logger
  /** Holds new downloads back while it returns true (the disk is full). */
  paused?: () => boolean
}

export type WorkerState = 'starting' | 'up' | 'down' | 'stopped'

export interface WorkerStatus {
  channel: string
  quality: string
  state: WorkerState
  /** The media playlist being polled, once resolved. */
  mediaUrl: string | null
  /** Start of the newest recorded-or-recording entry, µs. */
  newestStart: number | null
  downloading: number
  recorded: Record<EntryResult, number>
  lastError: string | null
}

/** Entries remembered per worker (sequence → time), enough to continue a timeline across polls. */
const KNOWN_ENTRIES = 512
/** Init sections cached per worker. */
const INIT_CACHE = 4

export class StreamWorker {
  readonly channel: string
  readonly quality: string
  state: WorkerState = 'starting'
  newestStart: number | null = null
  readonly #init: StreamWorkerInit
  readonly #stopping = new AbortController()
  readonly #cut = new AbortController()
  readonly #downloads = new Set<Promise<void>>()
  readonly #known = new Map<number, KnownEntry>()
  readonly #initCache = new Map<string, Promise<Buffer>>()
  /** Keys of the entries the latest media playlist lists (as many as it has: its size is bounded). */
  #listed = new Set<string>()
  readonly #recorded = { full: 0, suspect: 0, partial: 0, exists: 0, gone: 0, 'given-up': 0, stopped: 0, tombstoned: 0 }
  /** Made by start(), not the constructor: a worker never started holds nothing. */
  #pool: Dispatcher | null = null
  #mediaUrl: string | null = null
  #lastSequence: number | null = null
  #ads: AdState = emptyAdState()
  #skewed = false
  #lastError: string | null = null
  #loop: Promise<void> | null = null

  constructor(init: StreamWorkerInit) {
    this.#init = init
    this.channel = init.channel
    this.quality = init.quality
  }

  start(): void {
    this.#pool ??= createPool(this.#init.options)
    this.#loop ??= this.#run()
  }

  get #dispatcher(): Dispatcher {
    if (this.#pool == null) throw new Error('the stream worker is not started')
    return this.#pool
  }

  /** Stop polling; in-flight downloads get `graceMs` to finish, then are cut (kept as `partial`). */
  async stop(graceMs = this.#init.options.stopGraceMs): Promise<void> {
    this.#stopping.abort()
    await this.#loop
    const timer = setTimeout(() => this.#cut.abort(), graceMs)
    try {
      await Promise.allSettled([...this.#downloads])
    } finally {
      clearTimeout(timer)
    }
    this.#setState('stopped')
    await this.#pool?.destroy().catch(() => {})
  }

  status(): WorkerStatus {
    return {
      channel: this.channel,
      quality: this.quality,
      state: this.state,
      mediaUrl: this.#mediaUrl,
      newestStart: this.newestStart,
      downloading: this.#downloads.size,
      recorded: { ...this.#recorded },
      lastError: this.#lastError
    }
  }

  #setState(state: WorkerState): void {
    this.state = state
    this.#init.metrics.up(state === 'up')
  }

  async #run(): Promise<void> {
    const { options } = this.#init
    const signal = this.#stopping.signal
    let failures = 0
    while (!signal.aborted) {
      let wait = options.pollMs
      try {
        const ended = await this.#poll()
        failures = 0
        if (ended) {
          if (this.state !== 'down')
            this.#init.log.info({ channel: this.channel, quality: this.quality }, 'stream ended (EXT-X-ENDLIST); watching for a new one')
          // The timeline is kept: the ended playlist may stay up, and its entries are done. A new
          // stream shows as a sequence going backwards.
          this.#mediaUrl = null
          this.#setState('down')
        }
      } catch (err) {
        if (signal.aborted) break
        failures++
        this.#lastError = (err as Error).message
        this.#init.metrics.playlistError()
        const level = this.#init.important ? 'warn' : 'info'
        this.#init.log[level]({ err, channel: this.channel, quality: this.quality, failures }, 'playlist fetch failed')
        if (this.state === 'up' || this.state === 'starting') this.#setState('down')
        // After a few failures the variant URL itself may be stale: resolve it again.
        if (failures >= 3) this.#mediaUrl = null
        const ceiling = this.#init.important ? options.importantBackoffMaxMs : options.backoffMaxMs
        wait = backoffMs(failures + 1, { baseMs: options.pollMs, maxMs: ceiling })
      }
      await sleep(wait * (0.9 + Math.random() * 0.2), undefined, { signal }).catch(() => {})
    }
  }

  /** Forget the stream's timeline (a new stream behind the URL); the next poll starts afresh. */
  #resetStream(): void {
    this.#mediaUrl = null
    this.#lastSequence = null
    this.#known.clear()
    this.#ads = emptyAdState()
    this.#skewed = false
  }

  async #fetchText(url: string): Promise<string> {
    const { options } = this.#init
    const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(options.playlistTimeoutMs)])
    return (await fetchWhole(url, this.#dispatcher, { signal, maxBytes: options.maxPlaylistBytes })).toString('utf8')
  }

  /** One poll. Returns true when the playlist says the stream ended. */
  async #poll(): Promise<boolean> {
    let text: string
    if (this.#mediaUrl == null) {
      // The configured URL may be a master (pick the variant) or already the media playlist.
      const url = this.#init.url
      text = await this.#fetchText(url)
      const parsed = parsePlaylist(text, url)
      if (parsed.isMasterPlaylist) {
        this.#mediaUrl = selectVariant(parsed, url, this.quality)
        text = await this.#fetchText(this.#mediaUrl)
      } else if (this.quality === this.#init.mediaQuality) {
        this.#mediaUrl = url
      } else {
        throw new PlaylistError(
          `${url} is a media playlist, recorded as '${this.#init.mediaQuality}' only; a master playlist is needed for '${this.quality}'`
        )
      }
    } else {
      text = await this.#fetchText(this.#mediaUrl)
    }
    const { entries, endlist } = parseMediaPlaylist(text, this.#mediaUrl)
    await this.#process(entries)
    return endlist
  }

  async #process(entries: MediaEntry[]): Promise<void> {
    const { options } = this.#init
    const last = entries.at(-1)
    // A sequence that went backwards is a new stream behind the same URL.
    if (last != null && this.#lastSequence != null && last.sequence < this.#lastSequence) this.#resetStream()
    this.#listed = new Set(entries.map(entryKey))
    const times = entryTimes(entries, (seq) => this.#known.get(seq), Date.now() * 1000, options.skewToleranceUs)
    const fresh: number[] = []
    for (const [i, entry] of entries.entries()) {
      this.#known.set(entry.sequence, { start: times[i]!.start, duration: entry.duration })
      if (this.#lastSequence == null || entry.sequence > this.#lastSequence) fresh.push(i)
    }
    for (const seq of this.#known.keys()) {
      if (this.#known.size <= KNOWN_ENTRIES) break
      this.#known.delete(seq)
    }
    const ads = adFlags(
      fresh.map((i) => entries[i]!),
      fresh.map((i) => times[i]!.start),
      this.#ads
    )
    for (const [n, i] of fresh.entries()) {
      const entry = entries[i]!
      const time = times[i]!
      this.#lastSequence = entry.sequence
      if (ads[n] === true) {
        this.#init.metrics.adSkipped()
        continue
      }
      if (time.skewed && !this.#skewed) {
        this.#init.log.warn(
          { channel: this.channel, quality: this.quality, sequence: entry.sequence },
          'timestamp skew: this and later segments are kept as suspect'
        )
        this.#skewed = true
      }
      if (this.state !== 'up') this.#setState('up')
      this.newestStart = Math.max(this.newestStart ?? time.start, time.start)
      while (this.#downloads.size >= options.maxDownloads || this.#init.paused?.() === true) {
        if (this.#stopping.signal.aborted) return
        if (this.#downloads.size > 0 && this.#init.paused?.() !== true) await Promise.race(this.#downloads)
        else await sleep(options.pollMs, undefined, { signal: this.#stopping.signal }).catch(() => {})
      }
      if (this.#stopping.signal.aborted) return
      this.#track(
        recordEntry(this.#context(), {
          channel: this.channel,
          quality: this.quality,
          uri: entry.uri,
          byterange: entry.byterange,
          start: time.start,
          duration: entry.duration,
          init: entry.init,
          skewed: this.#skewed
        })
      )
    }
  }

  #track(download: Promise<EntryResult>): void {
    const tracked = download.then(
      (result) => {
        this.#recorded[result]++
      },
      (err) => {
        this.#init.log.error({ err, channel: this.channel, quality: this.quality }, 'segment download crashed')
      }
    )
    this.#downloads.add(tracked)
    void tracked.finally(() => this.#downloads.delete(tracked))
  }

  #context(): DownloadContext {
    const { store, options, metrics, log } = this.#init
    return {
      store,
      pool: this.#dispatcher,
      options,
      initBytes: async (section, dispatcher, signal) => await this.#initBytes(section, dispatcher, signal),
      stopping: this.#stopping.signal,
      cut: this.#cut.signal,
      paused: () => this.#init.paused?.() === true,
      listed: (job) => this.#listed.has(entryKey(job)),
      onStored: (type) => metrics.stored(type),
      onError: (kind, err) => {
        metrics.downloadError(kind)
        if (err != null) this.#lastError = (err as Error).message
        log.debug({ err, kind, channel: this.channel, quality: this.quality }, 'segment download failed')
      }
    }
  }

  async #initBytes(section: InitSection, dispatcher: Dispatcher, signal: AbortSignal): Promise<Buffer> {
    const key = `${section.uri} ${section.byterange?.offset ?? ''}+${section.byterange?.length ?? ''}`
    let bytes = this.#initCache.get(key)
    if (bytes == null) {
      bytes = fetchWhole(section.uri, dispatcher, { signal, maxBytes: this.#init.options.maxInitBytes, range: section.byterange })
      this.#initCache.set(key, bytes)
      // A failed fetch is not cached; the oldest entry makes room.
      bytes.catch(() => this.#initCache.delete(key))
      for (const k of this.#initCache.keys()) if (this.#initCache.size > INIT_CACHE) this.#initCache.delete(k)
    }
    return await bytes
  }
}
