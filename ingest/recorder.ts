/**
 * The recorder: one StreamWorker per configured channel × quality, started and stopped together.
 * Recorded segments go through the store's write path, whose change event the replicator
 * announces, so they reach peers like any other segment.
 */
import { Registry } from 'prom-client'
import { ConfigError } from '../config/errors.ts'
import type { RecordChannel } from '../config/options.ts'
import { type Logger, silentLogger } from '../lib/logger.ts'
import { isValidPathName } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { formatInstant } from '../storage/time.ts'
import { INGEST_DEFAULTS, type IngestOptions } from './constants.ts'
import { IngestMetrics } from './metrics.ts'
import { StreamWorker, type WorkerStatus } from './stream-worker.ts'

export interface RecorderInit {
  channels: readonly RecordChannel[]
  store: SegmentStore
  log?: Logger
  /** Where the metrics go; the node serves it at /metrics. @default a registry of its own */
  registry?: Registry
  /** Timing and limits; tests scale them down. */
  options?: Partial<IngestOptions>
  /** New downloads wait while this returns true (the disk is full). */
  paused?: () => boolean
}

export interface RecorderStatus extends Omit<WorkerStatus, 'newestStart'> {
  /** ISO time of the newest segment's start. */
  newest: string | null
  delaySeconds: number | null
}

export class Recorder {
  readonly registry: Registry
  readonly #workers: StreamWorker[]

  constructor(init: RecorderInit) {
    const options: IngestOptions = { ...INGEST_DEFAULTS, ...init.options }
    this.registry = init.registry ?? new Registry()
    const seen = new Set<string>()
    for (const c of init.channels) {
      if (!isValidPathName(c.channel))
        throw new ConfigError('record', `'${c.channel}' is not a usable channel name (letters, digits, _ - .)`)
      if (seen.has(c.channel)) throw new ConfigError('record', `channel '${c.channel}' is configured twice`)
      seen.add(c.channel)
      if (c.qualities.length === 0) throw new ConfigError('record', `channel '${c.channel}' records no quality`)
      for (const q of c.qualities)
        if (!isValidPathName(q)) throw new ConfigError('qualities', `'${q}' is not a usable quality name (letters, digits, _ - .)`)
    }
    const metrics = new IngestMetrics(this.registry, () =>
      this.#workers.map((w) => ({ channel: w.channel, quality: w.quality, start: w.newestStart }))
    )
    const log = init.log ?? silentLogger
    this.#workers = init.channels.flatMap((c) =>
      [...new Set(c.qualities)].map(
        (quality) =>
          new StreamWorker({
            channel: c.channel,
            quality,
            url: c.url,
            mediaQuality: c.qualities[0]!,
            important: c.important,
            store: init.store,
            options,
            metrics: metrics.forWorker(c.channel, quality),
            log,
            paused: init.paused
          })
      )
    )
  }

  get workers(): readonly StreamWorker[] {
    return this.#workers
  }

  async start(): Promise<void> {
    for (const w of this.#workers) w.start()
  }

  /**
   * Stop polling everywhere; in-flight downloads finish or are cut to `partial` after `graceMs`.
   * Safe without a start (a node that failed to start): the workers' pools are closed either way.
   */
  async stop(graceMs?: number): Promise<void> {
    await Promise.all(this.#workers.map(async (w) => await w.stop(graceMs)))
  }

  status(): RecorderStatus[] {
    const now = Date.now() * 1000
    return this.#workers.map((w) => {
      const { newestStart, ...rest } = w.status()
      return {
        ...rest,
        newest: newestStart == null ? null : formatInstant(newestStart),
        delaySeconds: newestStart == null ? null : Math.round((now - newestStart) / 1000) / 1000
      }
    })
  }
}
