/**
 * The disk budget on a real LMDB index and real files: writes never take the tree over the budget
 * by more than one segment; hours go oldest first, only those `evictable` allows (the policy seam:
 * which peers hold an hour is tested between real nodes in test/disk-budget-network.test.ts);
 * tombstones stay; a full budget refuses fetched writes but not a recorder's; the evicted hours
 * are remembered across a restart.
 */
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DiskBudget, parseDiskBudget } from '../storage/disk-budget.ts'
import { Reconciler } from '../storage/reconcile.ts'
import { type SegmentRef, formatSegmentRef, tombstoneFileName } from '../storage/segment-name.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { MICROS_PER_HOUR } from '../storage/time.ts'
import { T0, bytesFor, openStore } from './helpers/tree.ts'

const SIZE = 10_000
const PER_HOUR = 4

function segment(hour: number, i: number): { ref: SegmentRef; body: Buffer } {
  const body = bytesFor(`${hour}-${i}`, SIZE)
  const ref = formatSegmentRef({
    channel: 'c',
    quality: 'q',
    start: T0 + hour * MICROS_PER_HOUR + i * 2_000_000,
    duration: 2_000_000,
    type: 'full',
    hash: sha256(body)
  })
  return { ref, body }
}

describe('parseDiskBudget', () => {
  it('reads bytes, binary units and percentages, and says why not', () => {
    assert.deepEqual(parseDiskBudget('500000000'), { bytes: 500_000_000 })
    assert.deepEqual(parseDiskBudget('500M'), { bytes: 500 * 1024 ** 2 })
    assert.deepEqual(parseDiskBudget('2GiB'), { bytes: 2 * 1024 ** 3 })
    assert.deepEqual(parseDiskBudget('1t'), { bytes: 1024 ** 4 })
    assert.deepEqual(parseDiskBudget('40%'), { percent: 40 })
    for (const bad of ['0', '-5', '1.5G', '101%', '0%', 'lots', '', '5P', '99999999999999999']) {
      assert.equal(typeof parseDiskBudget(bad), 'string', bad)
    }
  })
})

describe('disk budget', () => {
  it('evicts oldest first, skips what it may not drop, keeps tombstones, stays within one segment of the budget', async (t) => {
    const { dir, store, index } = await openStore(t)
    const reconciler = new Reconciler(store)
    const protectedHour = T0 + MICROS_PER_HOUR // the second-oldest: other nodes do not hold it
    const asked: number[] = []
    const init = {
      store,
      reconciler,
      limit: { bytes: 3 * PER_HOUR * SIZE }, // three hours
      stateFile: join(dir, 'evicted-hours.json'),
      othersKeep: async (_c: string, _q: string, hour: number) => {
        asked.push(hour)
        return hour !== protectedHour
      }
    }
    const budget = new DiskBudget(init)
    await budget.start()
    t.after(async () => await budget.stop())
    // A tombstone in the oldest hour, written before its segment is.
    const tombstoned = segment(0, 3).ref
    await store.writeTombstone(tombstoned)
    let most = 0
    for (let hour = 0; hour < 6; hour++) {
      for (let i = 0; i < PER_HOUR; i++) {
        const { ref, body } = segment(hour, i)
        if (ref.file === tombstoned.file) continue
        await store.writeSegment(ref, body)
        most = Math.max(most, index.totals().bytes)
      }
    }
    assert.ok(most <= 3 * PER_HOUR * SIZE + SIZE, `at most one segment over the budget, was ${most}`)
    assert.ok(asked.length > 0)
    // Hours 0, 2, 3 went (oldest first, the protected hour 1 skipped); 1, 4, 5 stay.
    const held = index.hourSummaries('c', 'q').filter((h) => h.segments > 0)
    assert.deepEqual(
      held.map((h) => (h.start - T0) / MICROS_PER_HOUR),
      [1, 4, 5]
    )
    for (const hour of [0, 2, 3]) assert.equal(budget.isEvicted({ channel: 'c', quality: 'q', start: T0 + hour * MICROS_PER_HOUR }), true)
    assert.equal(budget.isEvicted({ channel: 'c', quality: 'q', start: protectedHour }), false)
    assert.equal(index.isTombstoned(tombstoned), true, 'the tombstone is still indexed')
    const left = await readdir(store.hourDir(tombstoned))
    assert.deepEqual(left, [tombstoneFileName(tombstoned.file)], 'only the tombstone file is left in the evicted hour')
    const state = budget.state()
    assert.equal(state.evictions.hours, 3)
    assert.equal(state.evictions.bytes, (3 * PER_HOUR - 1) * SIZE)
    assert.equal(state.full, false)

    // Every hour left is protected or newer than what fits: a fetched write that needs room is
    // refused once nothing may go; a recorder's is not.
    const protect = new Set([protectedHour, T0 + 4 * MICROS_PER_HOUR, T0 + 5 * MICROS_PER_HOUR])
    init.othersKeep = async (_c, _q, hour) => !protect.has(hour)
    const extra = segment(6, 0)
    await assert.rejects(store.writeSegment(extra.ref, extra.body), { code: 'SEGMESH_ERR_DISK_FULL' })
    assert.equal(budget.full, true)
    assert.equal(store.writesPaused, true)
    assert.equal(index.getSegment(extra.ref), null)
    const recorded = await store.recordSegment(
      { channel: 'c', quality: 'q', start: T0 + 6 * MICROS_PER_HOUR + 2_000_000, duration: 2_000_000, type: 'full' },
      bytesFor('live', SIZE)
    )
    assert.equal(recorded.created, true, "a recorder's segment is stored over the budget")
    assert.equal(budget.state().over, true)

    // The evicted hours are remembered across a restart.
    await budget.stop()
    const again = new DiskBudget({ ...init, othersKeep: async () => false })
    await again.start()
    t.after(async () => await again.stop())
    assert.equal(again.state().evictedHours, 3)
    assert.equal(again.isEvicted({ channel: 'c', quality: 'q', start: T0 + 2 * MICROS_PER_HOUR + 5 }), true)
  })

  it('promises to keep what it holds, not what it is evicting, and does not evict what it promised', async (t) => {
    const { dir, store, index } = await openStore(t)
    let claimed: { answer: unknown } | null = null
    const budget: DiskBudget = new DiskBudget({
      store,
      reconciler: new Reconciler(store),
      limit: { bytes: 2 * PER_HOUR * SIZE },
      stateFile: join(dir, 'evicted-hours.json'),
      // While this node asks about an hour, another asks it to keep that very hour.
      othersKeep: async (c, q, hour) => {
        claimed = { answer: budget.promise(c, q, hour) }
        return true
      }
    })
    await budget.start()
    t.after(async () => await budget.stop())
    for (let hour = 0; hour < 2; hour++)
      for (let i = 0; i < PER_HOUR; i++) await store.writeSegment(segment(hour, i).ref, segment(hour, i).body)
    assert.deepEqual(budget.promise('c', 'q', T0 + 5 * MICROS_PER_HOUR), { promised: false, why: 'not held here' })
    const held = budget.promise('c', 'q', T0)
    assert.equal(held.promised, true)
    assert.equal((held as { digest: string }).digest, index.hourSummaries('c', 'q', T0, T0 + 1)[0]!.digest)
    // Hour 0 is promised: the next write evicts hour 1, the oldest it did not promise, and refused
    // to promise hour 1 while it was asking about it.
    await store.writeSegment(segment(2, 0).ref, segment(2, 0).body)
    assert.deepEqual(claimed, { answer: { promised: false, why: 'being evicted here' } })
    assert.equal(budget.isEvicted({ channel: 'c', quality: 'q', start: T0 }), false)
    assert.equal(budget.isEvicted({ channel: 'c', quality: 'q', start: T0 + MICROS_PER_HOUR }), true)
    assert.deepEqual(budget.promise('c', 'q', T0 + MICROS_PER_HOUR), { promised: false, why: 'not held here' })
  })

  it('a percentage budget is that share of the disk', async (t) => {
    const { dir, store } = await openStore(t)
    const budget = new DiskBudget({
      store,
      reconciler: new Reconciler(store),
      limit: { percent: 40 },
      stateFile: join(dir, 'evicted-hours.json'),
      othersKeep: async () => false,
      diskBytes: async () => 1_000_000_000
    })
    await budget.start()
    t.after(async () => await budget.stop())
    assert.equal(budget.maxBytes, 400_000_000)
    assert.equal(budget.state().usedBytes, 0)
  })

  it('writes in flight together stay within one segment of the budget', async (t) => {
    const { dir, store, index } = await openStore(t)
    const budget = new DiskBudget({
      store,
      reconciler: new Reconciler(store),
      limit: { bytes: 2 * PER_HOUR * SIZE },
      stateFile: join(dir, 'evicted-hours.json'),
      othersKeep: async () => true
    })
    await budget.start()
    t.after(async () => await budget.stop())
    let most = 0
    const sample = setInterval(() => {
      most = Math.max(most, index.totals().bytes)
    }, 1)
    const writes: Array<Promise<unknown>> = []
    for (let hour = 0; hour < 5; hour++) {
      for (let i = 0; i < PER_HOUR; i++) {
        const { ref, body } = segment(hour, i)
        writes.push(store.writeSegment(ref, body))
      }
    }
    const results = await Promise.allSettled(writes)
    clearInterval(sample)
    most = Math.max(most, index.totals().bytes)
    assert.ok(most <= 2 * PER_HOUR * SIZE + SIZE, `at most one segment over the budget, was ${most}`)
    assert.ok(budget.state().evictions.hours >= 2)
    // Every write either landed or was refused for the budget; nothing else went wrong.
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'SEGMESH_ERR_DISK_FULL')
  })
})
