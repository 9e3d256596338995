/**
 * The recorder against a live HLS origin on 127.0.0.1 serving real ffmpeg segments: bytes, names
 * and types of what it stores, and what each injected fault turns into.
 */
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { Recorder } from '../ingest/recorder.ts'
import type { IngestOptions } from '../ingest/constants.ts'
import type { IndexedSegment } from '../storage/segment-index.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { parseSegmentFileName } from '../storage/segment-name.ts'
import { HlsOrigin } from './helpers/hls-origin.ts'
import { until } from './helpers/network.ts'
import { type OpenedStore, openStore } from './helpers/tree.ts'

/** Test timing: quick polls and retries; the suspect threshold far above a local fetch, even on a loaded machine. */
const FAST: Partial<IngestOptions> = {
  pollMs: 50,
  retryDelayMs: 50,
  notFoundDelayMs: 50,
  suspectMs: 30_000,
  giveUpMs: 10_000,
  stopGraceMs: 2_000,
  readTimeoutMs: 5_000,
  attemptTimeoutMs: 10_000,
  playlistTimeoutMs: 5_000
}

interface Setup extends OpenedStore {
  recorder: Recorder
}

async function record(
  t: TestContext,
  url: string,
  options: { qualities?: string[]; ingest?: Partial<IngestOptions>; paused?: () => boolean } = {}
): Promise<Setup> {
  // After hooks run in the order they were added: the recorder stops before the index closes.
  let recorder: Recorder | null = null
  t.after(async () => await recorder?.stop())
  const opened = await openStore(t)
  recorder = new Recorder({
    channels: [{ channel: 'live', url, qualities: options.qualities ?? ['source'], important: false }],
    store: opened.store,
    options: { ...FAST, ...options.ingest },
    paused: options.paused
  })
  recorder.start()
  return { ...opened, recorder }
}

function stored(s: Setup, quality = 'source'): IndexedSegment[] {
  return s.index.segmentsStartingIn('live', quality, 0, Number.MAX_SAFE_INTEGER)
}

async function bytesOf(s: Setup, seg: IndexedSegment): Promise<Buffer> {
  return await readFile(s.store.pathOf(seg))
}

/** Every stored file's name carries the sha256 of its bytes. */
async function assertHashes(s: Setup, segs: IndexedSegment[]): Promise<void> {
  for (const seg of segs) {
    const parsed = parseSegmentFileName(seg.file)
    assert.ok(parsed.ok)
    assert.deepEqual(parsed.value.hash, sha256(await bytesOf(s, seg)), seg.file)
  }
}

describe('recorder against a live HLS origin', () => {
  it('records both variants of a master playlist byte for byte, named by PROGRAM-DATE-TIME and EXTINF', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 6, window: 3 })
    const s = await record(t, origin.masterUrl, { qualities: ['source', 'low'] })
    await until('the first window in both qualities', () => stored(s).length === 3 && stored(s, 'low').length === 3)
    origin.advance(3)
    // The recorder counts a segment once its store call returns, a moment after the index has it.
    await until(
      'the whole stream',
      () => stored(s).length === 6 && stored(s, 'low').length === 6 && s.recorder.status()[0]?.recorded.full === 6
    )
    for (const quality of ['source', 'low']) {
      const segs = stored(s, quality)
      for (const [i, seg] of segs.entries()) {
        assert.equal(seg.start, origin.segments[i]!.start, `start of ${i}`)
        assert.equal(seg.duration, 2_000_000)
        assert.equal(seg.type, 'full')
        assert.match(seg.file, /^\d\d:\d\d\.123456-2\.0-full-/)
        assert.ok((await bytesOf(s, seg)).equals(origin.segments[i]!.bytes), `bytes of ${quality} ${i}`)
      }
      await assertHashes(s, segs)
    }
    const [status] = s.recorder.status()
    assert.equal(status!.state, 'up')
    assert.equal(status!.recorded.full, 6)
    assert.match(status!.mediaUrl!, /\/source\/index\.m3u8$/)
    const metrics = await s.recorder.registry.metrics()
    assert.match(metrics, /segmesh_ingest_segments_total\{channel="live",quality="source",type="full"\} 6/)
    assert.match(metrics, /segmesh_ingest_stream_up\{channel="live",quality="low"\} 1/)
    assert.match(metrics, /segmesh_ingest_stream_delay_seconds\{channel="live",quality="source"\} \d/)
  })

  it('records a media playlist URL as the first quality only', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 2, window: 2 })
    const s = await record(t, origin.mediaUrl(), { qualities: ['source', 'low'] })
    await until('the stream as source, and an error for low', () => stored(s).length === 2 && s.recorder.status()[1]!.lastError != null)
    assert.equal(stored(s, 'low').length, 0)
    assert.match(s.recorder.status()[1]!.lastError!, /media playlist, recorded as 'source' only; a master playlist is needed for 'low'/)
    assert.equal(s.recorder.status()[1]!.state, 'down')
  })

  it('keeps a slow download as suspect', async (t) => {
    // Scaled time: 1.5 s stands for 59 s. The slow body takes 4 s; a normal one a few ms.
    const origin = await HlsOrigin.start(t, { count: 3, window: 3, slow: { 1: 4_000 } })
    const s = await record(t, origin.mediaUrl(), { ingest: { suspectMs: 1_500 } })
    await until('three segments', () => stored(s).length === 3)
    assert.deepEqual(
      stored(s).map((seg) => seg.type),
      ['full', 'suspect', 'full']
    )
    assert.ok((await bytesOf(s, stored(s)[1]!)).equals(origin.segments[1]!.bytes))
    await assertHashes(s, stored(s))
  })

  it('keeps a body cut mid-way as partial, then retries with a fresh pool until it has it full', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 3, window: 3, cut: { 1: 1 } })
    const s = await record(t, origin.mediaUrl())
    await until('a full copy of the cut segment', () => stored(s).filter((seg) => seg.type === 'full').length === 3)
    const second = stored(s).filter((seg) => seg.start === origin.segments[1]!.start)
    assert.deepEqual(second.map((seg) => seg.type).sort(), ['full', 'partial'])
    const partial = await bytesOf(s, second.find((seg) => seg.type === 'partial')!)
    const full = await bytesOf(s, second.find((seg) => seg.type === 'full')!)
    assert.ok(partial.length > 0 && partial.length < full.length)
    assert.ok(full.subarray(0, partial.length).equals(partial), 'a partial holds the first bytes')
    assert.ok(full.equals(origin.segments[1]!.bytes))
    assert.equal(origin.requests.get('/source/seg1.ts'), 2)
    await assertHashes(s, stored(s))
    assert.match(
      await s.recorder.registry.metrics(),
      /segmesh_ingest_download_errors_total\{channel="live",quality="source",kind="cut"\} 1/
    )
  })

  it('skips a segment whose full copy is already indexed, even tombstoned', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 3, window: 3 })
    let recorder: Recorder | null = null
    t.after(async () => await recorder?.stop())
    const opened = await openStore(t)
    const have = (i: number) => ({
      channel: 'live',
      quality: 'source',
      start: origin.segments[i]!.start,
      duration: 2_000_000,
      type: 'full' as const
    })
    // A peer's copy with other bytes (another encode) counts: a full copy is a full copy.
    await opened.store.recordSegment(have(1), Buffer.from('from a peer'))
    const deleted = await opened.store.recordSegment(have(2), Buffer.from('deleted by an admin'))
    await opened.store.writeTombstone(deleted.ref)
    const rec = (recorder = new Recorder({
      channels: [{ channel: 'live', url: origin.mediaUrl(), qualities: ['source'], important: false }],
      store: opened.store,
      options: FAST
    }))
    rec.start()
    await until('three entries handled', () => rec.status()[0]!.recorded.full + rec.status()[0]!.recorded.exists === 3)
    assert.equal(rec.status()[0]!.recorded.exists, 2)
    assert.equal(origin.requests.get('/source/seg1.ts'), undefined)
    assert.equal(origin.requests.get('/source/seg2.ts'), undefined)
  })

  it('downloads nothing while writes are paused (disk full), and catches up after', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 3, window: 3 })
    let full = true
    let checks = 0
    const s = await record(t, origin.mediaUrl(), {
      paused: () => {
        checks++
        return full
      }
    })
    // The worker holds its new entries back, looking again every poll period.
    await until('the worker waiting on the pause', () => checks >= 5)
    assert.equal([...origin.requests.keys()].filter((p) => p.endsWith('.ts')).length, 0)
    full = false
    await until('the window recorded', () => stored(s).length === 3)
    assert.ok(stored(s).every((seg) => seg.type === 'full'))
  })

  for (const times of [1, 2]) {
    it(`records whole, as full, a listed segment that answers 404 ${times === 1 ? 'once' : 'twice'} (a CDN edge behind its origin)`, async (t) => {
      const origin = await HlsOrigin.start(t, { count: 3, window: 3, notFound: { 1: times } })
      const s = await record(t, origin.mediaUrl())
      await until('the three segments, full', () => stored(s).length === 3 && s.recorder.status()[0]!.recorded.full === 3)
      assert.ok(stored(s).every((seg) => seg.type === 'full'))
      assert.ok((await bytesOf(s, stored(s)[1]!)).equals(origin.segments[1]!.bytes))
      await assertHashes(s, stored(s))
      assert.equal(origin.requests.get('/source/seg1.ts'), times + 1)
      assert.equal(s.recorder.status()[0]!.recorded.gone, 0)
    })
  }

  it('gives up a segment that 404s until it leaves the playlist, without holding the others back', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 5, window: 3, missing: [1] })
    // Retries enough to outlast the window: only the playlist dropping the entry ends them.
    const s = await record(t, origin.mediaUrl(), { ingest: { notFoundRetries: 1_000 } })
    await until(
      'the others recorded while the missing one is retried',
      () => stored(s).length === 2 && (origin.requests.get('/source/seg1.ts') ?? 0) >= 3
    )
    assert.equal(s.recorder.status()[0]!.recorded.gone, 0, 'still listed: not given up')
    origin.advance(2)
    await until('given up once the playlist dropped it', () => s.recorder.status()[0]!.recorded.gone === 1 && stored(s).length === 4)
    const asked = origin.requests.get('/source/seg1.ts')!
    const polls = origin.requests.get('/source/index.m3u8')!
    await until('a few more polls', () => origin.requests.get('/source/index.m3u8')! >= polls + 3)
    assert.equal(origin.requests.get('/source/seg1.ts'), asked, 'not asked again')
    assert.deepEqual(
      stored(s).map((seg) => seg.start),
      [0, 2, 3, 4].map((i) => origin.segments[i]!.start)
    )
    assert.match(
      await s.recorder.registry.metrics(),
      /segmesh_ingest_download_errors_total\{channel="live",quality="source",kind="gone"\} 1/
    )
  })

  it('gives up at once on a 403, and on a 404 past its retries, leaving nothing', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 3, window: 3, forbidden: [1], missing: [2] })
    const s = await record(t, origin.mediaUrl())
    await until('both given up', () => s.recorder.status()[0]!.recorded.gone === 2)
    assert.deepEqual(
      stored(s).map((seg) => seg.start),
      [origin.segments[0]!.start]
    )
    assert.equal(origin.requests.get('/source/seg1.ts'), 1, '403: no retry')
    assert.equal(origin.requests.get('/source/seg2.ts'), 4, '404 while listed: the first attempt and 3 retries')
  })

  for (const style of ['cue', 'daterange'] as const) {
    it(`skips an ad break marked with ${style === 'cue' ? 'CUE-OUT/CUE-IN' : 'an ad-class DATERANGE'}`, async (t) => {
      const origin = await HlsOrigin.start(t, { count: 6, window: 3, ads: { from: 2, to: 4, style } })
      const s = await record(t, origin.mediaUrl())
      await until('the first window', () => stored(s).length === 2 && s.recorder.status()[0]!.recorded.full === 2)
      origin.advance(3)
      await until('the end of the break', () => stored(s).length === 4)
      assert.deepEqual(
        stored(s).map((seg) => seg.start),
        [0, 1, 4, 5].map((i) => origin.segments[i]!.start)
      )
      assert.equal(origin.requests.get('/source/seg2.ts'), undefined)
      assert.equal(origin.requests.get('/source/seg3.ts'), undefined)
      assert.match(await s.recorder.registry.metrics(), /segmesh_ingest_ad_segments_total\{channel="live",quality="source"\} 2/)
    })
  }

  it('is up only after its first non-ad segment', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 6, window: 2, initial: 2, ads: { from: 0, to: 3, style: 'cue' } })
    const s = await record(t, origin.mediaUrl())
    await until('a few polls', () => (origin.requests.get('/source/index.m3u8') ?? 0) >= 3)
    assert.equal(s.recorder.status()[0]!.state, 'starting')
    origin.advance(2)
    await until('the first content segment', () => stored(s).length === 1)
    assert.equal(s.recorder.status()[0]!.state, 'up')
  })

  it('places entries without dates by their durations, the newest ending about now', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 5, window: 3, dates: 'none', extinf: '2.002' })
    const before = Date.now() * 1000
    const s = await record(t, origin.mediaUrl())
    await until('three segments', () => stored(s).length === 3)
    origin.advance(2)
    await until('five segments', () => stored(s).length === 5)
    const segs = stored(s)
    for (let i = 1; i < segs.length; i++) assert.equal(segs[i]!.start - segs[i - 1]!.start, 2_002_000)
    assert.ok(segs.every((seg) => seg.duration === 2_002_000 && seg.type === 'full'))
    // The first window's newest entry ends when it was fetched.
    const end = segs[2]!.start + segs[2]!.duration
    assert.ok(end >= before && end <= Date.now() * 1000, 'anchored to the fetch time')
    for (const [i, seg] of segs.entries()) assert.ok((await bytesOf(s, seg)).equals(origin.segments[i]!.bytes))
  })

  it('prepends and hashes the init section (EXT-X-MAP)', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 3, window: 3, init: true })
    const s = await record(t, origin.mediaUrl())
    await until('three segments', () => stored(s).length === 3)
    for (const [i, seg] of stored(s).entries()) assert.ok((await bytesOf(s, seg)).equals(origin.expectedBytes(i)), `init + segment ${i}`)
    await assertHashes(s, stored(s))
    assert.equal(origin.requests.get('/source/init.ts'), 1, 'fetched once, then cached')
  })

  it('fetches only its byte range of a shared resource (EXT-X-BYTERANGE)', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 3, window: 3, byterange: true })
    const s = await record(t, origin.mediaUrl())
    await until('three segments', () => stored(s).length === 3)
    for (const [i, seg] of stored(s).entries()) assert.ok((await bytesOf(s, seg)).equals(origin.segments[i]!.bytes), `range ${i}`)
    assert.equal(origin.requests.get('/source/all.ts'), 3)
  })

  it('keeps segments from a timestamp skew on as suspect', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 4, window: 2, initial: 2, skew: { at: 2, us: 500_000 } })
    const s = await record(t, origin.mediaUrl())
    await until('two segments', () => stored(s).length === 2)
    origin.advance(2)
    await until('four segments', () => stored(s).length === 4)
    assert.deepEqual(
      stored(s).map((seg) => seg.type),
      ['full', 'full', 'suspect', 'suspect']
    )
    assert.equal(stored(s)[2]!.start, origin.segments[2]!.start + 500_000, 'the skewed date is kept as given')
  })

  it('goes down at the end of the stream and does not fetch its segments again', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 3, window: 3, dates: 'none' })
    const s = await record(t, origin.mediaUrl())
    await until('three segments', () => stored(s).length === 3)
    origin.end()
    await until('the worker down', () => s.recorder.status()[0]!.state === 'down')
    const polls = origin.requests.get('/source/index.m3u8')!
    await until('a few more polls', () => origin.requests.get('/source/index.m3u8')! >= polls + 3)
    assert.deepEqual(
      [0, 1, 2].map((i) => origin.requests.get(`/source/seg${i}.ts`)),
      [1, 1, 1]
    )
    assert.equal(stored(s).length, 3)
    assert.match(await s.recorder.registry.metrics(), /segmesh_ingest_stream_up\{channel="live",quality="source"\} 0/)
  })

  it('on stop, cuts a download still running to partial and leaves no temp file', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 2, window: 2, slow: { 1: 60_000 } })
    const s = await record(t, origin.mediaUrl(), { ingest: { stopGraceMs: 200 } })
    await until('the first segment and the slow one started', () => stored(s).length === 1 && origin.requests.get('/source/seg1.ts') === 1)
    await s.recorder.stop()
    const segs = stored(s)
    assert.deepEqual(
      segs.map((seg) => seg.type),
      ['full', 'partial']
    )
    const partial = await bytesOf(s, segs[1]!)
    assert.ok(origin.segments[1]!.bytes.subarray(0, partial.length).equals(partial))
    const hourDir = join(s.segmentsDir, 'live', 'source', segs[0]!.hour)
    assert.deepEqual(
      (await readdir(hourDir)).filter((f) => f.includes('-temp-')),
      []
    )
    assert.equal(s.recorder.status()[0]!.state, 'stopped')
  })
})

describe('recorder config', () => {
  it('refuses channel and quality names that cannot be folders, naming the option', async (t) => {
    const { store } = await openStore(t)
    const make = (channel: string, qualities: string[]): Recorder =>
      new Recorder({ channels: [{ channel, url: 'http://127.0.0.1:1/m.m3u8', qualities, important: false }], store })
    assert.throws(() => make('../etc', ['source']), { code: 'SEGMESH_ERR_CONFIG', key: 'record' })
    assert.throws(() => make('live', ['a/b']), { code: 'SEGMESH_ERR_CONFIG', key: 'qualities' })
    assert.throws(
      () =>
        new Recorder({
          channels: [
            { channel: 'x', url: 'http://h/m', qualities: ['source'], important: false },
            { channel: 'x', url: 'http://h/n', qualities: ['source'], important: false }
          ],
          store
        }),
      { message: /configured twice/ }
    )
    assert.equal(make('live', ['source', 'source']).workers.length, 1, 'a quality named twice is recorded once')
  })
})
