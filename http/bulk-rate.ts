/**
 * One byte budget shared by every cut response (`--cut-max-mib-per-second`). A cut is a bulk
 * download: streamed at loopback or LAN speed, a few of them at once would take the node's cores
 * from the viewers fetching segments, whose requests are small and must stay quick. Segments,
 * listings and playlists are not counted.
 *
 * The budget is a virtual clock (the generic cell rate algorithm): each chunk moves the clock on by
 * its size over the rate, and waits while the clock is more than the burst ahead of now. Waiters
 * are served in the order they asked, so concurrent cuts share the budget evenly. It holds no
 * queue: each waiting response holds its one chunk until its turn.
 */
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'

export class ByteBudget {
  readonly #bytesPerSecond: number
  readonly #burstMs: number
  /** When the bytes handed out so far will have been "sent" at the rate, ms (performance.now()). */
  #clock = 0

  /** `burstMs`: how far ahead of the rate a response may run before it waits. */
  constructor(bytesPerSecond: number, burstMs = 250) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${bytesPerSecond}`)
    this.#bytesPerSecond = bytesPerSecond
    this.#burstMs = burstMs
  }

  /** Count `bytes`; how long, ms, the caller should wait before sending them. */
  take(bytes: number): number {
    const now = performance.now()
    this.#clock = Math.max(this.#clock, now) + (bytes * 1000) / this.#bytesPerSecond
    return Math.max(0, this.#clock - now - this.#burstMs)
  }

  /** Counts `bytes`; resolves once they may be sent (rejects if `signal` aborts first). */
  async wait(bytes: number, signal: AbortSignal): Promise<void> {
    const ms = this.take(bytes)
    if (ms > 0) await sleep(ms, undefined, { signal })
  }

  /** `source`'s chunks, each released when the budget allows; stops waiting when `signal` aborts. */
  pace(source: AsyncIterable<Buffer>, signal: AbortSignal): Readable {
    const budget = this
    return Readable.from(
      (async function* () {
        for await (const chunk of source) {
          await budget.wait(chunk.length, signal)
          yield chunk
        }
      })(),
      { objectMode: false }
    )
  }
}
