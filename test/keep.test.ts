/**
 * `--keep` between real nodes (libp2p over TCP and HTTP on 127.0.0.1): a node that keeps one
 * channel backfills only that one, serves the other read-through without storing it, and its
 * peer does not keep walking it for what it will not take.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { READ_THROUGH_HEADER } from '../http/read-through.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { segmentRelPath } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'
import { namedBytes } from './helpers/tree.ts'

describe('--keep', () => {
  it('a node keeping one channel backfills only it, serves the other read-through unstored, and is not walked for it', async (t) => {
    const holder = await startNode(t)
    const start = hourStart(Date.now() * 1000) - MICROS_PER_HOUR
    const refs: Record<string, SegmentRef[]> = { kept: [], other: [] }
    for (const channel of ['kept', 'other']) {
      for (let i = 0; i < 5; i++) {
        const { ref, body } = namedBytes(`${channel}-${i}`, 4000, { channel, quality: 'source', start: start + i * 2_000_000 })
        await holder.store.writeSegment(ref, body)
        refs[channel]!.push(ref)
      }
    }
    const partial = await startNode(t, { bootstrap: [holder], extra: { keep: 'kept' } })
    await until('the kept channel backfilled', () => refs.kept!.every((r) => partial.index.getSegment(r) != null))
    // A few push-pull rounds (1 s in tests): the other channel never comes over.
    await sleep(3000)
    assert.deepEqual(partial.index.channels(), ['kept'])
    assert.equal(partial.replicator!.peers.get(holder.host!.peerId)?.keep.everything, true)
    assert.deepEqual(holder.replicator!.peers.get(partial.host!.peerId)?.keep.patterns, ['kept'])

    // Read-through of the other channel: the bytes, checked, not stored.
    const other = refs.other![2]!
    const url = `${partial.url}/segments/${segmentRelPath(other)}`
    const res = await request(url)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers[READ_THROUGH_HEADER], 'peer')
    const body = Buffer.from(await res.body.arrayBuffer())
    assert.ok(body.equals(namedBytes('other-2', 4000, { channel: 'other', quality: 'source', start: other.start }).body))
    // A Range on a channel not kept is answered whole: every request is its own checked fetch.
    const ranged = await request(url, { headers: { range: 'bytes=0-9' } })
    assert.equal(ranged.statusCode, 200)
    assert.equal((await ranged.body.arrayBuffer()).byteLength, 4000)
    assert.equal(partial.index.getSegment(other), null, 'not stored')
    const cached = await request(url, { headers: { 'cache-control': 'only-if-cached' } })
    assert.equal(cached.statusCode, 404)
    await cached.body.dump()

    // Neither end keeps walking the other for the channel the partial node does not keep.
    const walks = holder.replicator!.stats.repairs + partial.replicator!.stats.repairs
    await sleep(3000)
    assert.equal(holder.replicator!.stats.repairs + partial.replicator!.stats.repairs, walks, 'no walks once settled')
  })
})
