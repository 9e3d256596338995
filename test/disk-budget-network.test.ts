/**
 * `--max-disk-bytes` between real nodes (libp2p over TCP and HTTP on 127.0.0.1): a node with a
 * budget evicts only hours that at least --min-copies nodes ranked above it hold (so every hour
 * stays on enough nodes), never goes over the budget by more than one segment while it backfills,
 * keeps tombstones, does not fetch back what it evicted, and once nothing may go serves what it
 * lacks read-through without storing it.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { READ_THROUGH_HEADER } from '../http/read-through.ts'
import { holderRank } from '../http/network-listings.ts'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'
import { namedBytes } from './helpers/tree.ts'

const SIZE = 8192
const PER_HOUR = 4
const HOURS = 8

/** HOURS hours of PER_HOUR segments on `node`, the oldest with a tombstone beside its first segment. */
async function archive(node: SegmeshNode, seed: string): Promise<{ hours: number[]; refs: SegmentRef[]; tombstoned: SegmentRef }> {
  const first = hourStart(Date.now() * 1000) - (HOURS + 1) * MICROS_PER_HOUR
  const hours = Array.from({ length: HOURS }, (_, h) => first + h * MICROS_PER_HOUR)
  const refs: SegmentRef[] = []
  for (const h of hours) {
    for (let i = 0; i < PER_HOUR; i++) {
      const { ref, body } = namedBytes(`${seed}-${h}-${i}`, SIZE, { start: h + i * 2_000_000 })
      await node.store.writeSegment(ref, body)
      refs.push(ref)
    }
  }
  const tombstoned = refs[0]!
  await node.store.writeTombstone(tombstoned)
  return { hours, refs, tombstoned }
}

/** Sample `node`'s segment bytes every few ms until `stop` is called; returns the largest seen. */
function watchBytes(node: SegmeshNode): () => number {
  let most = 0
  const timer = setInterval(() => {
    most = Math.max(most, node.index.totals().bytes)
  }, 5)
  return () => {
    clearInterval(timer)
    return Math.max(most, node.index.totals().bytes)
  }
}

const heldHours = (node: SegmeshNode): number[] =>
  node.index
    .hourSummaries('c', 'q')
    .filter((h) => h.segments > 0)
    .map((h) => h.start)

describe('disk budget between nodes', () => {
  it('evicts only what enough higher-ranked nodes hold, stays within the budget, keeps tombstones, does not fetch back', async (t) => {
    const a = await startNode(t)
    const { hours, refs, tombstoned } = await archive(a, 'a')
    const b = await startNode(t, { bootstrap: [a] })
    const c = await startNode(t, { bootstrap: [a] })
    const full = async (n: SegmeshNode): Promise<boolean> => refs.slice(1).every((r) => n.index.getSegment(r) != null)
    await until('b and c backfilled', async () => (await full(b)) && (await full(c)))
    const max = 3 * PER_HOUR * SIZE
    const d = await startNode(t, { bootstrap: [a, b, c], extra: { 'max-disk-bytes': String(max) } })
    const most = watchBytes(d)
    // Which hours d may drop: those where at least two of a, b, c rank above it.
    const others = [a, b, c].map((n) => n.publicUrl)
    const droppable = new Set(
      hours.filter((h) => others.filter((u) => holderRank(u, 'c', 'q', h) > holderRank(d.publicUrl, 'c', 'q', h)).length >= 2)
    )
    const settled = (): boolean =>
      d.budget!.full || hours.every((h) => d.budget!.isEvicted({ channel: 'c', quality: 'q', start: h }) || heldHours(d).includes(h))
    await until('d settled under its budget', async () => {
      await d.budget!.check()
      return settled()
    })
    await sleep(3000) // three push-pull rounds: nothing evicted comes back
    const largest = most()
    assert.ok(largest <= max + SIZE, `d held ${largest} bytes, more than one segment over ${max}`)
    const evicted = hours.filter((h) => d.budget!.isEvicted({ channel: 'c', quality: 'q', start: h }))
    for (const h of evicted) {
      assert.ok(droppable.has(h), `d evicted an hour ranked among its two keepers (${new Date(h / 1000).toISOString()})`)
      assert.equal(heldHours(d).includes(h), false, 'an evicted hour was fetched back')
    }
    assert.equal(d.budget!.state().evictions.hours, evicted.length)
    // Full, d holds nothing it may drop.
    if (d.budget!.full) for (const h of heldHours(d)) assert.equal(droppable.has(h), false, 'd is full but holds an hour it may drop')
    // Tombstones stay, evicted or not.
    assert.equal(d.index.isTombstoned(tombstoned), true)
    // Every hour is still on at least two nodes (a, b and c never evict).
    for (const h of hours) assert.ok([a, b, c, d].filter((n) => heldHours(n).includes(h)).length >= 2)

    // /status and /metrics show it.
    const status = (await (await request(`${d.url}/status`)).body.json()) as {
      diskBudget: { maxBytes: number; evictions: { hours: number } }
    }
    assert.equal(status.diskBudget.maxBytes, max)
    assert.equal(status.diskBudget.evictions.hours, evicted.length)
    const metrics = await (await request(`${d.url}/metrics`)).body.text()
    assert.match(metrics, new RegExp(`^segmesh_disk_budget_bytes ${max}$`, 'm'))
    assert.match(metrics, new RegExp(`^segmesh_evictions_total ${evicted.length}$`, 'm'))
  })

  it('never evicts an hour only one other node holds; full, it serves read-through without storing', async (t) => {
    const a = await startNode(t)
    const { refs } = await archive(a, 'a')
    const max = 3 * PER_HOUR * SIZE
    const e = await startNode(t, { bootstrap: [a], extra: { 'max-disk-bytes': String(max), 'min-copies': '2' } })
    const most = watchBytes(e)
    await until('e full', () => e.budget!.full)
    await sleep(2000)
    await e.budget!.check()
    assert.equal(e.budget!.full, true)
    assert.equal(e.budget!.state().evictions.hours, 0, 'an hour only a holds besides e would fall under two copies')
    const largest = most()
    assert.ok(largest <= max + SIZE, `e held ${largest} bytes, more than one segment over ${max}`)
    assert.ok(largest >= max - SIZE, 'e filled its budget')

    const missing = refs.find((r) => e.index.getSegment(r) == null && !e.index.isTombstoned(r))!
    const res = await request(`${e.url}/segments/${segmentRelPath(missing)}`)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers[READ_THROUGH_HEADER], 'peer')
    assert.equal((await res.body.arrayBuffer()).byteLength, SIZE)
    assert.equal(e.index.getSegment(missing), null, 'not stored: the budget is full')
    const status = (await (await request(`${e.url}/status`)).body.json()) as { diskBudget: { full: boolean } }
    assert.equal(status.diskBudget.full, true)
  })
})
