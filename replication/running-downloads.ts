/**
 * Segments this node is downloading from peers now (a want, or a read-through), by relative path.
 * Two readers: the announcer, which does not announce what a download stored (its recorder did),
 * and the segment route, which makes a peer that a referral sent here, asking for one of them,
 * wait for the download's end rather than answer 404. A node that fetched a segment in full from
 * its recorder is named to other askers at once (http/upload-slots.ts), often before it has
 * hashed, synced and indexed its copy: a 404 then would send the asker away and, repeated, pause
 * the holder as a liar.
 *
 * Bound: one entry per running download (the fetcher's queue bounds those), plus the waiters the
 * segment route admits (it bounds them).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'

interface Running {
  count: number
  ended: Array<() => void>
}

export class RunningDownloads {
  readonly #running = new Map<string, Running>()

  /** A download of `ref` starts; call the function returned when it ends (once; more calls do nothing). */
  begin(ref: SegmentRef): () => void {
    const key = segmentRelPath(ref)
    let entry = this.#running.get(key)
    if (entry == null) {
      entry = { count: 0, ended: [] }
      this.#running.set(key, entry)
    }
    entry.count++
    const running = entry
    let ended = false
    return () => {
      if (ended) return
      ended = true
      if (--running.count > 0) return
      this.#running.delete(key)
      for (const wake of running.ended) wake()
    }
  }

  /** Whether a download of the segment at this relative path runs. */
  has(key: string): boolean {
    return this.#running.has(key)
  }

  /**
   * Resolves once no download of `ref` runs here, or after `ms`, or when `signal` aborts: true when
   * the downloads ended (the index says whether one stored it), false otherwise and at once when none runs.
   */
  async ended(ref: SegmentRef, ms: number, signal: AbortSignal): Promise<boolean> {
    const entry = this.#running.get(segmentRelPath(ref))
    if (entry == null || signal.aborted) return false
    const stop = new AbortController()
    const onAbort = (): void => stop.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    let wake: () => void = () => {}
    const done = new Promise<true>((resolve) => {
      wake = () => resolve(true)
      entry.ended.push(wake)
    })
    try {
      return await Promise.race([done, sleep(ms, false, { signal: stop.signal }).catch(() => false)])
    } finally {
      stop.abort()
      signal.removeEventListener('abort', onAbort)
      const i = entry.ended.indexOf(wake)
      if (i >= 0) entry.ended.splice(i, 1)
    }
  }
}
