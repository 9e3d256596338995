import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { T0, openStore, ref } from '../test/helpers/tree.ts'
import { SegmentSelector } from './best-segments.ts'
import { CoverageMaps } from './coverage-map.ts'
import { MICROS_PER_HOUR } from './time.ts'

const H = 3600_000
const S = 1_000_000
/** How long before now the live hour's map stops (coverage-map's LIVE_GRACE). */
const LIVE_GRACE = 30 * S

describe('coverage map', () => {
  it('splits an hour into full, partial, tombstoned and hole spans, full winning overlaps', async (t) => {
    const { index } = await openStore(t)
    const specs = [
      { at: H - 1000, dur: 3000 }, // the hour before, running 2 s into this one
      { at: H + 2005, dur: 2000 }, // 5 ms gap: joined, not a hole
      { at: H + 4000, dur: 2000, type: 'suspect' as const },
      { at: H + 7000, dur: 2000, type: 'partial' as const, seed: 'p' }, // its first second is under the long full
      { at: H + 4000, dur: 4000, seed: 'long' }, // full, beats the suspect at the same start
      { at: H + 20_000, dur: 2000 }
    ]
    await index.apply(specs.map((s) => ({ op: 'put-segment' as const, ref: ref(s), size: 1, mtimeMs: 1 })))
    const dead = ref({ at: H + 12_000, dur: 4000, seed: 'dead' })
    await index.apply([{ op: 'put-tombstone', channel: 'c', quality: 'q', start: dead.start, segment: dead.file, mtimeMs: 1 }])
    const [before, hour] = new CoverageMaps(index, new SegmentSelector(index)).get('c', 'q', 24, T0 + 3 * MICROS_PER_HOUR)
    assert.equal(before!.hour, '2020-01-01T00')
    // Before the first data is before recording began, not a hole.
    assert.deepEqual(before!.holes, [])
    assert.deepEqual(before!.full, [[MICROS_PER_HOUR - S, MICROS_PER_HOUR]])
    assert.equal(before!.before, MICROS_PER_HOUR - S, 'recording began 1 s before the end of its first hour')
    assert.equal(hour!.before, 0)
    assert.equal(hour!.hour, '2020-01-01T01')
    assert.equal(hour!.span, MICROS_PER_HOUR)
    assert.deepEqual(hour!.full, [
      [0, 8 * S],
      [20 * S, 22 * S]
    ])
    assert.deepEqual(hour!.partial, [[8 * S, 9 * S]])
    assert.deepEqual(hour!.tombstoned, [[12 * S, 16 * S]])
    assert.deepEqual(hour!.holes, [
      [9 * S, 12 * S],
      [16 * S, 20 * S],
      [22 * S, MICROS_PER_HOUR]
    ])
  })

  it('shows empty hours between data as holes, keeps to the last N hours and stops the live hour before now', async (t) => {
    const { index } = await openStore(t)
    await index.apply([0, 3 * H, 5 * H].map((at) => ({ op: 'put-segment' as const, ref: ref({ at, dur: 2000 }), size: 1, mtimeMs: 1 })))
    const now = T0 + 5 * MICROS_PER_HOUR + 60 * S
    const maps = new CoverageMaps(index, new SegmentSelector(index)).get('c', 'q', 3, now)
    assert.deepEqual(
      maps.map((m) => m.hour),
      ['2020-01-01T03', '2020-01-01T04', '2020-01-01T05']
    )
    assert.deepEqual(maps[1]!.holes, [[0, MICROS_PER_HOUR]])
    const live = maps[2]!
    assert.equal(live.span, 60 * S - LIVE_GRACE)
    assert.deepEqual(live.full, [[0, 2 * S]])
    assert.deepEqual(live.holes, [[2 * S, 60 * S - LIVE_GRACE]])
    assert.deepEqual(new CoverageMaps(index, new SegmentSelector(index)).get('c', 'other', 3, now), [])
  })

  it('keeps the map of a finished hour until that hour or the one before it changes', async (t) => {
    const { index } = await openStore(t)
    await index.apply([{ op: 'put-segment', ref: ref({ at: H + 10_000, dur: 2000 }), size: 1, mtimeMs: 1 }])
    const maps = new CoverageMaps(index, new SegmentSelector(index))
    const now = T0 + 3 * MICROS_PER_HOUR
    const hourOne = (): ReturnType<CoverageMaps['get']>[number] => maps.get('c', 'q', 24, now).at(-1)!
    const first = hourOne()
    assert.equal(hourOne(), first)
    // A segment of the hour before that runs 1 s into this one.
    await index.apply([{ op: 'put-segment', ref: ref({ at: H - 1000, dur: 2000 }), size: 1, mtimeMs: 1 }])
    const second = hourOne()
    assert.deepEqual(second.full, [
      [0, S],
      [10 * S, 12 * S]
    ])
    const dead = ref({ at: H + 20_000, dur: 2000, seed: 'dead' })
    await index.apply([{ op: 'put-tombstone', channel: 'c', quality: 'q', start: dead.start, segment: dead.file, mtimeMs: 1 }])
    assert.deepEqual(hourOne().tombstoned, [[20 * S, 22 * S]])
    assert.notEqual(hourOne(), second)
  })
})
