/**
 * Retention on a real LMDB index and real files: expired hours lose their segments, then their
 * tombstones, and the index follows; recent hours are untouched; a segment that cannot be removed
 * keeps its hour's tombstones.
 */
import assert from 'node:assert/strict'
import { mkdir, readdir, stat } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { silentLogger } from '../lib/logger.ts'
import { Reconciler } from '../storage/reconcile.ts'
import { Retention, retentionHorizon } from '../storage/retention.ts'
import { type SegmentRef, formatSegmentRef, tombstoneFileName } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'
import { T0, bytesFor, openStore } from './helpers/tree.ts'

const NOW = hourStart(Date.now() * 1000)

async function write(store: SegmentStore, start: number, seed: string): Promise<SegmentRef> {
  return (await store.recordSegment({ channel: 'c', quality: 'q', start, duration: 2_000_000, type: 'full' }, bytesFor(seed, 1000))).ref
}

const exists = async (path: string): Promise<boolean> =>
  await stat(path).then(
    () => true,
    () => false
  )

describe('retention', () => {
  it('computes the horizon on hour boundaries', () => {
    const now = Date.UTC(2026, 10, 23, 16, 30) * 1000
    assert.equal(retentionHorizon(1, now), Date.UTC(2026, 10, 22, 16) * 1000)
    assert.equal(retentionHorizon(7, now), Date.UTC(2026, 10, 16, 16) * 1000)
  })

  it('removes expired segments, then their tombstones, and the index entries with them', async (t) => {
    const { store, index } = await openStore(t)
    const old = [await write(store, T0, 'a'), await write(store, T0 + 2_000_000, 'b'), await write(store, T0 + MICROS_PER_HOUR, 'c')]
    await store.writeTombstone(old[1]!)
    // A tombstone for a segment this node never had, alone in its hour.
    const ghost = formatSegmentRef({
      channel: 'c',
      quality: 'q',
      start: T0 + 5 * MICROS_PER_HOUR,
      duration: 2_000_000,
      type: 'full',
      hash: sha256(Buffer.from('ghost'))
    })
    await store.writeTombstone(ghost)
    const recent = [await write(store, NOW - MICROS_PER_HOUR, 'r1'), await write(store, NOW, 'r2')]
    await store.writeTombstone(recent[0]!)

    const logged: Array<{ obj: Record<string, unknown>; msg?: string }> = []
    const log = {
      ...silentLogger,
      info: (obj: object, msg?: string) => {
        logged.push({ obj: obj as Record<string, unknown>, msg })
      }
    }
    const retention = new Retention({ store, reconciler: new Reconciler(store), days: 1, log })
    const report = await retention.runOnce()
    assert.deepEqual(report, { hours: 3, segments: 3, tombstones: 2, bytes: 3000, incomplete: 0 })
    assert.equal(logged.length, 1)
    assert.equal(logged[0]!.msg, 'retention removed expired hours')
    assert.deepEqual(
      logged[0]!.obj.removed,
      [old[0]!.hour, old[2]!.hour, ghost.hour].map((h) => `c/q/${h}`)
    )

    for (const ref of [...old, ghost]) {
      assert.equal(await exists(store.pathOf(ref)), false)
      assert.equal(await exists(store.hourDir(ref)), false, 'the emptied hour folder is gone')
      assert.equal(index.getSegment(ref, { hidden: true }), null)
      assert.equal(index.isTombstoned(ref), false)
    }
    assert.deepEqual(index.hours('c', 'q'), [recent[0]!.hour, recent[1]!.hour])
    assert.ok(index.isTombstoned(recent[0]!), 'recent tombstone kept')
    assert.ok(index.getSegment(recent[1]!) != null)
    assert.ok(await exists(store.pathOf(recent[0]!)), 'a recent tombstoned segment keeps its bytes')

    // The index agrees with a full reconcile from disk, and a second pass finds nothing.
    const fresh = await new Reconciler(store).reconcileAll({ tempGraceMs: null })
    assert.equal(fresh.added + fresh.removed, 0)
    assert.deepEqual(await retention.runOnce(), { hours: 0, segments: 0, tombstones: 0, bytes: 0, incomplete: 0 })
    assert.equal(logged.length, 1, 'a pass that removes nothing says nothing')
    assert.deepEqual(retention.totals, report)
  })

  it("keeps an hour's tombstones while any of its segments could not be removed", async (t) => {
    const { store, index } = await openStore(t)
    const gone = await write(store, T0, 'gone')
    await store.writeTombstone(gone)
    // A folder with a segment's name cannot be unlinked: that "segment" stays, so must every tombstone.
    const stuck = formatSegmentRef({
      channel: 'c',
      quality: 'q',
      start: T0 + 4_000_000,
      duration: 2_000_000,
      type: 'full',
      hash: sha256(Buffer.from('stuck'))
    })
    await mkdir(store.pathOf(stuck))
    await store.writeTombstone(stuck)

    const report = await new Retention({ store, reconciler: new Reconciler(store), days: 1 }).runOnce()
    assert.deepEqual(report, { hours: 0, segments: 1, tombstones: 0, bytes: 1000, incomplete: 1 })
    assert.equal(await exists(store.pathOf(gone)), false)
    assert.equal(index.getSegment(gone, { hidden: true }), null)
    const left = (await readdir(store.hourDir(gone))).sort()
    assert.deepEqual(left, [stuck.file, tombstoneFileName(gone.file), tombstoneFileName(stuck.file)].sort())
    assert.ok(index.isTombstoned(gone) && index.isTombstoned(stuck))
  })

  it('runs as a component and stops cleanly', async (t) => {
    const { store, index } = await openStore(t)
    const ref = await write(store, T0, 'x')
    const retention = new Retention({ store, reconciler: new Reconciler(store), days: 30, intervalMs: 60_000 })
    retention.start()
    await retention.stop()
    assert.equal(index.getSegment(ref), null, 'the first pass ran at start')
    assert.throws(() => new Retention({ store, reconciler: new Reconciler(store), days: 0 }), RangeError)
  })

  it('a node with retention never backfills what retention removed', async (t) => {
    const a = await startNode(t)
    const expired = await write(a.store, NOW - 72 * MICROS_PER_HOUR, 'expired')
    const kept = await write(a.store, NOW - MICROS_PER_HOUR, 'kept')
    const b = await startNode(t, { bootstrap: [a], extra: { 'retention-days': '1' } })
    await until('the recent segment on B', () => b.index.getSegment(kept) != null)
    // A announces the expired segment again (a stale peer would) and both sides re-sync.
    const heard = b.replicator!.stats.messagesIn
    const announced = a.replicator!.stats.announcedItems
    a.store.emit({ kind: 'segment', ref: expired })
    await until('A announced it', () => a.replicator!.stats.announcedItems > announced)
    await until('B heard from A since', () => b.replicator!.stats.messagesIn > heard)
    await b.replicator!.syncNow()
    await a.replicator!.syncNow()
    await b.replicator!.syncNow()
    assert.equal(b.index.getSegment(expired, { hidden: true }), null)
    assert.equal(await exists(b.store.pathOf(expired)), false)
    assert.equal(b.fetcher!.stats().segmentsFetched, 1, 'B fetched only the recent segment')

    // Its own expired data goes too, and /metrics counts it.
    const own = await write(b.store, NOW - 48 * MICROS_PER_HOUR, 'own')
    await b.retention!.runOnce()
    assert.equal(b.index.getSegment(own, { hidden: true }), null)
    const metrics = await (await fetch(`${b.url}/metrics`)).text()
    assert.match(metrics, /^segmesh_retention_removed_segments_total 1$/m)
    assert.match(metrics, /^segmesh_retention_removed_bytes_total 1000$/m)
  })
})
