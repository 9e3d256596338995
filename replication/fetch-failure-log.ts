/**
 * Failed downloads, logged as one summary line per peer per interval with counts by reason, so a
 * peer that fails thousands of requests writes a line every interval instead of one per request.
 */
import type { Logger } from '../lib/logger.ts'

/** Peers summed up per interval; failures of any further peer are counted under OTHER_PEERS. */
const MAX_SUMMARY_PEERS = 64
const OTHER_PEERS = '(other peers)'

export class FailureLog {
  readonly #log: Logger
  readonly #intervalMs: number
  /** peer URL → reason → count, since the last line. */
  readonly #counts = new Map<string, Map<string, number>>()
  #timer: NodeJS.Timeout | null = null

  constructor(log: Logger, intervalMs: number) {
    this.#log = log
    this.#intervalMs = intervalMs
  }

  note(peer: string, reason: string): void {
    const key = this.#counts.has(peer) || this.#counts.size < MAX_SUMMARY_PEERS ? peer : OTHER_PEERS
    let reasons = this.#counts.get(key)
    if (reasons == null) {
      reasons = new Map()
      this.#counts.set(key, reasons)
    }
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    if (this.#timer == null) {
      this.#timer = setTimeout(() => this.flush(), this.#intervalMs)
      this.#timer.unref()
    }
  }

  /** Write the pending summary lines now (stop() calls it). */
  flush(): void {
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#timer = null
    for (const [peer, reasons] of this.#counts) {
      let failures = 0
      for (const n of reasons.values()) failures += n
      this.#log.info({ peer, failures, reasons: Object.fromEntries(reasons), intervalMs: this.#intervalMs }, 'failed downloads from peer')
    }
    this.#counts.clear()
  }
}
