/**
 * What this node announces on the topic, and what it does not. Gossip is the hint: the node that
 * recorded a segment (or dropped it in with another program) or where a tombstone was made
 * announces it, batched over a short delay; a segment it downloaded, or a tombstone a peer sent it,
 * is not announced again. Its maker announced it, and walks reach whoever missed that. With echoes,
 * each of N nodes announced every item once more, each announcement reaching all N: N fetch waves
 * per segment, N² deliveries per tombstone.
 */
import type { SegmentRef } from '../storage/segment-name.ts'
import { segmentRelPath } from '../storage/segment-name.ts'
import type { StoreEvent } from '../storage/segment-store.ts'
import type { AnnouncedItem } from './messages.ts'

export interface AnnouncerInit {
  /** Publishes one batch (split into messages by the caller). */
  send: (items: AnnouncedItem[]) => void
  /** The signature a tombstone was stored with, to send along. */
  tombstoneProof: (ref: SegmentRef) => string | null
  /** Changes are gathered this long into one batch. */
  delayMs: number
  /** Whether a download of the segment at this relative path runs (replication/running-downloads.ts). */
  downloading: (key: string) => boolean
}

export class Announcer {
  readonly #init: AnnouncerInit
  /** Tombstones (relative paths) being written because a peer sent them. */
  readonly #receiving = new Set<string>()
  #pending: AnnouncedItem[] = []
  #timer: NodeJS.Timeout | null = null

  constructor(init: AnnouncerInit) {
    this.#init = init
  }

  /** Writes a tombstone a peer sent (`write`) without announcing it. */
  async receiving<T>(ref: SegmentRef, write: () => Promise<T>): Promise<T> {
    const key = segmentRelPath(ref)
    this.#receiving.add(key)
    try {
      return await write()
    } finally {
      this.#receiving.delete(key)
    }
  }

  /** A change of the store: announced within the delay, with the others of its batch, unless a peer is its source. */
  changed(event: StoreEvent): void {
    const key = segmentRelPath(event.ref)
    if (event.kind === 'segment' ? this.#init.downloading(key) : this.#receiving.has(key)) return
    const proof = event.kind === 'tombstone' ? this.#init.tombstoneProof(event.ref) : null
    this.#pending.push({ kind: event.kind, ref: event.ref, ...(proof != null ? { proof } : {}) })
    this.#timer ??= setTimeout(() => {
      this.#timer = null
      const items = this.#pending
      this.#pending = []
      this.#init.send(items)
    }, this.#init.delayMs)
  }

  /** Drops the batch not yet sent. */
  stop(): void {
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#timer = null
    this.#pending = []
  }
}
