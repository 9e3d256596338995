import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { T0, openStore, ref } from '../test/helpers/tree.ts'
import { SegmentSelector } from './best-segments.ts'
import { hourCoverage } from './coverage.ts'
import { MICROS_PER_HOUR } from './time.ts'

describe('hour coverage', () => {
  it('counts covered time, holes, overlaps and types, with spill-over from the hour before', async (t) => {
    const { index } = await openStore(t)
    const H = 3600_000
    const specs = [
      { at: H - 1000, dur: 3000 }, // covers the first 2 s of the next hour
      { at: H + 2000, dur: 2000 },
      { at: H + 3000, dur: 2000, seed: 'overlap' }, // overlaps the previous by 1 s
      { at: H + 2000, dur: 2000, type: 'partial' as const, seed: 'dup' }, // loses to the full
      { at: H + 10_000, dur: 2000, type: 'suspect' as const } // after a 5 s hole
    ]
    await index.apply(specs.map((s) => ({ op: 'put-segment' as const, ref: ref(s), size: 1, mtimeMs: 1 })))
    await index.apply([
      {
        op: 'put-tombstone',
        channel: 'c',
        quality: 'q',
        start: T0 + MICROS_PER_HOUR + 20_000_000,
        segment: ref({ at: H + 20_000, dur: 2000 }).file,
        mtimeMs: 1
      }
    ])
    const selector = new SegmentSelector(index)
    const c = hourCoverage(index, selector, 'c', 'q', T0 + MICROS_PER_HOUR, T0 + 2 * MICROS_PER_HOUR + 1)
    assert.equal(c.hour, '2020-01-01T01')
    assert.equal(c.span, MICROS_PER_HOUR)
    assert.equal(c.covered, 7_000_000) // [0, 5) + [10, 12)
    assert.equal(c.overlaps, 1)
    assert.equal(c.holes, 2) // [5, 10) and [12, 3600)
    assert.equal(c.holeTime, MICROS_PER_HOUR - c.covered)
    assert.deepEqual(c.types, { full: 2, suspect: 1, partial: 1 })
    assert.equal(c.tombstones, 1)
  })

  it('only counts the live hour up to now', async (t) => {
    const { index } = await openStore(t)
    await index.apply([{ op: 'put-segment', ref: ref({ at: 0, dur: 2000 }), size: 1, mtimeMs: 1 }])
    const c = hourCoverage(index, new SegmentSelector(index), 'c', 'q', T0, T0 + 2_000_000)
    assert.equal(c.span, 2_000_000)
    assert.equal(c.covered, 2_000_000)
    assert.equal(c.holes, 0)
  })
})
