/**
 * The demo's synthetic live stream: ffmpeg draws a test pattern with a burnt-in UTC clock (testsrc's
 * own frame counter when drawtext or a font is missing) plus a tone, and writes a live HLS playlist
 * with PROGRAM-DATE-TIME; a tiny HTTP server on 127.0.0.1 serves it, as a real origin would.
 */
import { once } from 'node:events'
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { type Server, createServer } from 'node:http'
import { join } from 'node:path'
import { text } from 'node:stream/consumers'
import { setTimeout as sleep } from 'node:timers/promises'
import { run } from '../cutter/ffmpeg.ts'

/** Fonts drawtext can use without fontconfig (Debian's fonts-dejavu-core, fonts-liberation). */
const FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf'
]

const SEGMENT_SECONDS = 2
const FPS = 25
const PLAYLIST = 'live.m3u8'
const FIRST_SEGMENT_TIMEOUT_MS = 30_000

export interface SyntheticStream {
  /** The media playlist URL. */
  url: string
  /** True when the clock is drawn; false means testsrc's frame counter. */
  clock: boolean
  stop: () => Promise<void>
}

/** Video source filter: the clock when this ffmpeg can draw text with a font we can find. */
async function videoSource(): Promise<{ filter: string; clock: boolean }> {
  const font = FONTS.find((f) => existsSync(f))
  const filters = run('ffmpeg', ['-filters'], { stdout: true, timeoutMs: 10_000 })
  const drawtext = /\bdrawtext\b/.test(await text(filters.stdout!))
  await filters.exited
  if (font == null || !drawtext) return { filter: `testsrc=size=640x360:rate=${FPS}`, clock: false }
  // %{gmtime} expands to "YYYY-MM-DD HH:MM:SS" at each frame; the text needs no escaping.
  const draw = `drawtext=fontfile=${font}:text='%{gmtime} UTC':x=24:y=24:fontsize=36:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8`
  return { filter: `testsrc2=size=640x360:rate=${FPS},${draw}`, clock: true }
}

/** Start ffmpeg and the server; `onExit` hears of ffmpeg ending on its own (an error, or killed). */
export async function startSyntheticStream(dir: string, onExit: (err: unknown) => void): Promise<SyntheticStream> {
  // A kept --dir holds the last run's playlist: it must not pass for this run's first one.
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const source = await videoSource()
  const stopping = new AbortController()
  // biome-ignore format: command-line flags read best as flag/value pairs on a line
  const ffmpeg = run('ffmpeg', [
    '-re', '-f', 'lavfi', '-i', source.filter,
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-bf', '0',
    '-g', String(FPS * SEGMENT_SECONDS), '-keyint_min', String(FPS * SEGMENT_SECONDS), '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '64k', '-ac', '2',
    '-f', 'hls', '-hls_time', String(SEGMENT_SECONDS), '-hls_list_size', '15',
    '-hls_flags', 'delete_segments+program_date_time+independent_segments+temp_file',
    '-hls_segment_filename', join(dir, 'seg%06d.ts'),
    join(dir, PLAYLIST)
  ], { signal: stopping.signal, killGraceMs: 5000 })
  ffmpeg.exited.then(
    () => onExit(new Error('ffmpeg ended')),
    (err) => {
      if (!stopping.signal.aborted) onExit(err)
    }
  )

  const server: Server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0]!.slice(1))
    // Only the playlist and its segments, by plain name: nothing else in or above the folder.
    if (!/^[\w-]+\.(m3u8|ts)$/.test(name)) {
      res.writeHead(404).end()
      return
    }
    const body = createReadStream(join(dir, name))
    body.once('error', () => {
      if (!res.headersSent) res.writeHead(404).end()
      else res.destroy()
    })
    body.once('open', () => {
      res.writeHead(200, {
        'content-type': name.endsWith('.ts') ? 'video/mp2t' : 'application/vnd.apple.mpegurl',
        'cache-control': 'no-cache'
      })
      body.pipe(res)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address != null ? address.port : 0
  const stop = async (): Promise<void> => {
    stopping.abort()
    await ffmpeg.exited.catch(() => {})
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  // The recorder starts on a playlist that exists: the first segment takes ffmpeg a few seconds.
  const deadline = Date.now() + FIRST_SEGMENT_TIMEOUT_MS
  while (!existsSync(join(dir, PLAYLIST))) {
    if (Date.now() > deadline || stopping.signal.aborted) {
      await stop()
      throw new Error(`ffmpeg wrote no playlist in ${FIRST_SEGMENT_TIMEOUT_MS / 1000} s`)
    }
    await sleep(100)
  }
  return { url: `http://127.0.0.1:${port}/${PLAYLIST}`, clock: source.clock, stop }
}
