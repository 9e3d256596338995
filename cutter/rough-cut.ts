/**
 * Rough cut: the selected segments' bytes, one after the other, untrimmed and untouched (so the
 * output may start up to a segment early and end up to a segment late, and keeps the source's
 * timestamps and their jumps). No ffmpeg.
 */
import { type BufferPool, fileChunks } from '../lib/buffer-pool.ts'
import type { IndexedSegment } from '../storage/segment-index.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import type { Run } from './plan.ts'

export interface RoughCutOptions {
  /**
   * Resolves once a segment's bytes are on this node's disk (read-through: a segment this node
   * lacked, fetched as the cut reaches it).
   */
  ready?: ((segment: IndexedSegment) => Promise<void>) | undefined
  /** Lends the buffer each file is read into. */
  buffers?: BufferPool | undefined
}

/**
 * The runs' segments, file after file, in lent chunks: each is valid only until the next is asked
 * for (http/chunk-writer.ts writes one and waits for it before asking).
 */
export async function* roughCut(store: SegmentStore, runs: readonly Run[], options: RoughCutOptions = {}): AsyncGenerator<Buffer> {
  for (const run of runs) {
    for (const segment of run.segments) {
      await options.ready?.(segment)
      yield* fileChunks(store.pathOf(segment), { ...(options.buffers != null ? { pool: options.buffers } : {}) })
    }
  }
}

/** The same bytes in buffers of their own, for a consumer that keeps chunks (a pipe into ffmpeg's stdin for a frame). */
export async function* segmentBytes(store: SegmentStore, runs: readonly Run[]): AsyncGenerator<Buffer> {
  for await (const chunk of roughCut(store, runs)) yield Buffer.from(chunk)
}
