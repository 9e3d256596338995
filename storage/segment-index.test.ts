import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { T0, openStore, ref, tempDir } from '../test/helpers/tree.ts'
import { SegmentIndex } from './segment-index.ts'
import { tombstoneFileName } from './segment-name.ts'
import { MICROS_PER_HOUR } from './time.ts'

const H = 3600_000 // one hour in ms, for ref()

describe('segment index', () => {
  it('round-trips channels, qualities, hours and hour listings, sorted', async (t) => {
    const { index } = await openStore(t)
    const refs = [
      ref({ channel: 'zeta', quality: 'source', at: 0, dur: 2000 }),
      ref({ channel: 'alpha', quality: 'source', at: H + 2000, dur: 2000 }),
      ref({ channel: 'alpha', quality: 'source', at: H, dur: 2000 }),
      ref({ channel: 'alpha', quality: '480p', at: 5 * H, dur: 2000 }),
      ref({ channel: 'alpha', quality: 'source', at: 0, dur: 2002, type: 'suspect' })
    ]
    await index.apply(refs.map((r, i) => ({ op: 'put-segment', ref: r, size: 1000 + i, mtimeMs: 5 })))
    assert.deepEqual(index.channels(), ['alpha', 'zeta'])
    assert.deepEqual(index.qualities('alpha'), ['480p', 'source'])
    assert.deepEqual(index.qualities('nope'), [])
    assert.deepEqual(index.hours('alpha', 'source'), ['2020-01-01T00', '2020-01-01T01'])
    assert.deepEqual(index.listHour('alpha', 'source', T0 + MICROS_PER_HOUR), [refs[2]!.file, refs[1]!.file])
    const seg = index.hourSegments('alpha', 'source', T0)[0]!
    assert.equal(seg.type, 'suspect')
    assert.equal(seg.duration, 2_002_000)
    assert.equal(seg.size, 1004)
    assert.equal(seg.hour, '2020-01-01T00')
    assert.deepEqual(index.getSegment(refs[3]!)?.file, refs[3]!.file)
    assert.deepEqual(index.totals(), { channels: 2, hours: 4, segments: 5, bytes: 5010, tombstones: 0, hidden: 0 })
  })

  it('finds segments overlapping a range, including one that started in the hour before', async (t) => {
    const { index } = await openStore(t)
    const refs = [ref({ at: H - 1000, dur: 3000 }), ref({ at: H + 2000, dur: 2000 }), ref({ at: H + 10_000, dur: 2000 })]
    await index.apply(refs.map((r) => ({ op: 'put-segment', ref: r, size: 1, mtimeMs: 1 })))
    const got = index.segmentsOverlapping('c', 'q', T0 + MICROS_PER_HOUR + 1_000_000, T0 + MICROS_PER_HOUR + 5_000_000)
    assert.deepEqual(
      got.map((s) => s.file),
      [refs[0]!.file, refs[1]!.file]
    )
    assert.deepEqual(index.segmentsStartingIn('c', 'q', T0, T0 + 2 * MICROS_PER_HOUR).length, 3)
  })

  it('hides a tombstoned segment from every query and lists the tombstone on request', async (t) => {
    const { index } = await openStore(t)
    const [a, b] = [ref({ at: 0, dur: 2000 }), ref({ at: 2000, dur: 2000 })]
    await index.apply([a, b].map((r) => ({ op: 'put-segment', ref: r, size: 10, mtimeMs: 1 })))
    const before = index.hourSummary('c', 'q', T0)!
    await index.apply([{ op: 'put-tombstone', channel: 'c', quality: 'q', start: b.start, segment: b.file, mtimeMs: 2 }])
    assert.deepEqual(index.listHour('c', 'q', T0), [a.file])
    assert.deepEqual(index.listHour('c', 'q', T0, { tombstones: true }), [a.file, tombstoneFileName(b.file)])
    assert.equal(index.getSegment(b), null)
    assert.equal(index.getSegment(b, { hidden: true })?.tombstoned, true)
    assert.equal(index.segmentsOverlapping('c', 'q', T0, T0 + 10_000_000).length, 1)
    assert.deepEqual(
      index.segmentsStartingIn('c', 'q', b.start, b.start + 1).map((s) => s.file),
      []
    )
    assert.deepEqual(
      index.segmentsStartingIn('c', 'q', b.start, b.start + 1, { hidden: true }).map((s) => s.file),
      [b.file]
    )
    assert.ok(index.isTombstoned(b))
    const after = index.hourSummary('c', 'q', T0)!
    assert.deepEqual([after.segments, after.bytes, after.tombstones, after.hidden], [1, 10, 1, 1])
    assert.notEqual(after.digest, before.digest)
    assert.ok(after.version > before.version)
    assert.deepEqual(
      index.tombstones().map((x) => x.file),
      [tombstoneFileName(b.file)]
    )
    assert.deepEqual(index.tombstones('c').length, 1)
    assert.deepEqual(index.tombstones('other').length, 0)
    // A segment that arrives after its tombstone is hidden from the start.
    const c = ref({ at: 4000, dur: 2000 })
    await index.apply([
      { op: 'put-tombstone', channel: 'c', quality: 'q', start: c.start, segment: c.file, mtimeMs: 3 },
      { op: 'put-segment', ref: c, size: 10, mtimeMs: 3 }
    ])
    assert.deepEqual(index.listHour('c', 'q', T0), [a.file])
  })

  it('keeps an order-independent digest that equals a fresh computation', async (t) => {
    const { index: one } = await openStore(t)
    const { index: two } = await openStore(t)
    const refs = Array.from({ length: 40 }, (_, i) => ref({ at: i * 2000, dur: 2000 }))
    const tomb = refs[7]!
    await one.apply(refs.map((r) => ({ op: 'put-segment', ref: r, size: 5, mtimeMs: 1 })))
    await one.apply([{ op: 'put-tombstone', channel: 'c', quality: 'q', start: tomb.start, segment: tomb.file, mtimeMs: 1 }])
    // Another node that never had the tombstoned segment, and received things in another order.
    await two.apply([{ op: 'put-tombstone', channel: 'c', quality: 'q', start: tomb.start, segment: tomb.file, mtimeMs: 9 }])
    for (const r of [...refs].reverse()) {
      if (r !== tomb) await two.apply([{ op: 'put-segment', ref: r, size: 5, mtimeMs: 2 }])
    }
    const [d1, d2] = [one.hourSummary('c', 'q', T0)!, two.hourSummary('c', 'q', T0)!]
    assert.equal(d1.digest, d2.digest)
    assert.equal(d1.segments, 39)
    // Removing then re-adding returns to the same digest; an empty hour disappears.
    await two.apply([{ op: 'remove-segment', channel: 'c', quality: 'q', start: refs[0]!.start, file: refs[0]!.file }])
    assert.notEqual(two.hourSummary('c', 'q', T0)!.digest, d1.digest)
    await two.apply([{ op: 'put-segment', ref: refs[0]!, size: 5, mtimeMs: 2 }])
    assert.equal(two.hourSummary('c', 'q', T0)!.digest, d1.digest)
  })

  it('is idempotent and never reuses a version after an hour empties', async (t) => {
    const { index } = await openStore(t)
    const a = ref({ at: 0, dur: 2000 })
    await index.apply([{ op: 'put-segment', ref: a, size: 1, mtimeMs: 1 }])
    const v1 = index.hourVersion('c', 'q', T0)
    await index.apply([{ op: 'put-segment', ref: a, size: 1, mtimeMs: 1 }])
    assert.equal(index.hourVersion('c', 'q', T0), v1)
    await index.apply([{ op: 'remove-segment', channel: 'c', quality: 'q', start: a.start, file: a.file }])
    assert.equal(index.hourVersion('c', 'q', T0), 0)
    assert.deepEqual(index.hours('c', 'q'), [])
    assert.deepEqual(index.channels(), [])
    await index.apply([{ op: 'put-segment', ref: a, size: 1, mtimeMs: 1 }])
    assert.ok(index.hourVersion('c', 'q', T0) > v1)
  })

  it('reports which changes changed anything', async (t) => {
    const { index } = await openStore(t)
    const a = ref({ at: 0, dur: 2000 })
    const b = ref({ at: 2000, dur: 2000 })
    const putA = { op: 'put-segment', ref: a, size: 1, mtimeMs: 1 } as const
    const tombA = { op: 'put-tombstone', channel: 'c', quality: 'q', start: a.start, segment: a.file, mtimeMs: 1 } as const
    const dropB = { op: 'remove-segment', channel: 'c', quality: 'q', start: b.start, file: b.file } as const
    assert.deepEqual(await index.apply([putA, tombA, dropB]), [putA, tombA])
    assert.deepEqual(await index.apply([putA, tombA, dropB]), [])
    // A new mtime is a change; a signature on an unsigned tombstone is one, a second one is not.
    const touched = { ...putA, mtimeMs: 2 }
    const signed = { ...tombA, proof: 'sig' }
    assert.deepEqual(await index.apply([touched, signed, { ...signed, proof: 'other' }]), [touched, signed])
    const untomb = { op: 'remove-tombstone', channel: 'c', quality: 'q', start: a.start, segment: a.file } as const
    assert.deepEqual(await index.apply([untomb, untomb]), [untomb])
  })

  it('persists across close and reopen', async (t) => {
    const dir = await tempDir(t)
    const a = ref({ at: 0, dur: 2000 })
    const first = SegmentIndex.open(join(dir, 'index'))
    await first.apply([{ op: 'put-segment', ref: a, size: 7, mtimeMs: 1 }])
    await first.stop()
    const second = SegmentIndex.open(join(dir, 'index'))
    t.after(async () => await second.stop())
    assert.equal(second.getSegment(a)?.size, 7)
  })

  it('refuses to index a temp segment', async (t) => {
    const { index } = await openStore(t)
    const temp = { ...ref({ at: 0, dur: 2000 }), type: 'temp' as const, hash: null }
    await assert.rejects(index.apply([{ op: 'put-segment', ref: temp, size: 1, mtimeMs: 1 }]), TypeError)
    assert.deepEqual(index.channels(), [])
  })
})
