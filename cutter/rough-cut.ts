/**
 * Rough cut: the selected segments' bytes, one after the other, untrimmed and untouched (so the
 * output may start up to a segment early and end up to a segment late, and keeps the source's
 * timestamps and their jumps). No ffmpeg. Streamed file by file with back-pressure.
 */
import { Readable } from 'node:stream'
import type { SegmentStore } from '../storage/segment-store.ts'
import type { Run } from './plan.ts'

export function roughCut(store: SegmentStore, runs: readonly Run[]): Readable {
  return Readable.from(segmentBytes(store, runs), { objectMode: false })
}

/** The bytes of the runs' segments, file after file (also ffmpeg's stdin for a frame). */
export async function* segmentBytes(store: SegmentStore, runs: readonly Run[]): AsyncGenerator<Buffer> {
  for (const run of runs) {
    for (const segment of run.segments) {
      const file = store.openRead(segment)
      try {
        yield* file as AsyncIterable<Buffer>
      } finally {
        file.destroy()
      }
    }
  }
}
