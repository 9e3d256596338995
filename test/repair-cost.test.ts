/**
 * What a repair moves between two real nodes whose 30-day, 8-quality indexes differ by one
 * segment, counted at the sockets (every byte both HTTP ends wrote), not estimated. The newest
 * hour is recorded densely (2 s segments, 1,800 names per quality) and the one difference sits in
 * it: its whole listing alone would be about 130 KB.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type net from 'node:net'
import { describe, it } from 'node:test'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { ONE_HOST_FLAGS } from '../simulations/sim-node.ts'
import { SocketBytes, watchSockets } from '../simulations/socket-bytes.ts'
import type { IndexChange } from '../storage/segment-index.ts'
import { formatSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'

const QUALITIES = ['c0', 'c1', 'c2', 'c3'].flatMap(
  (c) =>
    [
      [c, 'source'],
      [c, '480p']
    ] as const
)
const DAYS = 30
const NEWEST = hourStart(Date.now() * 1000)

/** The same archive on both nodes: one segment a minute for 30 days, every 2 s in the newest hour. */
async function fill(node: SegmeshNode): Promise<number> {
  let batch: IndexChange[] = []
  let total = 0
  const put = async (channel: string, quality: string, start: number, duration: number): Promise<void> => {
    const hash = createHash('sha256').update(`${channel}/${quality}/${start}`).digest()
    batch.push({
      op: 'put-segment',
      ref: formatSegmentRef({ channel, quality, start, duration, type: 'full', hash }),
      size: 800_000,
      mtimeMs: 1
    })
    total++
    if (batch.length >= 20_000) {
      await node.index.apply(batch)
      batch = []
    }
  }
  for (const [channel, quality] of QUALITIES) {
    for (let h = DAYS * 24 - 1; h >= 1; h--) {
      for (let m = 0; m < 60; m++) await put(channel, quality, NEWEST - h * MICROS_PER_HOUR + m * 60_000_000, 2_000_000)
    }
    for (let s = 0; s < 1800; s++) await put(channel, quality, NEWEST + s * 2_000_000, 2_000_000)
  }
  await node.index.apply(batch)
  return total
}

describe('repair cost', () => {
  it('two nodes differing by one segment in a 30-day, 8-quality archive exchange a few KB', async (t) => {
    // A long interval: the repair runs on the connection's hello and the first quick rounds only.
    const options = { digestIntervalSeconds: 3600, announce: false, extra: { ...ONE_HOST_FLAGS, 'window-hours': String(DAYS * 24) } }
    // Filled apart, then connected: no repair may see one half-filled.
    const a = await startNode(t, options)
    const b = await startNode(t, options)
    const names = await fill(a)
    await fill(b)
    const body = Buffer.from('one segment only b has')
    const extra = formatSegmentRef({
      channel: 'c0',
      quality: 'source',
      start: NEWEST + 1_000_000,
      duration: 1_000_000,
      type: 'full',
      hash: createHash('sha256').update(body).digest()
    })
    await b.store.writeSegment(extra, body)

    const ports = new Set([new URL(a.url).port, new URL(b.url).port].map(Number))
    const http = new SocketBytes<'http'>()
    const track = (socket: net.Socket): void => {
      if (ports.has(socket.localPort ?? -1) || ports.has(socket.remotePort ?? -1)) http.track(socket, 'http')
    }
    watchSockets({ accepted: track, opening: () => track })
    await b.host!.keepConnected(a.host!.peerId, a.host!.multiaddrs())
    await until('a to hold the segment only b had', () => a.index.getSegment(extra) != null, 20_000)
    await Promise.all([a.replicator!.syncNow(), b.replicator!.syncNow()])
    const bytes = http.totals(['http']).http
    const requests = a.replicator!.stats.rangeRequests + b.replicator!.stats.rangeRequests
    console.log(
      `# ${names} names per node; repair moved ${bytes} B over HTTP (both ways, ${requests} range requests, one ${body.length} B segment included)`
    )
    assert.ok(requests > 0, 'the nodes repaired by ranges')
    assert.ok(bytes <= 8 * 1024, `${bytes} B moved`)
  })
})
