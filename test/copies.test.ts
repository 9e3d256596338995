/**
 * Copies per hour between real nodes (libp2p over TCP and HTTP on 127.0.0.1): three nodes built to
 * hold known sets of three old hours (outside their one-hour window, so replication leaves them
 * as built); `/copies` on the first counts, per hour, the nodes that hold exactly its set.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { request } from 'undici'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { MICROS_PER_HOUR, formatHour, formatInstant, hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'
import { namedBytes } from './helpers/tree.ts'

const H0 = hourStart(Date.now() * 1000) - 7 * MICROS_PER_HOUR
const H1 = H0 + MICROS_PER_HOUR
const H2 = H0 + 2 * MICROS_PER_HOUR

/** Segments `from` to `to` (exclusive) of an hour, the same names on every node. */
async function hold(node: SegmeshNode, hourUs: number, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const { ref, body } = namedBytes(`copies-${hourUs}-${i}`, 500, { channel: 'live', quality: 'source', start: hourUs + i * 2_000_000 })
    await node.store.writeSegment(ref, body)
  }
}

describe('copies per hour', () => {
  it('counts the nodes holding exactly this node’s set of each hour', async (t) => {
    const extra = { 'window-hours': '1' }
    const b = await startNode(t, { announce: false, extra })
    const c = await startNode(t, { announce: false, extra })
    await hold(b, H0, 0, 3) // only B holds H0
    await hold(b, H1, 0, 4) // H1: B as A, C a part
    await hold(c, H1, 0, 2)
    await hold(b, H2, 0, 1) // H2: B a part, A more, C none
    const a = await startNode(t, { announce: false, extra, bootstrap: [b, c] })
    await hold(a, H1, 0, 4)
    await hold(a, H2, 0, 2)
    // Their hours are older than every window: no roots; A knows them by their hello (URL).
    await until('A to know both peers', () => [b, c].every((n) => a.replicator!.peers.get(n.host!.peerId)?.url != null))

    const res = await request(`${a.url}/copies/live/source?start=${formatInstant(H0)}&end=${formatInstant(H2 + MICROS_PER_HOUR)}`)
    assert.equal(res.statusCode, 200)
    const view = (await res.body.json()) as {
      minCopies: number
      belowMinCopies: number
      peers: { holding: number; asked: number; failed: number }
      hours: Array<{ hour: string; segments: number; copies: number; holders: number; agreeing: number }>
    }
    assert.deepEqual(view.peers, { holding: 2, asked: 2, failed: 0 })
    assert.equal(view.minCopies, 2)
    assert.deepEqual(view.hours, [
      { hour: formatHour(H0), segments: 0, copies: 0, holders: 1, agreeing: 1 },
      { hour: formatHour(H1), segments: 4, copies: 2, holders: 3, agreeing: 2 },
      { hour: formatHour(H2), segments: 2, copies: 1, holders: 2, agreeing: 1 }
    ])
    assert.equal(view.belowMinCopies, 1, 'H2: held here and nowhere else as it is here')

    const bad = await request(`${a.url}/copies/live/source?start=${formatInstant(H0)}&end=${formatInstant(H0 + 40 * 24 * MICROS_PER_HOUR)}`)
    assert.equal(bad.statusCode, 400)
    assert.equal(((await bad.body.json()) as { error: string }).error, 'range_too_long')
  })
})
