import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import HLS from 'hls-parser'
import { type SegSpec, T0, openStore, ref } from '../test/helpers/tree.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import { formatDuration } from '../storage/segment-name.ts'
import { formatInstant } from '../storage/time.ts'
import { type MediaPlan, planMediaPlaylist } from './playlist.ts'
import { MediaPlaylistWriter } from './playlist-cache.ts'

const HOUR_MS = 3_600_000

/** Three hours of 2 s segments: one missing in hour 0, a suspect one in hour 1, a full and a partial copy at one start in hour 2. */
function specs(): SegSpec[] {
  const out: SegSpec[] = []
  for (let at = 0; at < 3 * HOUR_MS; at += 2000) {
    if (at === 600_000) continue
    out.push({ at, dur: 2000, type: at === HOUR_MS + 1_000_000 ? 'suspect' : 'full' })
  }
  out.push({ at: 2 * HOUR_MS + 10_000, dur: 2000, type: 'partial', seed: 'copy' })
  return out
}

async function setup(t: TestContext): Promise<{ index: SegmentIndex; selector: SegmentSelector; writer: MediaPlaylistWriter }> {
  const { index } = await openStore(t)
  await index.apply(specs().map((s) => ({ op: 'put-segment' as const, ref: ref(s), size: 1000, mtimeMs: 1 })))
  const selector = new SegmentSelector(index)
  return { index, selector, writer: new MediaPlaylistWriter(selector) }
}

/** The playlist written the plain way, one segment at a time, as the oracle. */
function expected(plan: MediaPlan): string {
  let out = `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:${plan.targetDuration}\n#EXT-X-MEDIA-SEQUENCE:0\n`
  for (const e of plan.entries) {
    if (e == null) out += '#EXT-X-DISCONTINUITY\n'
    else
      out += `#EXT-X-PROGRAM-DATE-TIME:${formatInstant(e.start)}\n#EXTINF:${formatDuration(e.duration)},\n/segments/${e.channel}/${e.quality}/${e.hour}/${encodeURIComponent(e.file)}\n`
  }
  return plan.endlist ? `${out}#EXT-X-ENDLIST\n` : out
}

async function plan(selector: SegmentSelector, fromMs: number, toMs: number): Promise<MediaPlan> {
  const end = T0 + toMs * 1000
  return planMediaPlaylist(await selector.select('c', 'q', T0 + fromMs * 1000, end, { allowHoles: true }), end, Date.now() * 1000)
}

const text = (writer: MediaPlaylistWriter, p: MediaPlan): string => Buffer.concat([...writer.chunks(p)]).toString()

describe('media playlists from cached hour texts', () => {
  it('match the one-segment-at-a-time writing for whole hours, partial hours and across holes', async (t) => {
    const { selector, writer } = await setup(t)
    const ranges: Array<[number, number]> = [
      [0, 3 * HOUR_MS],
      [599_000, 601_000],
      [HOUR_MS - 3000, HOUR_MS + 1_003_000],
      [2 * HOUR_MS + 9000, 2 * HOUR_MS + 13_000],
      [1000, 5000]
    ]
    for (const [from, to] of ranges) {
      const p = await plan(selector, from, to)
      const body = text(writer, p)
      assert.equal(body, expected(p), `[${from}, ${to})`)
      const parsed = HLS.parse(body) as HLS.types.MediaPlaylist
      assert.equal(parsed.segments.length, p.segments)
    }
    const whole = HLS.parse(text(writer, await plan(selector, 0, 3 * HOUR_MS))) as HLS.types.MediaPlaylist
    assert.equal(whole.segments.length, 3 * 1800 - 1)
    assert.equal(whole.segments.filter((s) => s.discontinuity === true).length, 2, 'the missing segment and the one after the suspect one')
    assert.ok(!whole.segments.some((s) => s.uri.includes('partial')), 'the full copy wins')
    assert.equal(whole.endlist, true)
  })

  it('write names with fewer fractional digits (and channel names that need escaping) the same way', async (t) => {
    const { index } = await openStore(t)
    const changes = [0, 2, 4].map((s) => {
      const canonical = ref({ at: s * 1000 + 50, dur: 2000, channel: 'c.2', quality: 'q-x' })
      // 00:00.050000-… as 00:00.05-…: the grammar allows it, and peers may name files so.
      return {
        op: 'put-segment' as const,
        ref: { ...canonical, file: canonical.file.replace(/^(\d\d:\d\d\.05)0000-/, '$1-') },
        size: 1000,
        mtimeMs: 1
      }
    })
    assert.ok(changes.every((c) => /^\d\d:\d\d\.05-/.test(c.ref.file)))
    await index.apply(changes)
    const selector = new SegmentSelector(index)
    const end = T0 + 6_050_000
    const p = planMediaPlaylist(await selector.select('c.2', 'q-x', T0 + 50_000, end, { allowHoles: true }), end, Date.now() * 1000)
    assert.equal(p.segments, 3)
    assert.equal(text(new MediaPlaylistWriter(selector), p), expected(p))
  })

  it('write each hour once, and after a tombstone or a new segment only that hour again', async (t) => {
    const { index, selector, writer } = await setup(t)
    const all = async (): Promise<MediaPlan> => await plan(selector, 0, 3 * HOUR_MS + 10_000)
    let p = await all()
    assert.equal(text(writer, p), expected(p))
    // The hour before the range is read too, and is empty: three hours with segments were written.
    assert.equal(writer.hoursRendered, 3)
    p = await all()
    assert.equal(text(writer, p), expected(p))
    assert.equal(writer.hoursRendered, 3, 'nothing written again while no hour changed')

    const victim = ref({ at: HOUR_MS + 20_000, dur: 2000 })
    await index.apply([{ op: 'put-tombstone', channel: 'c', quality: 'q', start: victim.start, segment: victim.file, mtimeMs: 1 }])
    p = await all()
    const body = text(writer, p)
    assert.equal(body, expected(p))
    assert.ok(!body.includes(encodeURIComponent(victim.file)), 'a tombstoned segment leaves the playlist at once')
    assert.equal(writer.hoursRendered, 4, 'only the tombstoned hour was written again')

    const added = ref({ at: 3 * HOUR_MS, dur: 2000 })
    await index.apply([{ op: 'put-segment', ref: added, size: 1000, mtimeMs: 1 }])
    p = await all()
    assert.ok(text(writer, p).includes(encodeURIComponent(added.file)))
    assert.equal(text(writer, p), expected(p))
    assert.equal(writer.hoursRendered, 5, 'only the new hour was written')
  })

  it('write a plan made before its hour changed as it was planned', async (t) => {
    const { index, selector, writer } = await setup(t)
    const before = await plan(selector, HOUR_MS, HOUR_MS + 60_000)
    await index.apply([{ op: 'put-segment', ref: ref({ at: HOUR_MS + 30_500, dur: 2000, seed: 'late' }), size: 1000, mtimeMs: 1 }])
    assert.equal(text(writer, before), expected(before))
  })

  it('send a long body in a few large chunks, not one per segment or hole', async (t) => {
    const { selector, writer } = await setup(t)
    const p = await plan(selector, 0, 3 * HOUR_MS)
    const chunks = [...writer.chunks(p)]
    assert.ok(chunks.length <= 8, `${chunks.length} chunks`)
    assert.equal(Buffer.concat(chunks).length, Buffer.byteLength(expected(p)))
  })

  it('keep the rendered hours within their count and bytes, however many hours are asked for', async (t) => {
    const { selector } = await setup(t)
    // One hour of 2 s segments renders to ~350 KB: a budget of two such hours, and at most two hours.
    const byBytes = new MediaPlaylistWriter(selector, { cacheBytes: 800_000 })
    const byHours = new MediaPlaylistWriter(selector, { cacheHours: 2 })
    for (let round = 0; round < 3; round++) {
      for (const [from, to] of [
        [0, HOUR_MS],
        [HOUR_MS, 2 * HOUR_MS],
        [2 * HOUR_MS, 3 * HOUR_MS]
      ] as const) {
        const p = await plan(selector, from, to)
        for (const writer of [byBytes, byHours]) {
          assert.equal(text(writer, p), expected(p))
          const usage = writer.cacheUsage
          assert.ok(usage.hours <= usage.maxHours && usage.bytes <= usage.maxBytes, JSON.stringify(usage))
        }
      }
    }
    assert.ok(byBytes.cacheUsage.bytes > 300_000, 'the cache was used at all')
    // Three hours round-robin through a cache of two: every request writes its hour again.
    assert.equal(byHours.hoursRendered, 9)
  })
})
