/**
 * `--keep` between real nodes (libp2p over TCP and HTTP on 127.0.0.1): a node that keeps one
 * channel backfills only that one, serves the other read-through without storing it, and its
 * peer does not keep walking it for what it will not take; and it hears announcements of its
 * channel only (a gossip topic per channel bucket, replication/topics.ts).
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { READ_THROUGH_HEADER } from '../http/read-through.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { segmentRelPath } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { decodeMessage } from '../replication/messages.ts'
import { announceTopic } from '../replication/topics.ts'
import type { SegmeshNode } from '../node/segmesh-node.ts'
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

  it('a node keeping one channel hears announcements of that channel, not of the others', async (t) => {
    assert.notEqual(announceTopic('kept'), announceTopic('other'), 'the two channels share a topic bucket: pick other names')
    const recorder = await startNode(t)
    const full = await startNode(t, { bootstrap: [recorder] })
    const partial = await startNode(t, { bootstrap: [recorder], extra: { keep: 'kept' } })
    const heardBy = (node: SegmeshNode): string[] => {
      const heard: string[] = []
      node.host!.onMessage((_from, data) => {
        const decoded = decodeMessage(data)
        if (decoded.ok && decoded.message.type === 'announce') heard.push(...decoded.message.items.map((i) => i.ref.file))
      })
      return heard
    }
    const heard = { full: heardBy(full), partial: heardBy(partial) }
    let n = 0
    const record = async (channel: string): Promise<string> => {
      const { ref, body } = namedBytes(`${channel}-live-${n}`, 2000, {
        channel,
        quality: 'source',
        start: (Date.now() - 10_000) * 1000 + n++
      })
      await recorder.store.writeSegment(ref, body)
      return ref.file
    }
    // Nodes subscribe to a channel's topic once they see it (their own store, a peer's hello).
    await record('kept')
    await record('other')
    await until('the full node on both topics, the partial one on its own', () => {
      const [mine, other] = [announceTopic('kept'), announceTopic('other')]
      return (
        full.replicator!.topics.topics.includes(mine) &&
        full.replicator!.topics.topics.includes(other) &&
        partial.replicator!.topics.topics.includes(mine)
      )
    })
    assert.equal(partial.replicator!.topics.topics.includes(announceTopic('other')), false)
    // Until the meshes form, a publish may reach nobody: record on the kept channel until heard.
    await until(
      'the partial node to hear the kept channel',
      async () => {
        if (heard.partial.length > 0 && heard.full.length > 0) return true
        await record('kept')
        await sleep(200)
        return false
      },
      20_000
    )
    const others = [await record('other'), await record('other'), await record('other')]
    const last = await record('kept')
    await until(
      'both nodes to hear the last announcements',
      () => heard.partial.includes(last) && others.every((f) => heard.full.includes(f))
    )
    assert.deepEqual(
      others.filter((f) => heard.partial.includes(f)),
      [],
      'no announcement of a channel it does not keep'
    )
  })
})
