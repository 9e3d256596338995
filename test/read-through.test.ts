/**
 * Read-through between real nodes (libp2p over TCP and HTTP on 127.0.0.1): a node that does not
 * keep an hour (outside its window, so it never backfills it) still serves its segments, streamed
 * from the peer that holds them, and keeps the copy.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { READ_THROUGH_HEADER } from '../http/read-through.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { formatSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'
import { bytesFor } from './helpers/tree.ts'

describe('read-through between nodes', () => {
  it('a node serves a segment only a peer holds, byte for byte, and keeps it', async (t) => {
    const holder = await startNode(t)
    const body = bytesFor('read-through-e2e', 3 * 1024 * 1024)
    // Five hours ago: outside the reader's one-hour window, so replication never copies it.
    const start = hourStart(Date.now() * 1000) - 5 * MICROS_PER_HOUR
    const ref = formatSegmentRef({ channel: 'live', quality: 'source', start, duration: 2_000_000, type: 'full', hash: sha256(body) })
    await holder.store.writeSegment(ref, body)
    const reader = await startNode(t, { bootstrap: [holder], extra: { 'window-hours': '1' } })
    await until('the reader to know the holder', () => reader.replicator!.peers.get(holder.host!.peerId)?.url != null, 10_000)

    const url = `${reader.url}/segments/${segmentRelPath(ref)}`
    const local = await request(url, { headers: { 'cache-control': 'only-if-cached' } })
    assert.equal(local.statusCode, 404, 'the reader does not hold it')
    await local.body.dump()

    const res = await request(url)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers[READ_THROUGH_HEADER], 'peer')
    assert.ok(Buffer.from(await res.body.arrayBuffer()).equals(body))
    await until('the reader to keep the copy', () => reader.index.getSegment(ref) != null, 5000)
    const again = await request(url, { headers: { 'cache-control': 'only-if-cached' } })
    assert.equal(again.statusCode, 200)
    assert.ok(Buffer.from(await again.body.arrayBuffer()).equals(body))
  })
})
