/**
 * /cut and /frame end to end: a real node on 127.0.0.1, segments ffmpeg made, outputs read back
 * with ffprobe and decoded with ffmpeg. Frames are identified by the scrolling gradient testsrc
 * draws (it moves every frame; its seconds counter does not), compared by PSNR with a decode of
 * the source at the expected frame index and its neighbours.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile, readdir, readlink, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import pino from 'pino'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import type { WriteResult } from '../storage/segment-store.ts'
import { formatInstant } from '../storage/time.ts'
import { FPS, probeEntries, recordSegments, segmentFiles } from './helpers/media.ts'
import { type RawResponse, rawGet } from './helpers/raw-http.ts'
import { tempDirFor } from './helpers/tree.ts'

const run = promisify(execFile)

// 12 segments of 2 s from 10:00:00, the sixth (10–12 s) missing: a hole.
const START = Date.UTC(2020, 0, 1, 10) * 1000
const COUNT = 12
const HOLE = 5
const at = (seconds: number): string => formatInstant(START + Math.round(seconds * 1_000_000))
/** The index of the first frame presented at or after `seconds` (frames are at n / 30 s). */
const frameAt = (seconds: number): number => Math.ceil((Math.round(seconds * 1_000_000) * FPS) / 1_000_000)

let node: SegmeshNode
let base: string
let written: WriteResult[]
let scratch: string
let cutTemp: string
/** The gradient band of every source frame, by frame index. */
let reference: Buffer[]

async function ok(path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const res = await rawGet(base, path, { headers })
  assert.equal(res.status, 200, `${path}: ${res.body.subarray(0, 300)}`)
  return res
}

let saved = 0
async function save(body: Buffer, ext: string): Promise<string> {
  const file = join(scratch, `out-${saved++}.${ext}`)
  await writeFile(file, body)
  return file
}

const BAR = { width: 320, height: 24, y: 134 }

/** The gradient band of every frame of a video or image, as 8-bit gray. */
async function bands(file: string): Promise<Buffer[]> {
  const { stdout } = await run(
    'ffmpeg',
    ['-v', 'error', '-i', file, '-vf', `crop=${BAR.width}:${BAR.height}:0:${BAR.y},format=gray`, '-f', 'rawvideo', 'pipe:1'],
    { encoding: 'buffer', maxBuffer: 1 << 28 }
  )
  const size = BAR.width * BAR.height
  const out: Buffer[] = []
  for (let i = 0; i + size <= stdout.length; i += size) out.push(stdout.subarray(i, i + size))
  return out
}

function psnr(a: Buffer, b: Buffer): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!
    sum += d * d
  }
  return sum === 0 ? 99 : 10 * Math.log10((255 * 255 * a.length) / sum)
}

/** Which source frame near `expected` this is (the gradient repeats every few seconds, so look close). */
function identify(band: Buffer, expected: number): { index: number; psnr: number } {
  let best = { index: -1, psnr: -1 }
  for (let n = Math.max(0, expected - 10); n <= Math.min(reference.length - 1, expected + 10); n++) {
    const p = psnr(band, reference[n]!)
    if (p > best.psnr) best = { index: n, psnr: p }
  }
  return best
}

function assertFrames(found: Buffer[], expected: number[], what: string): void {
  assert.equal(found.length, expected.length, `${what}: ${found.length} frames, expected ${expected.length}`)
  for (const [i, band] of found.entries()) {
    const id = identify(band, expected[i]!)
    assert.equal(
      id.index,
      expected[i],
      `${what}: frame ${i} is source frame ${id.index} (${id.psnr.toFixed(1)} dB), expected ${expected[i]}`
    )
    assert.ok(id.psnr >= 35, `${what}: frame ${i} matches at only ${id.psnr.toFixed(1)} dB`)
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

/** Presentation times (s) of a stream's packets, in file order. */
async function packetTimes(file: string, stream: 'v' | 'a'): Promise<number[]> {
  return (await probeEntries(file, `${stream}:0`, 'packet=pts_time'))
    .map((l) => l.replace(/,$/, '').trim())
    .filter((l) => l !== '')
    .map(Number)
}

/** Seconds of video and of audio in a file, from its packets (latest start − earliest start + one frame). */
async function durations(file: string): Promise<{ video: number; audio: number }> {
  const span = (t: number[]): number => Math.max(...t) - Math.min(...t)
  return { video: span(await packetTimes(file, 'v')) + 1 / FPS, audio: span(await packetTimes(file, 'a')) + 1024 / 48_000 }
}

/** Within one frame (and float noise). */
const withinFrame = (a: number, b: number): boolean => Math.abs(a - b) <= 1 / FPS + 1e-6

/** A folder's entries; none when it does not exist (yet). */
async function entries(dir: string): Promise<string[]> {
  return await readdir(dir).catch(() => [])
}

/** ffmpeg children of this process (the node runs in it), from /proc. */
async function ffmpegChildren(): Promise<number[]> {
  const out: number[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8')
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat)
      if (m != null && Number(m[2]) === process.pid && (m[1] === 'ffmpeg' || m[1] === 'ffprobe')) out.push(Number(name))
    } catch {}
  }
  return out
}

async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function startNode(cutConcurrency: number): Promise<{ node: SegmeshNode; temp: string }> {
  const dir = await tempDirFor('segmesh-cut-api-')
  const temp = join(dir, 'cut-temp')
  const config = resolveConfig({
    flags: {
      data: dir,
      'http-host': '127.0.0.1',
      'http-port': '0',
      watch: false,
      replication: false,
      'cut-concurrency': String(cutConcurrency),
      'cut-temp-dir': temp
    }
  })
  const n = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
  await n.start()
  return { node: n, temp }
}

before(async () => {
  scratch = await tempDirFor('segmesh-cut-out-')
  ;({ node, temp: cutTemp } = await startNode(2))
  base = node.url
  written = await recordSegments(node.store, 'desertbus', 'source', START, COUNT, [HOLE])
  const files = await segmentFiles(COUNT)
  const whole = join(scratch, 'source.ts')
  await writeFile(whole, Buffer.concat(await Promise.all(files.map(async (f) => await readFile(f)))))
  reference = await bands(whole)
  assert.equal(reference.length, COUNT * 2 * FPS)
  // 'mixed': two 320x180 segments, a hole, then two 256x144 ones: the stream changed resolution.
  const small = await segmentFiles(2, '256x144')
  for (const [i, file] of [files[0]!, files[1]!, null, ...small].entries()) {
    if (file == null) continue
    await node.store.recordSegment(
      { channel: 'desertbus', quality: 'mixed', start: START + i * 2_000_000, duration: 2_000_000, type: 'full' },
      await readFile(file)
    )
  }
})

after(async () => {
  await node.stop(1000)
})

describe('fast cut', () => {
  it('starts with the frame at start, lasts end − start within a frame, and keeps audio with video', async () => {
    const res = await ok(`/cut/desertbus/source.ts?start=${at(3.51)}&end=${at(9.37)}`)
    assert.equal(res.headers['content-type'], 'video/mp2t')
    assert.equal(res.headers['x-segmesh-cut-type'], 'fast')
    const file = await save(res.body, 'ts')
    // Every frame, in order: the first is the one at 3.51 s, none is missing or repeated at the joins.
    assertFrames(await bands(file), range(frameAt(3.51), frameAt(9.37)), 'fast cut')
    const d = await durations(file)
    assert.ok(withinFrame(d.video, 5.86), `video lasts ${d.video}`)
    assert.ok(Math.abs(d.audio - d.video) <= 0.05, `audio ${d.audio} vs video ${d.video}`)
    // Timestamps run on without a gap: each frame one frame after the last.
    const v = await packetTimes(file, 'v')
    for (let i = 1; i < v.length; i++)
      assert.ok(Math.abs(v[i]! - v[i - 1]! - 1 / FPS) < 0.002, `video jumps ${v[i]! - v[i - 1]!} s at packet ${i}`)
    const a = await packetTimes(file, 'a')
    for (let i = 1; i < a.length; i++) assert.ok(a[i]! > a[i - 1]!, `audio goes back at packet ${i}`)
  })

  it('cuts inside one segment', async () => {
    const file = await save((await ok(`/cut/desertbus/source.ts?start=${at(4.2)}&end=${at(5.1)}`)).body, 'ts')
    assertFrames(await bands(file), range(frameAt(4.2), frameAt(5.1)), 'cut inside a segment')
  })

  it('copies whole segments when the range is on their boundaries', async () => {
    const file = await save((await ok(`/cut/desertbus/source.ts?start=${at(2)}&end=${at(6)}`)).body, 'ts')
    assertFrames(await bands(file), range(frameAt(2), frameAt(6)), 'boundary cut')
  })

  it('takes a start 50 µs after a boundary (no exponent notation reaches ffmpeg)', async () => {
    const file = await save((await ok(`/cut/desertbus/source.ts?start=${at(4.00005)}&end=${at(5)}`)).body, 'ts')
    assertFrames(await bands(file), range(frameAt(4.00005), frameAt(5)), 'start just after a boundary')
  })

  it("leaves a hole's length out with allow_holes=true, with nothing in its place", async () => {
    const path = `/cut/desertbus/source.ts?start=${at(7.3)}&end=${at(15.2)}`
    assert.equal((await rawGet(base, path)).status, 406)
    const file = await save((await ok(`${path}&allow_holes=true`)).body, 'ts')
    // The hole is 10–12 s: frames up to 10 s, then straight on from 12 s.
    assertFrames(await bands(file), [...range(frameAt(7.3), frameAt(10)), ...range(frameAt(12), frameAt(15.2))], 'cut across a hole')
    const d = await durations(file)
    assert.ok(withinFrame(d.video, 15.2 - 7.3 - 2), `video lasts ${d.video}`)
    assert.ok(Math.abs(d.audio - d.video) <= 0.05, `audio ${d.audio} vs video ${d.video}`)
  })

  it('joins several ranges with hard cuts', async () => {
    const res = await ok(`/cut/desertbus/source.ts?range=${at(1.5)},${at(3.2)}&range=${at(20.1)},${at(21)}&range=${at(6)},${at(6.5)}`)
    const file = await save(res.body, 'ts')
    assertFrames(
      await bands(file),
      [...range(frameAt(1.5), frameAt(3.2)), ...range(frameAt(20.1), frameAt(21)), ...range(frameAt(6), frameAt(6.5))],
      'three ranges'
    )
  })

  it('answers 409 across a change of resolution, or falls back to a full cut', async () => {
    const path = `/cut/desertbus/mixed.ts?start=${at(1)}&end=${at(9)}&allow_holes=true`
    const refused = await rawGet(base, path)
    assert.equal(refused.status, 409)
    assert.equal(JSON.parse(refused.body.toString()).error, 'stream_mismatch')
    assert.match(JSON.parse(refused.body.toString()).message, /320x180 → 256x144/)
    const res = await ok(`${path}&fallback=full`)
    assert.equal(res.headers['x-segmesh-cut-type'], 'full')
    const file = await save(res.body, 'ts')
    assert.equal((await probeEntries(file, 'v:0', 'stream=width,height'))[0], '320,180')
    const d = await durations(file)
    assert.ok(withinFrame(d.video, 6), `video lasts ${d.video}`)
  })
})

describe('rough cut', () => {
  it("is the selected segments' bytes, concatenated", async () => {
    const res = await ok(`/cut/desertbus/source.ts?start=${at(3.51)}&end=${at(9.37)}&type=rough`)
    const expected = Buffer.concat(await Promise.all(written.slice(1, 5).map(async (w) => await readFile(node.store.pathOf(w.ref)))))
    assert.ok(res.body.equals(expected), `rough cut of ${res.body.length} bytes differs from the ${expected.length} bytes of segments 1–4`)
    // Written past fastify's onSend hooks (http/chunk-writer.ts), with the headers every answer has.
    assert.equal(res.headers['access-control-allow-origin'], '*')
    assert.equal(res.headers['x-segmesh-cut-type'], 'rough')
    assert.equal(res.headers['content-type'], 'video/mp2t')
  })
})

describe('full cut', () => {
  it('MP4: plays in ffprobe with the right duration, with Content-Length and ranges', async () => {
    const path = `/cut/desertbus/source.mp4?start=${at(3.51)}&end=${at(9.37)}&type=full`
    const res = await ok(path)
    assert.equal(res.headers['content-type'], 'video/mp4')
    assert.equal(Number(res.headers['content-length']), res.body.length)
    assert.equal(res.headers['accept-ranges'], 'bytes')
    const file = await save(res.body, 'mp4')
    const { stdout } = await run('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'format=format_name,duration',
      '-of',
      'default=nw=1:nk=1',
      file
    ])
    const [format, duration] = stdout.trim().split('\n')
    assert.match(format!, /mp4/)
    assert.ok(withinFrame(Number(duration), 5.86), `duration ${duration}`)
    const first = await bands(file)
    assert.equal(identify(first[0]!, frameAt(3.51)).index, frameAt(3.51))
    // faststart: the index (moov) comes before the data (mdat).
    assert.ok(res.body.indexOf('moov') < res.body.indexOf('mdat'))
    const part = await rawGet(base, path, { headers: { range: 'bytes=100-1099' } })
    assert.equal(part.status, 206)
    assert.equal(part.headers['content-range'], `bytes 100-1099/${res.body.length}`)
    assert.ok(part.body.equals(res.body.subarray(100, 1100)))
    await eventually('the MP4 temp files to go', async () => (await entries(cutTemp)).length === 0)
  })

  it('MPEG-TS: streams a re-encode of every range', async () => {
    const res = await ok(`/cut/desertbus/source.ts?range=${at(3.5)},${at(5)}&range=${at(12)},${at(13)}&type=full`)
    const file = await save(res.body, 'ts')
    assertFrames(await bands(file), [...range(frameAt(3.5), frameAt(5)), ...range(frameAt(12), frameAt(13))], 'full cut')
  })
})

describe('frames', () => {
  for (const [seconds, format] of [
    [3.99, 'png'],
    [4.01, 'png'],
    [4, 'jpg'],
    [0, 'png'],
    [22.5, 'jpg']
  ] as const) {
    it(`at ${seconds} s (${format}) is source frame ${frameAt(seconds)}`, async () => {
      const res = await ok(`/frame/desertbus/source.${format}?timestamp=${at(seconds)}`)
      assert.equal(res.headers['content-type'], format === 'png' ? 'image/png' : 'image/jpeg')
      const [band] = await bands(await save(res.body, format))
      const id = identify(band!, frameAt(seconds))
      assert.equal(id.index, frameAt(seconds), `got source frame ${id.index} (${id.psnr.toFixed(1)} dB)`)
      assert.ok(id.psnr >= 35, `matches at only ${id.psnr.toFixed(1)} dB`)
    })
  }

  it('answers 404 in a hole and 400 without a timestamp', async () => {
    assert.equal((await rawGet(base, `/frame/desertbus/source.png?timestamp=${at(11)}`)).status, 404)
    assert.equal((await rawGet(base, '/frame/desertbus/source.png')).status, 400)
    assert.equal((await rawGet(base, '/frame/desertbus/source.png?timestamp=yesterday')).status, 400)
    assert.equal((await rawGet(base, `/frame/nobody/source.png?timestamp=${at(1)}`)).status, 404)
  })
})

describe('bad requests', () => {
  const cases: Array<[string, number, string]> = [
    [`?start=${at(1)}&end=${at(3)}&type=smart`, 400, 'type'],
    [`?start=${at(1)}&end=${at(3)}&type=fast&type=rough`, 400, 'more than once'],
    [`?start=${at(3)}&end=${at(1)}`, 400, 'after start'],
    [`?start=${at(3)}&end=${at(3)}`, 400, 'after start'],
    [`?start=yesterday&end=${at(3)}`, 400, 'start'],
    [`?start=${at(1)}`, 400, 'end'],
    [`?end=${at(1)}`, 400, 'start'],
    [`?start=${at(1)}&end=${at(3)}&allow_holes=maybe`, 400, 'allow_holes'],
    [`?start=${at(1)}&end=${at(3)}&fallback=rough`, 400, 'fallback'],
    [`?start=${at(1)}&end=${at(3)}&transition=fade,1`, 400, 'hard cuts'],
    [`?range=${at(1)}`, 400, 'START,END'],
    [`?range=${at(1)},`, 400, 'range 1 end'],
    [`?range=${at(1)},${at(3)}&start=${at(1)}`, 400, 'not both'],
    [`?range=${at(1)},${at(3)}&range=${at(5)},${at(4)}`, 400, 'range 2'],
    [`?start=2021-01-01T00:00:00Z&end=2021-01-01T00:01:00Z`, 404, 'no segments'],
    [`?start=${at(10.2)}&end=${at(11.5)}&allow_holes=true`, 404, 'no segments'],
    [`?start=${at(1)}&end=${at(30)}`, 406, 'holes']
  ]
  for (const [query, status, message] of cases) {
    it(`${query} → ${status}`, async () => {
      const res = await rawGet(base, `/cut/desertbus/source.ts${query}`)
      assert.equal(res.status, status, res.body.toString())
      assert.match(String(res.headers['content-type']), /application\/json/)
      assert.ok(res.body.toString().includes(message), res.body.toString())
    })
  }

  it('.mp4 only for full cuts; unknown channel and quality are 404', async () => {
    const mp4 = await rawGet(base, `/cut/desertbus/source.mp4?start=${at(1)}&end=${at(3)}`)
    assert.equal(mp4.status, 400)
    assert.match(JSON.parse(mp4.body.toString()).message, /type=full/)
    assert.equal((await rawGet(base, `/cut/desertbus/source.mp4?start=${at(1)}&end=${at(3)}&type=rough`)).status, 400)
    assert.equal((await rawGet(base, `/cut/nobody/source.ts?start=${at(1)}&end=${at(3)}`)).status, 404)
    assert.equal((await rawGet(base, `/cut/desertbus/nope.ts?start=${at(1)}&end=${at(3)}`)).status, 404)
    assert.equal((await rawGet(base, `/cut/desertbus/source.webm?start=${at(1)}&end=${at(3)}`)).status, 404)
  })
})

describe('status', () => {
  it('lists recent cut jobs', async () => {
    const status = JSON.parse((await ok('/status')).body.toString()) as {
      cuts: Array<{ kind: string; state: string; format: string; progress: number | null }>
    }
    assert.ok(
      status.cuts.some((c) => c.kind === 'full' && c.state === 'done' && c.progress === 1),
      JSON.stringify(status.cuts)
    )
    assert.ok(
      status.cuts.some((c) => c.kind === 'frame' && c.format === 'jpg'),
      JSON.stringify(status.cuts)
    )
  })
})

describe('limits and aborts', () => {
  let busy: SegmeshNode
  let busyTemp: string

  before(async () => {
    ;({ node: busy, temp: busyTemp } = await startNode(1))
    await recordSegments(busy.store, 'desertbus', 'source', START, COUNT, [HOLE])
  })

  after(async () => {
    await busy.stop(1000)
  })

  const runningFull = async (): Promise<boolean> => {
    const status = JSON.parse((await rawGet(busy.url, '/status')).body.toString()) as { cuts: Array<{ kind: string; state: string }> }
    return status.cuts.some((c) => c.kind === 'full' && c.state === 'running')
  }

  it('answers 503 with Retry-After past the ffmpeg limit; a client that leaves kills ffmpeg and removes temp files', async () => {
    // An MP4 of everything spools for a while: it holds the only slot.
    const client = new AbortController()
    const long = fetch(`${busy.url}/cut/desertbus/source.mp4?start=${at(0)}&end=${at(24)}&type=full&allow_holes=true`, {
      signal: client.signal
    }).catch((err: Error) => err)
    await eventually('the full cut to run', runningFull)
    await eventually('ffmpeg to run', async () => (await ffmpegChildren()).length > 0)
    await eventually("the job's temp folder", async () => (await entries(busyTemp)).length > 0)

    const refused = await rawGet(busy.url, `/cut/desertbus/source.ts?start=${at(1.5)}&end=${at(3)}`)
    assert.equal(refused.status, 503)
    assert.ok(Number(refused.headers['retry-after']) >= 1, `Retry-After: ${refused.headers['retry-after']}`)
    assert.equal(JSON.parse(refused.body.toString()).error, 'busy')
    assert.equal((await rawGet(busy.url, `/frame/desertbus/source.png?timestamp=${at(1)}`)).status, 503)
    // Rough cuts run no ffmpeg and are not limited.
    assert.equal((await rawGet(busy.url, `/cut/desertbus/source.ts?start=${at(1.5)}&end=${at(3)}&type=rough`)).status, 200)

    client.abort()
    assert.ok((await long) instanceof Error)
    await eventually('ffmpeg to exit', async () => (await ffmpegChildren()).length === 0)
    await eventually('the temp folder to go', async () => (await entries(busyTemp)).length === 0)
    const status = JSON.parse((await rawGet(busy.url, '/status')).body.toString()) as { cuts: Array<{ kind: string; state: string }> }
    assert.equal(status.cuts.find((c) => c.kind === 'full')?.state, 'aborted')
    // The slot is free again.
    assert.equal((await rawGet(busy.url, `/cut/desertbus/source.ts?start=${at(1.5)}&end=${at(3)}`)).status, 200)
  })

  it('a client that leaves a streaming cut kills ffmpeg too', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${busy.url}/cut/desertbus/source.ts?start=${at(0)}&end=${at(24)}&type=full&allow_holes=true`, (res) => {
        assert.equal(res.statusCode, 200)
        // Take the first bytes, then hang up mid-stream.
        res.once('data', () => {
          req.destroy()
          resolve()
        })
      })
      req.on('error', (err) => {
        if (!req.destroyed) reject(err)
      })
    })
    await eventually('ffmpeg to exit', async () => (await ffmpegChildren()).length === 0)
    await eventually('the temp folder to go', async () => (await entries(busyTemp)).length === 0)
    await eventually('the job to end', async () => !(await runningFull()))
  })
})

// Keep the helper honest: /proc names this process's children as ffmpeg while one runs.
describe('ffmpegChildren', () => {
  it('sees a running ffmpeg', async () => {
    const child = execFile('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'anullsrc', '-t', '30', '-f', 'null', '-'])
    try {
      await eventually(
        'ffmpeg to show',
        async () => (await ffmpegChildren()).includes(child.pid!) && (await readlink(`/proc/${child.pid}/exe`)).endsWith('ffmpeg')
      )
    } finally {
      child.kill('SIGKILL')
    }
  })
})
