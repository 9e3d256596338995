/**
 * Rough cut: the selected segments' bytes, one after the other, untrimmed and untouched (so the
 * output may start up to a segment early and end up to a segment late, and keeps the source's
 * timestamps and their jumps). No ffmpeg. Streamed file by file with back-pressure.
 */
import { Readable } from 'node:stream'
import type { IndexedSegment } from '../storage/segment-index.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import type { Run } from './plan.ts'

export function roughCut(store: SegmentStore, runs: readonly Run[], ready?: (segment: IndexedSegment) => Promise<void>): Readable {
  return Readable.from(segmentBytes(store, runs, ready), { objectMode: false })
}

/**
 * The bytes of the runs' segments, file after file (also ffmpeg's stdin for a frame), each once
 * `ready` says it is on disk (read-through: a segment this node lacked).
 */
export async function* segmentBytes(
  store: SegmentStore,
  runs: readonly Run[],
  ready?: (segment: IndexedSegment) => Promise<void>
): AsyncGenerator<Buffer> {
  for (const run of runs) {
    for (const segment of run.segments) {
      await ready?.(segment)
      const file = store.openRead(segment)
      try {
        yield* file as AsyncIterable<Buffer>
      } finally {
        file.destroy()
      }
    }
  }
}
