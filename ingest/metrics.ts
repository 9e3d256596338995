/**
 * Recorder metrics (prom-client). Labels are bounded: channel and quality come from the config
 * only, types and error kinds from fixed lists.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import { STORED_TYPES } from '../storage/segment-name.ts'
import { DOWNLOAD_ERROR_KINDS, type DownloadErrorKind } from './http-fetch.ts'
import type { RecordedType } from './segment-download.ts'

/** What one worker reports; labels already bound. */
export interface WorkerMetrics {
  stored: (type: RecordedType) => void
  downloadError: (kind: DownloadErrorKind) => void
  playlistError: () => void
  adSkipped: () => void
  up: (up: boolean) => void
}

export class IngestMetrics {
  readonly #segments: Counter
  readonly #downloadErrors: Counter
  readonly #playlistErrors: Counter
  readonly #ads: Counter
  readonly #up: Gauge

  /** `newest` gives each worker's newest segment start (µs), read at scrape time for the delay gauge. */
  constructor(registry: Registry, newest: () => Array<{ channel: string; quality: string; start: number | null }>) {
    const labelNames = ['channel', 'quality']
    this.#segments = new Counter({
      name: 'segmesh_ingest_segments_total',
      help: 'Segments recorded from the live stream, by type',
      labelNames: [...labelNames, 'type'],
      registers: [registry]
    })
    this.#downloadErrors = new Counter({
      name: 'segmesh_ingest_download_errors_total',
      help: 'Failed segment downloads, by kind',
      labelNames: [...labelNames, 'kind'],
      registers: [registry]
    })
    this.#playlistErrors = new Counter({
      name: 'segmesh_ingest_playlist_errors_total',
      help: 'Failed master or media playlist fetches',
      labelNames,
      registers: [registry]
    })
    this.#ads = new Counter({
      name: 'segmesh_ingest_ad_segments_total',
      help: 'Playlist entries skipped as ads',
      labelNames,
      registers: [registry]
    })
    this.#up = new Gauge({
      name: 'segmesh_ingest_stream_up',
      help: '1 while the stream is up (a non-ad segment seen, playlist fetching fine)',
      labelNames,
      registers: [registry]
    })
    new Gauge({
      name: 'segmesh_ingest_stream_delay_seconds',
      help: 'Now minus the start of the newest segment seen',
      labelNames,
      registers: [registry],
      collect() {
        this.reset()
        const now = Date.now() * 1000
        for (const w of newest()) if (w.start != null) this.set({ channel: w.channel, quality: w.quality }, (now - w.start) / 1e6)
      }
    })
  }

  /** Bound to one channel/quality; every series starts at zero so dashboards see it before the first event. */
  forWorker(channel: string, quality: string): WorkerMetrics {
    const labels = { channel, quality }
    for (const type of STORED_TYPES) this.#segments.inc({ ...labels, type }, 0)
    for (const kind of DOWNLOAD_ERROR_KINDS) this.#downloadErrors.inc({ ...labels, kind }, 0)
    this.#playlistErrors.inc(labels, 0)
    this.#ads.inc(labels, 0)
    this.#up.set(labels, 0)
    return {
      stored: (type) => this.#segments.inc({ ...labels, type }),
      downloadError: (kind) => this.#downloadErrors.inc({ ...labels, kind }),
      playlistError: () => this.#playlistErrors.inc(labels),
      adSkipped: () => this.#ads.inc(labels),
      up: (up) => this.#up.set(labels, up ? 1 : 0)
    }
  }
}
