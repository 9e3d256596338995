/**
 * `--max-disk-bytes` between real nodes (libp2p over TCP and HTTP on 127.0.0.1): nodes with
 * budgets evict only hours that at least --min-copies other nodes hold and promised to keep (so no
 * hour falls under two copies, even with three nodes evicting the same hours at once), never go
 * over the budget by more than one segment while they backfill,
 * keeps tombstones, does not fetch back what it evicted, and once nothing may go serves what it
 * lacks read-through without storing it.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { READ_THROUGH_HEADER } from '../http/read-through.ts'
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

describe('disk budget between nodes', () => {
  it('nodes with budgets evict only hours two others promise to keep: no hour falls under two copies, none comes back', async (t) => {
    const a = await startNode(t)
    const { hours, refs, tombstoned } = await archive(a, 'a')
    const max = 5 * PER_HOUR * SIZE
    const budgeted: SegmeshNode[] = []
    for (let i = 0; i < 3; i++) budgeted.push(await startNode(t, { bootstrap: [a, ...budgeted], extra: { 'max-disk-bytes': String(max) } }))
    const nodes = [a, ...budgeted]
    const visible = refs.filter((r) => r.file !== tombstoned.file)
    const holdsAll = (n: SegmeshNode, h: number): boolean =>
      visible.every((r) => r.start - (r.start % MICROS_PER_HOUR) !== h || n.index.getSegment(r) != null)
    // Sampled all along: each node's bytes, and once an hour is held whole by two nodes, it stays so.
    const most = budgeted.map(() => 0)
    const reachedTwo = new Set<number>()
    const fellUnder: string[] = []
    const sampler = setInterval(() => {
      for (const [i, n] of budgeted.entries()) most[i] = Math.max(most[i]!, n.index.totals().bytes)
      for (const h of hours) {
        const whole = nodes.filter((n) => holdsAll(n, h)).length
        if (whole >= 2) reachedTwo.add(h)
        else if (reachedTwo.has(h)) fellUnder.push(new Date(h / 1000).toISOString())
      }
    }, 10)
    t.after(() => clearInterval(sampler))
    const evicted = (n: SegmeshNode, h: number): boolean => n.budget!.isEvicted({ channel: 'c', quality: 'q', start: h })
    const settled = (n: SegmeshNode): boolean => n.budget!.full || hours.every((h) => evicted(n, h) || holdsAll(n, h))
    // Budget passes run every 30 s; here they are asked for until nothing has moved for 3 s (three
    // push-pull rounds: nothing evicted comes back meanwhile).
    let last = ''
    let since = Date.now()
    await until(
      'the budgeted nodes settled',
      async () => {
        await Promise.all(budgeted.map(async (n) => await n.budget!.check()))
        const now = budgeted.map((n) => `${n.index.totals().segments}/${n.budget!.state().evictions.hours}`).join(' ')
        if (now !== last || !budgeted.every(settled)) {
          last = now
          since = Date.now()
        }
        return Date.now() - since > 3000
      },
      60_000
    )
    clearInterval(sampler)
    for (const [i, n] of budgeted.entries()) {
      assert.ok(most[i]! <= max + SIZE, `node ${i} held ${most[i]} bytes, more than one segment over ${max}`)
      assert.ok(n.budget!.state().evictions.hours >= 1, `node ${i} evicted nothing`)
      for (const h of hours)
        if (evicted(n, h)) assert.equal(n.index.hourSegments('c', 'q', h).length, 0, 'an evicted hour was fetched back')
      assert.equal(n.index.isTombstoned(tombstoned), true, 'tombstones stay')
    }
    assert.deepEqual(fellUnder, [], 'an hour held whole by two nodes fell under two')
    for (const h of hours) assert.ok(nodes.filter((n) => holdsAll(n, h)).length >= 2, 'every hour ends on two nodes')

    // /status and /metrics show it.
    const d = budgeted[0]!
    const status = (await (await request(`${d.url}/status`)).body.json()) as {
      diskBudget: { maxBytes: number; evictions: { hours: number } }
    }
    assert.equal(status.diskBudget.maxBytes, max)
    assert.equal(status.diskBudget.evictions.hours, d.budget!.state().evictions.hours)
    const metrics = await (await request(`${d.url}/metrics`)).body.text()
    assert.match(metrics, new RegExp(`^segmesh_disk_budget_bytes ${max}$`, 'm'))
    assert.match(metrics, new RegExp(`^segmesh_evictions_total ${d.budget!.state().evictions.hours}$`, 'm'))
  })

  it('an evicted hour that too few nodes hold any more is fetched again', async (t) => {
    const a = await startNode(t)
    const { hours, refs } = await archive(a, 'a')
    const b = await startNode(t, { bootstrap: [a] })
    await until('b backfilled', () => refs.slice(1).every((r) => b.index.getSegment(r) != null))
    // Room for all but two segments: one hour goes (the oldest a and b keep), then two more segments fit.
    const max = (HOURS * PER_HOUR - 3) * SIZE
    const d = await startNode(t, { bootstrap: [a, b], extra: { 'max-disk-bytes': String(max) } })
    const evicted = (): number | undefined => hours.find((h) => d.budget!.isEvicted({ channel: 'c', quality: 'q', start: h }))
    await until('d evicted an hour', async () => {
      await d.budget!.check()
      return evicted() != null
    })
    const hour = evicted()!
    assert.equal(d.index.hourSegments('c', 'q', hour).length, 0)
    // b leaves: only a holds that hour now, under --min-copies 2.
    await b.stop(500)
    await until('the hour is no longer marked evicted', async () => {
      await d.network!.checkCopies()
      return !d.budget!.isEvicted({ channel: 'c', quality: 'q', start: hour })
    })
    await until('some of it is fetched again', () => d.index.hourSegments('c', 'q', hour).length > 0, 20_000)
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

    // Keep promises are for known peers only: a viewer, or a URL this node never met, gets 403.
    const keep = `${a.url}/replication/keep?channel=c&quality=q&hour=${refs[0]!.start - (refs[0]!.start % MICROS_PER_HOUR)}`
    for (const headers of [{}, { 'x-segmesh-peer': 'http://127.0.0.1:9/' }]) {
      const res = await request(keep, { method: 'POST', headers })
      assert.equal(res.statusCode, 403)
      assert.equal(((await res.body.json()) as { error: string }).error, 'not_a_peer')
    }
    const asPeer = await request(keep, { method: 'POST', headers: { 'x-segmesh-peer': e.publicUrl } })
    assert.equal(((await asPeer.body.json()) as { promised: boolean }).promised, true)
  })
})
