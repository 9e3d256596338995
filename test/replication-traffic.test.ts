/**
 * What replication costs on the wire, between real nodes on 127.0.0.1: a segment is announced once
 * (by the node that recorded it), and a change in the live hour does not pull a peer's whole window
 * of digests.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { bytesFor } from './helpers/tree.ts'
import { startNode, until } from './helpers/network.ts'

async function record (node: SegmeshNode, start: number, seed: string): Promise<SegmentRef> {
  const { ref } = await node.store.recordSegment({ channel: 'desertbus', quality: 'source', start, duration: 2_000_000, type: 'full' }, bytesFor(seed, 3000))
  return ref
}

const has = (node: SegmeshNode, ref: SegmentRef): boolean => node.index.getSegment(ref) != null
const announced = (node: SegmeshNode): number => node.replicator!.stats.announcedItems

/** `from` of every `/replication/digests` request the node makes from now on. */
function digestRequests (node: SegmeshNode): number[] {
  const froms: number[] = []
  const fetcher = node.fetcher!
  const getJson = fetcher.getJson.bind(fetcher)
  fetcher.getJson = async (url, path, options) => {
    const m = /^\/replication\/digests\?from=(\d+)$/.exec(path)
    if (m != null) froms.push(Number(m[1]))
    return await getJson(url, path, options)
  }
  return froms
}

describe('replication traffic', () => {
  it('announces a segment once: the nodes that fetch it do not echo it', async (t) => {
    const a = await startNode(t)
    const b = await startNode(t, { bootstrap: [a] })
    const c = await startNode(t, { bootstrap: [a] })
    const seg = await record(c, Date.now() * 1000 - 60_000_000, 'once')
    await until('the segment on A and B', () => has(a, seg) && has(b, seg))
    // An echo would be published one announce batch (50 ms) after each fetch.
    await sleep(500)
    assert.deepEqual([announced(a), announced(b), announced(c)], [0, 0, 1])
  })

  it('asks a peer for its newest hours\' digests when only they differ, for the whole window otherwise', async (t) => {
    const a = await startNode(t, { announce: false, digestIntervalSeconds: 600 })
    const b = await startNode(t, { bootstrap: [a], announce: false, digestIntervalSeconds: 600 })
    const now = Date.now() * 1000
    const tailFrom = hourStart(now) - MICROS_PER_HOUR
    const old = hourStart(now) - 5 * MICROS_PER_HOUR
    await until('B connected to A', () => b.host!.connectedPeers().includes(a.host!.peerId))
    const froms = digestRequests(b)

    const live = await record(a, now - 10_000_000, 'live')
    await until('the live segment on B', async () => {
      await b.replicator!.syncNow()
      return has(b, live)
    })
    assert.ok(froms.length > 0, 'B compared digests over HTTP')
    assert.ok(froms.every((from) => from >= tailFrom), `digests asked from ${froms.join(', ')}, tail from ${tailFrom}`)

    froms.length = 0
    const older = await record(a, old + 4_000_000, 'old')
    await until('the old segment on B', async () => {
      await b.replicator!.syncNow()
      return has(b, older)
    })
    assert.ok(froms.some((from) => from <= old), `digests asked from ${froms.join(', ')}: the window was never asked for`)
  })
})
