/**
 * Full cut: everything re-encoded to H.264/AAC by one ffmpeg. Each run is one input (its
 * segments through the concatf protocol), trimmed on its -copyts timeline and scaled, padded and
 * resampled to the first run's format, so runs whose codec or resolution differ still join (this
 * is also the fallback of a fast cut that cannot copy across such a change); runs are joined by
 * the concat filter. MPEG-TS streams from ffmpeg's stdout as it is produced; MP4 needs a seekable
 * output, so it is spooled to a temp file with +faststart and handed over once complete.
 */
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { IndexedSegment } from '../storage/segment-index.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { formatSeconds } from '../storage/time.ts'
import { CutError } from './errors.ts'
import type { CutContext } from './fast-cut.ts'
import { run } from './ffmpeg.ts'
import type { AudioInfo, VideoInfo } from './probe.ts'
import { makeJobDir, removeJobDir } from './temp.ts'
import type { RunTiming } from './timing.ts'

const FULL_PRESET = 'veryfast'
const FULL_CRF = '20'
const FULL_AUDIO_BITRATE = '128k'

export type FullOutput =
  | { kind: 'stream'; stream: Readable }
  /** A finished MP4; call `release` once it has been sent (or not). */
  | { kind: 'file'; path: string; size: number; release: () => Promise<void> }

/** One line per URL, quoted for av_get_token (which concatf uses to read the list). */
function concatfList(store: SegmentStore, segments: readonly IndexedSegment[]): string {
  return segments
    .map((s) => {
      const path = store.pathOf(s)
      if (/[\r\n]/.test(path)) throw new CutError(`segment path has a line break: ${JSON.stringify(path)}`)
      return `'file:${path.replace(/'/g, "'\\''")}'\n`
    })
    .join('')
}

interface Target {
  video: VideoInfo | null
  audio: AudioInfo | null
}

function filterGraph(timings: readonly RunTiming[], target: Target): { graph: string; maps: string[] } {
  const parts: string[] = []
  const labels: string[] = []
  const v = target.video
  const a = target.audio
  const layout = a == null ? '' : (a.channelLayout ?? (a.channels === 1 ? 'mono' : 'stereo'))
  for (const [k, t] of timings.entries()) {
    const start = formatSeconds(t.startUs)
    const end = formatSeconds(t.endUs)
    const length = formatSeconds(t.run.end - t.run.start)
    if (v != null) {
      parts.push(
        t.source.video != null
          ? // The first kept frame (up to one frame after the cut) starts the run: no leading gap in MP4.
            `[${k}:${t.source.video.index}]trim=start=${start}:end=${end},setpts=PTS-STARTPTS,` +
              `scale=${v.width}:${v.height}:force_original_aspect_ratio=decrease,` +
              `pad=${v.width}:${v.height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p[v${k}]`
          : `color=c=black:s=${v.width}x${v.height}:r=${v.frameRate ?? '30'}:d=${length},format=yuv420p[v${k}]`
      )
      labels.push(`[v${k}]`)
    }
    if (a != null) {
      parts.push(
        t.source.audio != null
          ? `[${k}:${t.source.audio.index}]atrim=start=${start}:end=${end},asetpts=PTS-${start}/TB,` +
              `aresample=${a.sampleRate},aformat=sample_fmts=fltp:channel_layouts=${layout}[a${k}]`
          : `anullsrc=r=${a.sampleRate}:cl=${layout},atrim=duration=${length}[a${k}]`
      )
      labels.push(`[a${k}]`)
    }
  }
  if (timings.length === 1) return { graph: parts.join(';'), maps: labels }
  const outs = [...(v != null ? ['[vout]'] : []), ...(a != null ? ['[aout]'] : [])]
  parts.push(`${labels.join('')}concat=n=${timings.length}:v=${v != null ? 1 : 0}:a=${a != null ? 1 : 0}${outs.join('')}`)
  return { graph: parts.join(';'), maps: outs }
}

export async function fullCut(ctx: CutContext, timings: readonly RunTiming[], format: 'ts' | 'mp4'): Promise<FullOutput> {
  const { store, job } = ctx
  const target: Target = {
    video: timings.find((t) => t.source.video != null)?.source.video ?? null,
    audio: timings.find((t) => t.source.audio != null)?.source.audio ?? null
  }
  if (target.video == null && target.audio == null) throw new CutError('no video or audio stream in the selected segments')
  const dir = await makeJobDir(ctx.tempRoot)
  const signal = ctx.signal
  let handedOver = false
  try {
    const inputs: string[] = []
    for (const [k, t] of timings.entries()) {
      const list = join(dir, `run${k}.txt`)
      await writeFile(list, concatfList(store, t.run.segments))
      inputs.push('-i', `concatf:${list}`)
    }
    const { graph, maps } = filterGraph(timings, target)
    const output = join(dir, 'cut.mp4')
    const args = [
      '-copyts',
      ...inputs,
      '-filter_complex',
      graph,
      ...maps.flatMap((m) => ['-map', m]),
      ...(target.video != null ? ['-c:v', 'libx264', '-preset', FULL_PRESET, '-crf', FULL_CRF, '-pix_fmt', 'yuv420p'] : []),
      ...(target.audio != null ? ['-c:a', 'aac', '-b:a', FULL_AUDIO_BITRATE] : []),
      '-max_muxing_queue_size',
      '4096',
      ...(format === 'mp4' ? ['-movflags', '+faststart', '-f', 'mp4', `file:${output}`] : ['-f', 'mpegts', 'pipe:1'])
    ]
    job.totalUs = timings.reduce((sum, t) => sum + t.run.end - t.run.start, 0)
    const proc = run('ffmpeg', args, { signal, stdout: format === 'ts', onProgress: (us) => job.progress(us) })

    if (format === 'mp4') {
      await proc.exited
      job.releaseSlot()
      const { size } = await stat(output)
      handedOver = true
      return {
        kind: 'file',
        path: output,
        size,
        release: async () => {
          await removeJobDir(dir)
          job.finish('done')
        }
      }
    }

    // Wait for the first bytes (or the exit), so a graph or input error is still an HTTP error.
    const chunks = proc.stdout![Symbol.asyncIterator]() as AsyncIterator<Buffer>
    const first = await chunks.next()
    if (first.done === true) await proc.exited
    const stream = Readable.from(
      (async function* () {
        if (first.done !== true) yield first.value
        while (true) {
          const next = await chunks.next()
          if (next.done === true) break
          yield next.value
        }
        // The exit status decides whether the stream ends cleanly or is cut off with an error.
        await proc.exited
      })(),
      { objectMode: false }
    )
    handedOver = true
    let error: unknown
    // A consumer that stops early destroys the stream with an AbortError: that is an abort, not a failure.
    stream.once('error', (err) => {
      if (err.name !== 'AbortError') error = err
    })
    const onAbort = (): void => {
      stream.destroy()
    }
    signal.addEventListener('abort', onAbort, { once: true })
    stream.once('close', () => {
      signal.removeEventListener('abort', onAbort)
      proc.kill()
      void proc.exited
        .catch(() => {})
        .finally(async () => {
          await removeJobDir(dir).catch((err) => ctx.log.warn({ err, dir }, 'could not remove a cut temp folder'))
          job.finish(error != null ? 'failed' : stream.readableEnded ? 'done' : 'aborted', error)
        })
    })
    return { kind: 'stream', stream }
  } finally {
    if (!handedOver) await removeJobDir(dir)
  }
}
