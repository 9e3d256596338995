/**
 * Frame extraction: the first frame presented at or after an instant (ffmpeg's -ss convention,
 * so it is also the first frame of a cut starting there), as PNG or JPEG. ffmpeg decodes the whole
 * run of segments around the instant (the caller selects ±1 s), fed through stdin: the frame that
 * belongs to an instant just before a segment's end lives in the next segment, and the decoder
 * needs the keyframe before it. The seek is output-side, on the -copyts timeline.
 */
import type { SegmentStore } from '../storage/segment-store.ts'
import { formatSeconds } from '../storage/time.ts'
import { NoFrameError } from './errors.ts'
import { readOutput, run } from './ffmpeg.ts'
import type { Run } from './plan.ts'
import { segmentBytes } from './rough-cut.ts'
import { timesOf } from './timing.ts'
import { microsOfTicks } from './ts-packets.ts'

export type FrameFormat = 'png' | 'jpg'

/** A frame is at most a few MiB even at 4K; more means something is wrong. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024
const FRAME_TIMEOUT_MS = 30_000

export async function extractFrame(
  store: SegmentStore,
  runAround: Run,
  at: number,
  format: FrameFormat,
  signal: AbortSignal
): Promise<Buffer> {
  const first = runAround.segments[0]!
  const times = await timesOf(store, first)
  const seek = microsOfTicks(times.video ?? times.audio!) + (at - first.start)
  const proc = run(
    'ffmpeg',
    [
      '-copyts',
      '-f',
      'mpegts',
      '-i',
      'pipe:0',
      '-ss',
      formatSeconds(seek),
      '-frames:v',
      '1',
      '-an',
      '-sn',
      '-dn',
      ...(format === 'png' ? ['-c:v', 'png'] : ['-c:v', 'mjpeg', '-q:v', '2', '-pix_fmt', 'yuvj420p']),
      '-f',
      'image2pipe',
      'pipe:1'
    ],
    { signal, stdout: true, input: segmentBytes(store, [runAround]), timeoutMs: FRAME_TIMEOUT_MS }
  )
  const image = await readOutput(proc, MAX_FRAME_BYTES)
  if (image.length === 0) throw new NoFrameError('no frame at or after that instant in the data around it')
  return image
}
