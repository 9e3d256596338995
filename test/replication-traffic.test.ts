/**
 * What replication costs on the wire, between real nodes on 127.0.0.1: a segment is announced once
 * (by the node that recorded it), and a difference, live or old, is found with a few range
 * requests and one short listing, never a whole window of digests or a whole hour's listing.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { bytesFor } from './helpers/tree.ts'
import { startNode, until } from './helpers/network.ts'

async function record(node: SegmeshNode, start: number, seed: string): Promise<SegmentRef> {
  const { ref } = await node.store.recordSegment(
    { channel: 'desertbus', quality: 'source', start, duration: 2_000_000, type: 'full' },
    bytesFor(seed, 3000)
  )
  return ref
}

const has = (node: SegmeshNode, ref: SegmentRef): boolean => node.index.getSegment(ref) != null
const announced = (node: SegmeshNode): number => node.replicator!.stats.announcedItems

/** Every JSON request path the nodes make to peers from now on. */
function jsonRequests(nodes: SegmeshNode[]): string[] {
  const paths: string[] = []
  for (const node of nodes) {
    const fetcher = node.fetcher!
    const getJson = fetcher.getJson.bind(fetcher)
    fetcher.getJson = async (url, path, options) => {
      paths.push(path)
      return await getJson(url, path, options)
    }
  }
  return paths
}

/** [from, to) of the `/replication/names` requests among `paths`. */
function listed(paths: string[]): Array<[number, number]> {
  return paths.flatMap((p) => {
    const m = /^\/replication\/names\?.*&from=(\d+)&to=(\d+)$/.exec(p)
    return m == null ? [] : [[Number(m[1]), Number(m[2])] as [number, number]]
  })
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

  it('finds a live or an old difference with a few range requests and one short listing', async (t) => {
    const a = await startNode(t, { announce: false, digestIntervalSeconds: 600 })
    const b = await startNode(t, { bootstrap: [a], announce: false, digestIntervalSeconds: 600 })
    const now = Date.now() * 1000
    const old = hourStart(now) - 5 * MICROS_PER_HOUR
    await until('B connected to A', () => b.host!.connectedPeers().includes(a.host!.peerId))
    await Promise.all([a.replicator!.syncNow(), b.replicator!.syncNow()])
    const paths = jsonRequests([a, b])

    for (const [start, seed] of [
      [now - 10_000_000, 'live'],
      [old + 4_000_000, 'old']
    ] as const) {
      paths.length = 0
      const offered = a.replicator!.stats.offered
      const seg = await record(a, start, seed)
      // Whichever end walks (the smaller peer id), one side's sync brings it to B.
      await until(`the ${seed} segment on B`, async () => {
        await Promise.all([a.replicator!.syncNow(), b.replicator!.syncNow()])
        return has(b, seg)
      })
      assert.ok(!paths.some((p) => p.startsWith('/replication/digests')), `no window of digests: ${paths.join(' ')}`)
      const ranges = paths.filter((p) => p.startsWith('/replication/ranges')).length
      assert.ok(ranges > 0 && ranges <= 8, `${ranges} range requests: ${paths.join(' ')}`)
      // Listed: only small parts around it (a part is listed once the peer holds at most 16 names in it), never an hour listing.
      assert.ok(!paths.some((p) => p.startsWith('/files/')), `no hour listing: ${paths.join(' ')}`)
      // B walked and listed a part holding it, or A walked and offered it to B.
      const found = listed(paths).some(([from, to]) => from <= seg.start && seg.start < to) || a.replicator!.stats.offered > offered
      assert.ok(found, `listed ${JSON.stringify(listed(paths))} for ${seg.start}, offers ${a.replicator!.stats.offered - offered}`)
    }
  })
})
