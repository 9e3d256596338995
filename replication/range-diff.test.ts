/**
 * The range walk against in-memory sides: it finds exactly what the remote holds that the local
 * side lacks, newest first, and the number of requests grows with what differs, not with the
 * archive.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { nameDigest, xorInto } from '../storage/name-digest.ts'
import { MICROS_PER_HOUR } from '../storage/time.ts'
import { type RangeDiffStats, type RangeReader, lacking, rangeDiff, theyLack } from './range-diff.ts'
import { FINGERPRINT_BYTES, type RangeNames } from './ranges.ts'

const T0 = 1_700_006_400_000_000 - (1_700_006_400_000_000 % MICROS_PER_HOUR)
const HOURS = 30 * 24

/** A side as a sorted list of (start, name); tombstones marked. */
class MemorySide implements RangeReader {
  readonly items: Array<{ start: number; name: string; tombstone?: boolean }> = []
  requests = 0
  add(start: number, name: string, tombstone = false): this {
    this.items.push({ start, name, tombstone })
    return this
  }

  #in(from: number, to: number): MemorySide['items'] {
    return this.items.filter((i) => i.start >= from && i.start < to)
  }

  parts(_c: string, _q: string, bounds: number[]): Array<{ fp: string; count: number }> {
    this.requests++
    return bounds.slice(0, -1).map((from, i) => {
      const inside = this.#in(from, bounds[i + 1]!)
      const acc = Buffer.alloc(32)
      for (const item of inside) xorInto(acc, nameDigest(item.tombstone === true ? `${item.name}.tombstone` : item.name))
      return { fp: inside.length === 0 ? '' : acc.subarray(0, FINGERPRINT_BYTES).toString('base64url'), count: inside.length }
    })
  }

  names(_c: string, _q: string, from: number, to: number): RangeNames {
    this.requests++
    const inside = this.#in(from, to)
    return {
      segments: inside.filter((i) => i.tombstone !== true).map((i) => i.name),
      tombstones: inside.filter((i) => i.tombstone === true).map((i) => ({ segment: i.name }))
    }
  }
}

/** One segment a minute over 30 days, the same on both sides. */
function archive(): MemorySide {
  const side = new MemorySide()
  for (let m = 0; m < HOURS * 60; m++) side.add(T0 + m * 60_000_000, `seg-${m}`)
  return side
}

async function walk(
  local: RangeReader,
  remote: RangeReader
): Promise<{ found: ReturnType<typeof lacking>[]; stats: RangeDiffStats; order: number[] }> {
  const stats = { partRequests: 0, nameRequests: 0 }
  const found = []
  const order = []
  for await (const range of rangeDiff(local, remote, 'c', 'q', T0, T0 + HOURS * MICROS_PER_HOUR, {}, stats)) {
    found.push(lacking(range))
    order.push(range.from)
  }
  return { found, stats, order }
}

describe('rangeDiff', () => {
  it('equal sides cost one request and list nothing', async () => {
    const { found, stats } = await walk(archive(), archive())
    assert.deepEqual(found, [])
    assert.deepEqual(stats, { partRequests: 1, nameRequests: 0 })
  })

  it('one segment more on the remote, in 43,200: a few requests, and exactly that name', async () => {
    const remote = archive().add(T0 + 500 * MICROS_PER_HOUR + 7, 'the-extra-one')
    const { found, stats } = await walk(archive(), remote)
    assert.deepEqual(
      found.flatMap((f) => f.segments),
      ['the-extra-one']
    )
    assert.ok(stats.partRequests <= 4 && stats.nameRequests === 1, JSON.stringify(stats))
  })

  it('a tombstone the remote holds comes with the segments it hides left out; what only the local side has is not listed', async () => {
    const local = archive().add(T0 + 3 * MICROS_PER_HOUR + 5, 'local-only')
    const remote = archive()
    remote
      .add(T0 + 10 * MICROS_PER_HOUR + 1, 'hidden', true)
      .add(T0 + 10 * MICROS_PER_HOUR + 1, 'hidden')
      .add(T0 + 10 * MICROS_PER_HOUR + 2, 'new')
    const { found } = await walk(local, remote)
    assert.deepEqual(
      found.flatMap((f) => f.segments),
      ['new']
    )
    assert.deepEqual(
      found.flatMap((f) => f.tombstones),
      [{ segment: 'hidden' }]
    )
  })

  it('cost grows with what differs, and the newest differences come first', async () => {
    const costs: number[] = []
    for (const d of [1, 4, 16, 64]) {
      const remote = archive()
      for (let i = 0; i < d; i++) remote.add(T0 + Math.floor(((i + 0.5) * HOURS) / d) * MICROS_PER_HOUR + 11, `extra-${i}`)
      const { found, stats, order } = await walk(archive(), remote)
      assert.equal(found.flatMap((f) => f.segments).length, d)
      assert.deepEqual(
        order,
        [...order].sort((a, b) => b - a),
        'newest first'
      )
      costs.push(stats.partRequests + stats.nameRequests)
    }
    // Spread differences cost about one walk down each: linear in d, far under the 43,200 names.
    assert.ok(costs[3]! <= 64 * 5, `costs ${costs.join(', ')}`)
    assert.ok(costs[0]! < costs[1]! && costs[1]! < costs[2]! && costs[2]! < costs[3]!, `costs ${costs.join(', ')}`)
  })

  it('skipped hours (evicted on one side) are neither listed nor offered; other differences still are', async () => {
    // The remote evicted hours 100..139 (it holds nothing there); it lacks one segment in hour 600
    // and holds one this side lacks in hour 700.
    const evicted = (h: number): boolean => h >= T0 + 100 * MICROS_PER_HOUR && h < T0 + 140 * MICROS_PER_HOUR
    const local = archive()
    const remote = new MemorySide()
    for (const item of local.items) {
      if (evicted(item.start - (item.start % MICROS_PER_HOUR)) || item.name === 'seg-36000') continue
      remote.add(item.start, item.name)
    }
    remote.add(T0 + 700 * MICROS_PER_HOUR + 3, 'remote-new')
    const stats = { partRequests: 0, nameRequests: 0 }
    const pulled: string[] = []
    const offered: string[] = []
    const options = { twoWay: true, skipHour: evicted }
    for await (const range of rangeDiff(local, remote, 'c', 'q', T0, T0 + HOURS * MICROS_PER_HOUR, options, stats)) {
      pulled.push(...lacking(range).segments)
      offered.push(...theyLack(range).segments)
    }
    assert.deepEqual(pulled, ['remote-new'])
    assert.deepEqual(offered, ['seg-36000'])
    // Without the skip, the walk offers the 2,400 evicted names back.
    const all: string[] = []
    for await (const range of rangeDiff(local, remote, 'c', 'q', T0, T0 + HOURS * MICROS_PER_HOUR, { twoWay: true }))
      all.push(...theyLack(range).segments)
    assert.equal(all.length, 40 * 60 + 1)
  })
})
