/**
 * Fast cut: per run, only the first and last segments are re-encoded (trimmed at the exact
 * instants, with settings matching the source), everything between is copied; the pieces are
 * joined by shifting their timestamps (TsRetimer) so the output runs continuously from 1.4 s
 * (ffmpeg's usual MPEG-TS start) with each hole and range join collapsed.
 *
 * Edges are encoded with -copyts into temp files (two at a time), so they keep source timestamps
 * and one offset per run lines every piece of it up; trims are output-side filters, never an
 * input-side -ss (on one TS segment that can seek past the only keyframe and yield no frames).
 * The first piece is ready before the stream is returned, so an ffmpeg failure there is still an
 * HTTP error; later failures end the stream early. Closing the stream kills ffmpeg and removes the
 * temp folder.
 */
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { IndexedSegment } from '../storage/segment-index.ts'
import type { Logger } from '../lib/logger.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { formatSeconds } from '../storage/time.ts'
import { matchingEncodeArgs } from './encode-args.ts'
import { run } from './ffmpeg.ts'
import type { CutJob } from './jobs.ts'
import { limit } from '../lib/concurrency.ts'
import { type RunTiming, runTicks } from './timing.ts'
import { makeJobDir, removeJobDir } from './temp.ts'
import { TsRetimer } from './ts-retimer.ts'
import { microsOfTicks } from './ts-packets.ts'

/** Where output timestamps start, ticks: 1.4 s, as ffmpeg's own MPEG-TS output (leaves room for a PCR 0.7 s ahead). */
const OUTPUT_START_TICKS = 126_000
/** Edge encodes at once per cut. */
const EDGE_ENCODES = 2
const EDGE_TIMEOUT_MS = 120_000

export interface CutContext {
  store: SegmentStore
  tempRoot: string
  job: CutJob
  log: Logger
  /** Aborted when the client goes away or the cutter stops. */
  signal: AbortSignal
}

type Piece =
  | { kind: 'copy'; segments: IndexedSegment[]; offset: number }
  /** `audioFrom`: where the edge's own audio begins (before it: encoder priming), source ticks. */
  | { kind: 'edge'; file: string; ready: Promise<void>; offset: number; audioFrom: number | null }

export async function fastCut(ctx: CutContext, timings: readonly RunTiming[]): Promise<Readable> {
  const { store, job } = ctx
  const stop = new AbortController()
  const signal = AbortSignal.any([stop.signal, ctx.signal])
  const dir = await makeJobDir(ctx.tempRoot)
  const gate = limit(EDGE_ENCODES)
  const encodes: Array<Promise<void>> = []
  const encode = (
    timing: RunTiming,
    segment: IndexedSegment,
    name: string,
    trim: { start?: number; end?: number },
    offset: number,
    audioFrom: number | null
  ): Piece => {
    const file = join(dir, name)
    const ready = gate(async () => await encodeEdge(store.pathOf(segment), timing, trim, file, signal))
    ready.catch(() => {})
    encodes.push(ready)
    return { kind: 'edge', file, ready, offset, audioFrom }
  }

  const pieces: Piece[] = []
  let at = 0
  const total = timings.reduce((sum, t) => sum + runTicks(t), 0)
  job.totalUs = microsOfTicks(total)
  for (const [k, t] of timings.entries()) {
    const offset = OUTPUT_START_TICKS + at - t.startTicks
    const segs = t.run.segments
    const start = t.trimStart ? t.startUs : undefined
    const end = t.trimEnd ? t.endUs : undefined
    if (segs.length === 1) {
      pieces.push(
        start != null || end != null
          ? encode(t, segs[0]!, `run${k}.ts`, { start, end }, offset, start != null ? t.startTicks : t.firstAudioTicks)
          : { kind: 'copy', segments: segs, offset }
      )
    } else {
      const middle = segs.slice(t.trimStart ? 1 : 0, t.trimEnd ? -1 : undefined)
      if (start != null) pieces.push(encode(t, segs[0]!, `run${k}-start.ts`, { start }, offset, t.startTicks))
      if (middle.length > 0) pieces.push({ kind: 'copy', segments: middle, offset })
      if (end != null) pieces.push(encode(t, segs.at(-1)!, `run${k}-end.ts`, { end }, offset, t.lastAudioTicks))
    }
    at += runTicks(t)
  }

  let outcome: { state: 'done' | 'failed' | 'aborted'; error?: unknown } | null = null
  let cleaning: Promise<void> | null = null
  const cleanup = async (state: 'done' | 'failed' | 'aborted', error?: unknown): Promise<void> => {
    outcome ??= { state, error }
    cleaning ??= (async () => {
      stop.abort(new Error('cut stopped'))
      await Promise.allSettled(encodes)
      await removeJobDir(dir).catch((err) => ctx.log.warn({ err, dir }, 'could not remove a cut temp folder'))
      job.finish(outcome!.state, outcome!.error)
    })()
    await cleaning
  }
  void Promise.allSettled(encodes).then(() => job.releaseSlot())

  try {
    const first = pieces[0]
    if (first?.kind === 'edge') await first.ready
  } catch (err) {
    await cleanup(signal.aborted ? 'aborted' : 'failed', err)
    throw err
  }

  const stream = Readable.from(retimed(store, pieces, job), { objectMode: false })
  // A consumer that stops early destroys the stream with an AbortError: that is an abort, not a failure.
  stream.once('error', (err) => {
    outcome ??= { state: err.name === 'AbortError' ? 'aborted' : 'failed', error: err }
  })
  const onAbort = (): void => {
    stream.destroy()
  }
  ctx.signal.addEventListener('abort', onAbort, { once: true })
  stream.once('close', () => {
    ctx.signal.removeEventListener('abort', onAbort)
    void cleanup(stream.readableEnded ? 'done' : 'aborted')
  })
  return stream
}

async function* retimed(store: SegmentStore, pieces: readonly Piece[], job: CutJob): AsyncGenerator<Buffer> {
  const retimer = new TsRetimer()
  for (const piece of pieces) {
    if (piece.kind === 'edge') {
      retimer.begin(piece.offset, piece.audioFrom)
      await piece.ready
      for await (const chunk of createReadStream(piece.file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>)
        yield* retimer.push(chunk)
    } else {
      for (const segment of piece.segments) {
        // Each segment file is its own muxer's output (its counters start afresh): join each one.
        retimer.begin(piece.offset)
        const file = store.openRead(segment)
        try {
          for await (const chunk of file as AsyncIterable<Buffer>) yield* retimer.push(chunk)
        } finally {
          file.destroy()
        }
      }
    }
  }
  retimer.end()
  job.progress(job.totalUs ?? 0)
}

/** Re-encode one segment between two instants of its -copyts timeline (µs), keeping its timestamps. */
async function encodeEdge(
  input: string,
  timing: RunTiming,
  trim: { start?: number; end?: number },
  output: string,
  signal: AbortSignal
): Promise<void> {
  const bounds = [
    trim.start != null ? `start=${formatSeconds(trim.start)}` : null,
    trim.end != null ? `end=${formatSeconds(trim.end)}` : null
  ]
    .filter((s) => s != null)
    .join(':')
  const { video, audio } = timing.source
  await run(
    'ffmpeg',
    [
      '-copyts',
      '-i',
      `file:${input}`,
      ...(video != null ? ['-vf', `trim=${bounds}`] : []),
      ...(audio != null ? ['-af', `atrim=${bounds}`] : []),
      ...matchingEncodeArgs(timing.source),
      // One audio frame per PES, so the priming frame can be dropped on its own.
      '-mpegts_copyts',
      '1',
      '-pes_payload_size',
      '0',
      '-f',
      'mpegts',
      `file:${output}`
    ],
    { signal, timeoutMs: EDGE_TIMEOUT_MS }
  ).exited
}
