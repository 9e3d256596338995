/**
 * Real media for tests: 2 s MPEG-TS segments made by ffmpeg (testsrc + sine, 30 fps, a keyframe
 * every 2 s, no B-frames), cached under the OS temp folder so test files share one encode.
 */
import { execFile } from 'node:child_process'
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { SegmentStore, WriteResult } from '../../storage/segment-store.ts'

const run = promisify(execFile)

export const FPS = 30
export const SEGMENT_SECONDS = 2

/**
 * Paths of `count` consecutive 2 s segments of one continuous encode. Each frame shows its
 * number (testsrc draws a frame counter), so a test can tell frames apart.
 */
export async function segmentFiles(count: number, size = '320x180'): Promise<string[]> {
  const dir = join(tmpdir(), 'segmesh-fixtures', `testsrc-${size}-${count}`)
  const done = join(dir, 'done')
  try {
    const names = (await readdir(done)).filter((n) => n.endsWith('.ts')).sort()
    if (names.length === count) return names.map((n) => join(done, n))
  } catch {}
  const work = `${dir}.${process.pid}.${Date.now()}`
  await mkdir(work, { recursive: true })
  // biome-ignore format: command-line flags read best as flag/value pairs on a line
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${FPS}`,
    '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
    '-t', String(count * SEGMENT_SECONDS),
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-bf', '0',
    '-g', String(FPS * SEGMENT_SECONDS), '-keyint_min', String(FPS * SEGMENT_SECONDS), '-sc_threshold', '0',
    '-force_key_frames', `expr:gte(t,n_forced*${SEGMENT_SECONDS})`,
    '-c:a', 'aac', '-b:a', '64k', '-ac', '2',
    '-f', 'segment', '-segment_time', String(SEGMENT_SECONDS), '-segment_format', 'mpegts',
    join(work, 'seg%04d.ts')
  ])
  await mkdir(dir, { recursive: true })
  // Another process may have finished first; either copy is fine.
  await rename(work, done).catch(async () => await rm(work, { recursive: true, force: true }))
  const names = (await readdir(done)).filter((n) => n.endsWith('.ts')).sort()
  return names.map((n) => join(done, n))
}

/**
 * Store real segments as a recorder would, back to back from `start` (µs), skipping the indexes
 * in `skip` to leave holes.
 */
export async function recordSegments(
  store: SegmentStore,
  channel: string,
  quality: string,
  start: number,
  count: number,
  skip: readonly number[] = []
): Promise<WriteResult[]> {
  const files = await segmentFiles(count)
  const out: WriteResult[] = []
  for (const [i, file] of files.entries()) {
    if (skip.includes(i)) continue
    const bytes = await readFile(file)
    out.push(
      await store.recordSegment(
        { channel, quality, start: start + i * SEGMENT_SECONDS * 1_000_000, duration: SEGMENT_SECONDS * 1_000_000, type: 'full' },
        bytes
      )
    )
  }
  return out
}

/** ffprobe's `entries` (`stream=width,height`, `packet=pts_time`) of `stream` (`v:0`, `a:0`) in `file`: a CSV line each. */
export async function probeEntries(file: string, stream: string, entries: string): Promise<string[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', stream, '-show_entries', entries, '-of', 'csv=p=0', file])
  return stdout.trim().split('\n')
}
