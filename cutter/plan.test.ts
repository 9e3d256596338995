import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HOLE, type Selection } from '../storage/best-segments.ts'
import type { IndexedSegment } from '../storage/segment-index.ts'
import { type Run, runsOf } from './plan.ts'

/** Total µs a cut of these runs lasts. */
const runsDuration = (runs: readonly Run[]): number => runs.reduce((sum, r) => sum + r.end - r.start, 0)

const S = 1_000_000

function seg(start: number, duration = 2): IndexedSegment {
  return {
    channel: 'c',
    quality: 'q',
    hour: '2020-01-01T00',
    file: `${start}.ts`,
    start: start * S,
    duration: duration * S,
    type: 'full',
    size: 1,
    mtimeMs: 0,
    tombstoned: false
  }
}

const spans = (selection: Selection, start: number, end: number): Array<[number, number, number]> =>
  runsOf(selection, { start: start * S, end: end * S }).map((r) => [r.start / S, r.end / S, r.segments.length])

describe('runsOf', () => {
  it('keeps one run for contiguous data, clipped to the range', () => {
    assert.deepEqual(spans([seg(0), seg(2), seg(4)], 1.5, 5), [[1.5, 5, 3]])
  })

  it('splits at holes; leading and trailing holes start and end runs at the data', () => {
    assert.deepEqual(spans([HOLE, seg(2), seg(4), HOLE, seg(8), HOLE], 1, 11), [
      [2, 6, 2],
      [8, 10, 1]
    ])
  })

  it('has no run for a selection without segments', () => {
    assert.deepEqual(spans([HOLE], 0, 10), [])
    assert.equal(runsDuration(runsOf([HOLE], { start: 0, end: S })), 0)
  })

  it('adds up the kept durations', () => {
    assert.equal(runsDuration(runsOf([seg(0), HOLE, seg(4)], { start: S, end: 5 * S })), 2 * S)
  })
})
