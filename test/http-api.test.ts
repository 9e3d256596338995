/**
 * The HTTP API end to end: a real node on 127.0.0.1 serving segments that ffmpeg made, read by
 * hls-parser, ffprobe and ffmpeg.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import HLS from 'hls-parser'
import pino from 'pino'
import { request } from 'undici'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import type { WriteResult } from '../storage/segment-store.ts'
import { formatInstant } from '../storage/time.ts'
import { recordSegments } from './helpers/media.ts'
import { tempDirFor } from './helpers/tree.ts'

const run = promisify(execFile)

// Six 2 s segments from 2020-01-01T10:00:00Z, with the fourth (index 3) missing: a hole.
const START = Date.UTC(2020, 0, 1, 10) * 1000
const at = (seconds: number): string => formatInstant(START + seconds * 1_000_000)

let node: SegmeshNode
let base: string
let written: WriteResult[]

/** GET with the path sent exactly as written (URL parsers would resolve `..` before sending). */
async function get(
  path: string,
  headers: Record<string, string> = {}
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    const req = http.get({ hostname, port, path, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

async function json(path: string): Promise<unknown> {
  const res = await get(path)
  assert.equal(res.status, 200, `${path}: ${res.body}`)
  assert.match(String(res.headers['content-type']), /application\/json/)
  return JSON.parse(res.body.toString())
}

function segmentPath(w: WriteResult): string {
  return `/segments/${w.ref.channel}/${w.ref.quality}/${w.ref.hour}/${encodeURIComponent(w.ref.file)}`
}

/** Decoded video frames of an HLS URL, counted by ffprobe (it really decodes every packet). */
async function countFrames(url: string): Promise<number> {
  const { stdout, stderr } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-count_frames',
    '-show_entries',
    'stream=nb_read_frames',
    '-of',
    'csv=p=0',
    url
  ])
  // The HLS demuxer reports the stream once per program: take the first.
  const frames = Number(stdout.trim().split('\n')[0])
  assert.ok(Number.isInteger(frames), `ffprobe printed ${JSON.stringify(stdout)} ${stderr}`)
  return frames
}

before(async () => {
  const dir = await tempDirFor('segmesh-http-')
  const config = resolveConfig({ flags: { data: dir, 'http-host': '127.0.0.1', 'http-port': '0', watch: false, replication: false } })
  node = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
  await node.start()
  base = node.url
  written = await recordSegments(node.store, 'desertbus', 'source', START, 6, [3])
})

after(async () => {
  await node.stop(1000)
})

describe('listings', () => {
  it('have the wubloader shapes, sorted', async () => {
    assert.deepEqual(await json('/files'), ['desertbus'])
    assert.deepEqual(await json('/files/desertbus'), ['source'])
    assert.deepEqual(await json('/files/desertbus/source'), ['2020-01-01T10'])
    assert.deepEqual(
      await json('/files/desertbus/source/2020-01-01T10'),
      written.map((w) => w.ref.file)
    )
    assert.deepEqual(await json('/files/nobody'), [])
    assert.deepEqual(await json('/files/desertbus/source/2020-01-01T11'), [])
  })
})

describe('media playlists', () => {
  it('are readable by hls-parser, with PDT on every segment and a discontinuity at the hole', async () => {
    const res = await get(`/playlist/desertbus/source.m3u8?start=${at(0)}&end=${at(12)}`)
    assert.equal(res.status, 200)
    assert.match(String(res.headers['content-type']), /mpegurl/)
    const playlist = HLS.parse(res.body.toString()) as HLS.types.MediaPlaylist
    assert.equal(playlist.isMasterPlaylist, false)
    assert.equal(playlist.segments.length, 5)
    assert.equal(playlist.endlist, true, 'a complete range in the past ends the playlist')
    assert.deepEqual(
      playlist.segments.map((s) => s.discontinuity === true),
      [false, false, false, true, false]
    )
    assert.deepEqual(
      playlist.segments.map((s) => s.programDateTime?.getTime()),
      [0, 2, 4, 8, 10].map((s) => START / 1000 + s * 1000)
    )
    assert.deepEqual(
      playlist.segments.map((s) => s.duration),
      [2, 2, 2, 2, 2]
    )
    assert.ok(playlist.targetDuration >= 2)
  })

  it('leave out ENDLIST when the range runs past the data', async () => {
    const res = await get(`/playlist/desertbus/source.m3u8?start=${at(0)}&end=${at(20)}`)
    const playlist = HLS.parse(res.body.toString()) as HLS.types.MediaPlaylist
    assert.equal(playlist.endlist, false)
    assert.equal(playlist.segments.length, 5)
  })

  it('decode end to end in ffprobe to the right number of frames, across the hole', async () => {
    assert.equal(await countFrames(`${base}/playlist/desertbus/source.m3u8?start=${at(0)}&end=${at(6)}`), 180)
    assert.equal(await countFrames(`${base}/playlist/desertbus/source.m3u8?start=${at(0)}&end=${at(12)}`), 300)
  })

  it('let ffmpeg copy a range into one file of the right duration', async () => {
    const dir = await tempDirFor('segmesh-http-out-')
    const out = `${dir}/out.ts`
    await run('ffmpeg', ['-v', 'error', '-i', `${base}/playlist/desertbus/source.m3u8?start=${at(0)}&end=${at(6)}`, '-c', 'copy', out])
    const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', out])
    assert.ok(Math.abs(Number(stdout) - 6) < 0.1, `duration ${stdout}`)
  })

  it('serve an open range from the first hour, and stream long ones', async () => {
    const res = await get('/playlist/desertbus/source.m3u8')
    assert.equal(res.status, 200)
    assert.equal((HLS.parse(res.body.toString()) as HLS.types.MediaPlaylist).segments.length, 5)
  })
})

describe('master playlist', () => {
  it('offers one variant per quality and passes the range on', async () => {
    const res = await get(`/playlist/desertbus.m3u8?start=${at(0)}`)
    assert.equal(res.status, 200)
    const master = HLS.parse(res.body.toString()) as HLS.types.MasterPlaylist
    assert.equal(master.isMasterPlaylist, true)
    assert.equal(master.variants.length, 1)
    assert.equal(master.variants[0]!.uri, `/playlist/desertbus/source.m3u8?start=${encodeURIComponent(at(0))}`)
    assert.equal((await get('/playlist/desertbus.m3u8?start=2021-01-01T00:00:00Z')).status, 404)
  })
})

describe('segments', () => {
  it('serve the stored bytes with length, strong ETag and immutable caching', async () => {
    const w = written[0]!
    const res = await get(segmentPath(w))
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-type'], 'video/mp2t')
    assert.equal(Number(res.headers['content-length']), w.size)
    assert.equal(createHash('sha256').update(res.body).digest('base64url'), w.ref.hash!.toString('base64url'))
    assert.equal(res.headers.etag, `"${w.ref.hash!.toString('base64url')}"`)
    assert.match(String(res.headers['cache-control']), /immutable/)
    const again = await get(segmentPath(w), { 'if-none-match': String(res.headers.etag) })
    assert.equal(again.status, 304)
    assert.equal(again.body.length, 0)
    const head = await request(`${base}${segmentPath(w)}`, { method: 'HEAD' })
    assert.equal(head.statusCode, 200)
    assert.equal(Number(head.headers['content-length']), w.size)
    await head.body.dump()
  })

  it('answer byte ranges', async () => {
    const w = written[1]!
    const whole = (await get(segmentPath(w))).body
    const mid = await get(segmentPath(w), { range: 'bytes=100-1099' })
    assert.equal(mid.status, 206)
    assert.equal(mid.headers['content-range'], `bytes 100-1099/${w.size}`)
    assert.deepEqual(mid.body, whole.subarray(100, 1100))
    const tail = await get(segmentPath(w), { range: 'bytes=-188' })
    assert.deepEqual(tail.body, whole.subarray(w.size - 188))
    const open = await get(segmentPath(w), { range: `bytes=${w.size - 10}-` })
    assert.deepEqual(open.body, whole.subarray(w.size - 10))
    const wrongValidator = await get(segmentPath(w), { range: 'bytes=0-9', 'if-range': '"other"' })
    assert.equal(wrongValidator.status, 200)
    const beyond = await get(segmentPath(w), { range: `bytes=${w.size}-` })
    assert.equal(beyond.status, 416)
    assert.equal(beyond.headers['content-range'], `bytes */${w.size}`)
  })

  it('are hidden everywhere by a tombstone', async () => {
    const w = written[4]!
    assert.equal((await get(segmentPath(w))).status, 200)
    await node.store.writeTombstone(w.ref)
    const res = await get(segmentPath(w))
    assert.equal(res.status, 404)
    assert.match(JSON.parse(res.body.toString()).message, /tombstoned/)
    const listing = (await json('/files/desertbus/source/2020-01-01T10')) as string[]
    assert.ok(!listing.includes(w.ref.file))
    const withTombstones = (await json('/files/desertbus/source/2020-01-01T10?tombstones=true')) as string[]
    assert.ok(withTombstones.includes(w.ref.file.replace(/\.ts$/, '.tombstone')))
    const playlist = HLS.parse(
      (await get(`/playlist/desertbus/source.m3u8?start=${at(0)}&end=${at(12)}`)).body.toString()
    ) as HLS.types.MediaPlaylist
    assert.ok(!playlist.segments.some((s) => s.uri.includes(encodeURIComponent(w.ref.file))))
  })
})

describe('bad input', () => {
  it('gets the exact status and a JSON message, never a file outside the data folder', async () => {
    const good = written[0]!
    const hour = good.ref.hour
    const file = encodeURIComponent(good.ref.file)
    const missing = encodeURIComponent(good.ref.file.replace(/^00:00/, '00:01'))
    const temp = encodeURIComponent('00:00.000000-2.0-temp-0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts')
    const cases: Array<[string, number, string?]> = [
      ['/files/..%2F..%2Fetc', 400, 'channel'],
      ['/files/.hidden', 400, 'channel'],
      ['/files/..', 400, 'channel'],
      ['/files/a%5Cb', 400, 'channel'],
      ['/files/a%00b', 400, 'channel'],
      ['/files/desertbus/source/notanhour', 400, 'hour'],
      ['/files/desertbus/source/2020-13-01T00', 400, 'hour'],
      ['/files/desertbus/source/2020-01-01T00%2F..', 400, 'hour'],
      [`/files/desertbus/source/${hour}?tombstones=maybe`, 400, 'tombstones'],
      [`/segments/desertbus/source/${hour}/..%2F..%2F..%2Fetc%2Fpasswd`, 400, 'file'],
      [`/segments/desertbus/source/${hour}/passwd`, 400, 'file'],
      [`/segments/desertbus/source/..%5C..%5Cindex/${file}`, 400, 'hour'],
      [`/segments/desertbus/source/../${file}`, 400, 'hour'],
      [`/segments/..%2Fx/source/${hour}/${file}`, 400, 'channel'],
      [`/segments/desertbus/.source/${hour}/${file}`, 400, 'quality'],
      [`/segments/desertbus/source/${hour}/${missing}`, 404],
      [`/segments/desertbus/source/${hour}/${temp}`, 404],
      [`/segments/desertbus/source/${hour}/${encodeURIComponent(good.ref.file.replace(/.{5}\.ts$/, '!!!!!.ts'))}`, 400, 'file'],
      [`/segments/desertbus/source/${hour}/${'A'.repeat(250)}.ts`, 414],
      [`/segments/desertbus/source/${hour}`, 404],
      [`/segments/desertbus/source/${hour}/${file}/extra`, 404],
      ['/playlist/desertbus/source.m3u8?start=yesterday', 400, 'start'],
      ['/playlist/desertbus/source.m3u8?start=2020-01-01T10:00:00+01:00', 400, 'start'],
      ['/playlist/desertbus/source.m3u8?end=2020-01-01T25:00:00Z', 400, 'end'],
      [`/playlist/desertbus/source.m3u8?start=${at(10)}&end=${at(0)}`, 400, 'end'],
      [`/playlist/desertbus/source.m3u8?start=${at(10)}&end=${at(10)}`, 400, 'end'],
      ['/playlist/nobody/source.m3u8', 404],
      ['/playlist/desertbus/720p.m3u8', 404],
      ['/playlist/desertbus/source.m3u8?start=1999-01-01T00:00:00Z&end=1999-01-01T01:00:00Z', 404],
      ['/playlist/desertbus/source.m3u8?start=2019-12-31T00:00:00Z', 400, '12 hours'],
      ['/playlist/nobody.m3u8', 404],
      ['/playlist/.hidden.m3u8', 400, 'channel'],
      ['/nope', 404],
      ['/files/a/b/c/d', 404],
      ['/replication/ranges?channel=desertbus&quality=source&from=0', 400, 'to'],
      ['/replication/ranges?channel=..&quality=source&from=0&to=3600000000', 400, 'channel'],
      // Neither whole hours nor inside one hour: it would be summed name by name across hours.
      [`/replication/ranges?channel=desertbus&quality=source&from=1&to=${3600000000 * 5}`, 400, 'to'],
      ['/replication/ranges?channel=desertbus&quality=source&from=3600000000&to=0', 400, 'to'],
      ['/replication/names?channel=desertbus&quality=source&from=5&to=5', 400, 'to'],
      ['/replication/names?channel=desertbus&quality=source&from=x&to=5', 400, 'from']
    ]
    for (const [path, status, mention] of cases) {
      const res = await get(path)
      assert.equal(res.status, status, `${path} → ${res.status} ${res.body}`)
      const body = JSON.parse(res.body.toString())
      assert.equal(typeof body.error, 'string', path)
      assert.equal(typeof body.message, 'string', path)
      if (mention != null) assert.ok(body.message.includes(mention), `${path}: ${body.message} should mention ${mention}`)
    }
    const post = await request(`${base}/files`, { method: 'POST' })
    assert.equal(post.statusCode, 404)
    await post.body.dump()
  })
})

describe('range repair API', () => {
  it('splits a range as the peer does, sums each part, and lists a small one as HOUR/FILE with tombstones', async () => {
    const hour = START - (START % 3_600_000_000)
    const q = 'channel=desertbus&quality=source'
    const day = (await json(`/replication/ranges?${q}&from=${hour - 23 * 3_600_000_000}&to=${hour + 3_600_000_000}`)) as {
      parts: Array<[string, number]>
    }
    assert.equal(day.parts.length, 24, 'a day splits into its hours')
    assert.equal(day.parts.at(-1)![1], written.length, 'the last hour holds every segment written')
    assert.ok(day.parts.slice(0, -1).every(([fp, n]) => fp === '' && n === 0))
    const inHour = (await json(`/replication/ranges?${q}&from=${hour}&to=${hour + 3_600_000_000}`)) as { parts: Array<[string, number]> }
    assert.equal(inHour.parts.length, 16)
    assert.equal(
      inHour.parts.reduce((n, [, c]) => n + c, 0),
      written.length
    )
    // One segment was tombstoned above: it is listed as a tombstone, not as a segment.
    const names = (await json(`/replication/names?${q}&from=${hour}&to=${hour + 3_600_000_000}`)) as {
      segments: string[]
      tombstones: Array<{ segment: string }>
    }
    assert.equal(names.tombstones.length, 1)
    assert.deepEqual([...names.segments, names.tombstones[0]!.segment].sort(), written.map((w) => `${w.ref.hour}/${w.ref.file}`).sort())
    // A range of everything is answered from the hours table, not name by name, and a huge
    // listing is refused after reading one name past the limit.
    const all = (await json(`/replication/ranges?${q}&from=0&to=${3_600_000_000 * 500_000}`)) as { parts: Array<[string, number]> }
    assert.equal(
      all.parts.reduce((n, [, c]) => n + c, 0),
      written.length
    )
  })
})

describe('status, health and metrics', () => {
  it('report the node and what it holds', async () => {
    assert.deepEqual(await json('/healthz'), { ok: true })
    const status = (await json('/status')) as {
      version: string
      channels: Array<{ channel: string; qualities: Array<{ oldest: string; newest: string }> }>
      disk: { freeBytes: number }
      peers: unknown[]
    }
    assert.equal(status.version, '0.1.0')
    assert.equal(status.channels[0]!.channel, 'desertbus')
    assert.equal(status.channels[0]!.qualities[0]!.oldest, at(0))
    // The segment at 10 s was tombstoned above, so the newest visible one ends at 10 s.
    assert.equal(status.channels[0]!.qualities[0]!.newest, at(10))
    assert.ok(status.disk.freeBytes > 0)
    assert.deepEqual(status.peers, [])
  })

  it('label by route template and bounded values only', async () => {
    await get(`/files/desertbus/source/${written[0]!.ref.hour}`)
    await get('/files/some-random-name-123')
    const res = await get('/metrics')
    assert.equal(res.status, 200)
    const text = res.body.toString()
    assert.match(text, /http_request_duration_seconds_count\{route="\/files\/:channel\/:quality\/:hour",method="GET",status_class="2xx"\}/)
    assert.match(text, /http_response_bytes_total\{route="\/segments\/:channel\/:quality\/:hour\/:file"/)
    assert.match(text, /segmesh_index_segments\{channel="desertbus",quality="source"\} 4/)
    assert.match(text, /segmesh_index_tombstones\{channel="desertbus",quality="source"\} 1/)
    assert.match(text, /segmesh_coverage_covered_seconds\{channel="desertbus",quality="source",hours_ago="0"\}/)
    assert.match(text, /process_resident_memory_bytes/)
    assert.doesNotMatch(text, /some-random-name|2020-01-01T10|00:00\.000000/, 'no raw path or hour in any label')
  })
})
