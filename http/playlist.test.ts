import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { openStore, ref } from '../test/helpers/tree.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import { LIVE_EDGE, type MediaPlan, planMediaPlaylist } from './playlist.ts'

/** A live stream: 2 s segments from 10 min ago up to `now`, on a 2 s grid. */
const NOW = Math.floor(Date.now() / 2000) * 2000 * 1000
const BASE = NOW - 600 * 1_000_000

async function live(t: TestContext, missingSeconds: number[]): Promise<{ index: SegmentIndex; selector: SegmentSelector }> {
  const { index } = await openStore(t)
  const changes = []
  for (let at = 0; at < 600; at += 2) {
    if (!missingSeconds.includes(at))
      changes.push({ op: 'put-segment' as const, ref: ref({ at: at * 1000, dur: 2000, base: BASE }), size: 1000, mtimeMs: 1 })
  }
  await index.apply(changes)
  return { index, selector: new SegmentSelector(index) }
}

async function plan(selector: SegmentSelector, now: number): Promise<MediaPlan> {
  // As the route does for an open range: up to an hour past the data.
  const end = now + 3_600_000_000
  return planMediaPlaylist(await selector.select('c', 'q', BASE, end, { allowHoles: true }), end, now)
}

const starts = (p: MediaPlan): Array<number | null> => p.entries.map((e) => (e == null ? null : (e.start - BASE) / 1_000_000))

describe('live media playlists', () => {
  it('stop before a hole near the live edge, and only ever grow at the end once it fills', async (t) => {
    // A hole 10 s before now: an out-of-order download may still fill it.
    assert.ok(10 * 1_000_000 < LIVE_EDGE)
    const { index, selector } = await live(t, [590])
    const before = await plan(selector, NOW)
    assert.equal(before.endlist, false)
    assert.deepEqual(starts(before).at(-1), 588, 'the list stops before the hole')
    assert.ok(!before.entries.includes(null))

    await index.apply([{ op: 'put-segment', ref: ref({ at: 590_000, dur: 2000, base: BASE }), size: 1000, mtimeMs: 1 }])
    const after = await plan(selector, NOW + 2_000_000)
    assert.deepEqual(starts(after).slice(0, before.entries.length), starts(before), 'a reload keeps every line it had')
    assert.equal(starts(after).at(-1), 598)
    assert.equal(after.endlist, false, 'the range runs into the future')
  })

  it('keep a discontinuity for a hole older than the live edge, and nothing before the first segment', async (t) => {
    const { selector } = await live(t, [0, 2, 300])
    const p = await plan(selector, NOW)
    assert.equal(starts(p)[0], 4, 'a leading hole is dropped')
    const hole = p.entries.indexOf(null)
    assert.deepEqual(starts(p).slice(hole - 1, hole + 2), [298, null, 302])
    assert.equal(starts(p).at(-1), 598)
    assert.equal(p.endlist, false)
  })

  it('end (ENDLIST) only when the range is covered and over', async (t) => {
    const { selector } = await live(t, [])
    const end = BASE + 60 * 1_000_000
    const past = planMediaPlaylist(await selector.select('c', 'q', BASE, end, { allowHoles: true }), end, NOW)
    assert.equal(past.endlist, true)
    assert.equal(past.segments, 30)
    assert.equal(past.targetDuration, 2)
    const open = await plan(selector, NOW)
    assert.equal(open.endlist, false)
    assert.equal(open.segments, 300)
  })
})
