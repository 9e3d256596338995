/**
 * Where a run's instants are in its source's own timestamps. A segment's name gives its start as a
 * wall-clock instant; its first video frame carries that instant's PTS. So an instant t inside a
 * run sits at PTS(first segment) + (t − first.start), and the same for the run's last segment
 * (measured separately, so drift between names and timestamps over a long run does not move the
 * end). ffmpeg runs with -copyts, so trims are given on this same timeline.
 */
import { formatInstant } from '../storage/time.ts'
import { segmentRelPath } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { CutError, StreamMismatchError } from './errors.ts'
import { limit } from '../lib/concurrency.ts'
import type { Run } from './plan.ts'
import { type SourceInfo, describeMismatch, probeSegment } from './probe.ts'
import { type FirstTimestamps, firstTimestamps, microsOfTicks, tickDelta, ticksOf } from './ts-packets.ts'

export interface RunTiming {
  run: Run
  /** ffprobe of the run's first segment. */
  source: SourceInfo
  /** PTS (90 kHz) of run.start and run.end. */
  startTicks: number
  endTicks: number
  /** The same instants in µs on ffmpeg's -copyts timeline, for trim filters and -ss. */
  startUs: number
  endUs: number
  /** Whether the first / last segment must be trimmed (re-encoded) rather than copied whole. */
  trimStart: boolean
  trimEnd: boolean
  /** First audio PTS of the first and of the last segment (where a re-encoded edge's audio must begin). */
  firstAudioTicks: number | null
  lastAudioTicks: number | null
}

/** Probes at once per cut: a cut across many holes has many runs. */
const PROBES = 4

export async function timeRuns(store: SegmentStore, runs: readonly Run[], options: { signal?: AbortSignal } = {}): Promise<RunTiming[]> {
  const gate = limit(PROBES)
  return await Promise.all(runs.map(async (run) => await gate(async () => await timeRun(store, run, options))))
}

async function timeRun(store: SegmentStore, run: Run, options: { signal?: AbortSignal }): Promise<RunTiming> {
  const first = run.segments[0]!
  const last = run.segments.at(-1)!
  const [source, firstTimes, lastTimes] = await Promise.all([
    probeSegment(store.pathOf(first), options),
    timesOf(store, first),
    last === first ? null : timesOf(store, last)
  ])
  const firstPts = firstTimes.video ?? firstTimes.audio!
  const lastBase = lastTimes == null ? firstPts : (lastTimes.video ?? lastTimes.audio!)
  return {
    run,
    source,
    startTicks: firstPts + ticksOf(run.start - first.start),
    endTicks: lastBase + ticksOf(run.end - last.start),
    startUs: microsOfTicks(firstPts) + (run.start - first.start),
    endUs: microsOfTicks(lastBase) + (run.end - last.start),
    trimStart: run.start > first.start,
    trimEnd: run.end < last.start + last.duration,
    firstAudioTicks: firstTimes.audio,
    lastAudioTicks: (lastTimes ?? firstTimes).audio
  }
}

export async function timesOf(store: SegmentStore, segment: Run['segments'][number]): Promise<FirstTimestamps> {
  const times = await firstTimestamps(store.pathOf(segment))
  if (times.video == null && times.audio == null) throw new CutError(`no timestamps in the first MiB of ${segmentRelPath(segment)}`)
  return times
}

/** Output length of a run in ticks: its measured span, or its nominal one if timestamps disagree. */
export function runTicks(t: RunTiming): number {
  const measured = tickDelta(t.endTicks, t.startTicks)
  const nominal = ticksOf(t.run.end - t.run.start)
  // A measured span far from the named one means the timestamps jumped inside the run.
  return measured > 0 && Math.abs(measured - nominal) <= ticksOf(1_000_000) ? measured : nominal
}

/** The first place the stream changes codec, resolution or audio format between runs, if any. */
export function findMismatch(timings: readonly RunTiming[]): StreamMismatchError | null {
  const base = timings[0]
  if (base == null) return null
  for (const t of timings.slice(1)) {
    const diff = describeMismatch(base.source, t.source)
    if (diff != null) {
      return new StreamMismatchError(
        `the stream changes at ${formatInstant(t.run.start)} (${diff}); ` +
          'a fast cut joins pieces by copying packets and cannot cross that: use type=full, or fallback=full'
      )
    }
  }
  return null
}
