/**
 * Replication between real nodes: libp2p gossip over TCP, backfill over HTTP, all on 127.0.0.1.
 */
import { LEGACY_TOPIC } from '../replication/topics.ts'
import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { sha256 } from '../storage/segment-hash.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { segmentRelPath } from '../storage/segment-name.ts'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { freePorts } from '../lib/free-ports.ts'
import { bytesFor, corruptInPlace } from './helpers/tree.ts'
import { admin, startNode, until } from './helpers/network.ts'

// An hour well inside the 14-day window, in the past so nothing waits for a grace period.
const HOUR = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) * 1000 - 3 * 3600_000_000

async function record(node: SegmeshNode, i: number, seed = `seg-${i}`): Promise<SegmentRef> {
  const { ref } = await node.store.recordSegment(
    { channel: 'desertbus', quality: 'source', start: HOUR + i * 2_000_000, duration: 2_000_000, type: 'full' },
    bytesFor(seed, 5000 + i)
  )
  return ref
}

const has = (node: SegmeshNode, ref: SegmentRef): boolean => node.index.getSegment(ref) != null
const hidden = (node: SegmeshNode, ref: SegmentRef): boolean => node.index.isTombstoned(ref) && node.index.getSegment(ref) == null
const listing = (node: SegmeshNode): string[] =>
  node.index.listHour('desertbus', 'source', HOUR - (HOUR % 3600_000_000), { tombstones: true }).sort()
const fetched = (node: SegmeshNode): number => node.fetcher!.stats().segmentsFetched

describe('replication', () => {
  it('spreads segments through a bootstrap node, and tombstones win for good', async (t) => {
    const a = await startNode(t)
    const b = await startNode(t, { bootstrap: [a] })
    const c = await startNode(t, { bootstrap: [a] })
    const seg = await record(c, 0)
    await until("C's segment on B", () => has(b, seg))
    await until("C's segment on A", () => has(a, seg))

    const res = await admin(b, '/admin/tombstone', { segment: segmentRelPath(seg) })
    assert.equal(res.status, 201)
    await until('the tombstone on A and C', () => hidden(a, seg) && hidden(c, seg))

    // A drops the bytes. C still holds them (hidden); a fourth node that never saw the tombstone
    // holds and offers them too. A must never fetch them again.
    const purged = await admin(a, '/admin/purge', {})
    assert.deepEqual(purged.json.purged, [segmentRelPath(seg)])
    const before = fetched(a)
    const d = await startNode(t)
    await record(d, 0)
    assert.ok(has(d, seg))
    await a.host!.keepConnected(d.host!.peerId, d.host!.multiaddrs())
    await until('the tombstone on D', () => hidden(d, seg))
    d.store.emit({ kind: 'segment', ref: seg }) // D announces it again, as a stale peer would
    for (const n of [a, b, c, d]) await n.replicator!.syncNow()
    assert.equal(fetched(a), before, 'A fetched nothing after the tombstone')
    assert.equal(a.index.getSegment(seg, { hidden: true }), null, 'no bytes came back on A')
    await assert.rejects(stat(a.store.pathOf(seg)), { code: 'ENOENT' })
    for (const n of [a, b, c, d]) assert.ok(hidden(n, seg))
  })

  it('keeps replicating without the bootstrap node, which catches up after a restart with the same id', async (t) => {
    // A fixed port outside the ephemeral range: while A is down, B's and C's redials of it must
    // not take it as their own source port (see freePorts).
    const [aPort] = (await freePorts(1)) as [number]
    const a = await startNode(t, { p2pPort: aPort })
    const aId = a.host!.peerId
    const aData = a.config.dataDir
    const b = await startNode(t, { bootstrap: [a] })
    const c = await startNode(t, { bootstrap: [a] })
    await record(c, 0)
    // B and C learn each other from gossip and keep a direct connection.
    await until('B and C connected directly', () => b.host!.connectedPeers().includes(c.host!.peerId))
    await a.stop(500)

    const seg = await record(c, 1)
    await until("C's segment on B without A", () => has(b, seg))

    const a2 = await startNode(t, { data: aData, p2pPort: aPort })
    assert.equal(a2.host!.peerId, aId, 'same peer id from the data folder')
    await until('A caught up', () => has(a2, seg))
  })

  it('discards wrong bytes from a lying peer and takes them from an honest one', async (t) => {
    const liar = await startNode(t)
    const seg = await record(liar, 0)
    // Corrupt the liar's copy in place, keeping size and mtime so it is served as if fine.
    await corruptInPlace(liar.store.pathOf(seg))

    const victim = await startNode(t, { bootstrap: [liar] })
    await until('a hash mismatch counted', () => victim.fetcher!.stats().hashMismatches >= 1)
    await victim.replicator!.syncNow()
    assert.equal(victim.index.getSegment(seg, { hidden: true }), null, 'nothing indexed from the liar')

    const honest = await startNode(t)
    await record(honest, 0)
    await victim.host!.keepConnected(honest.host!.peerId, honest.host!.multiaddrs())
    await until('the segment from the honest peer', () => has(victim, seg))
    assert.equal(sha256(await readFile(victim.store.pathOf(seg))).toString('base64url'), seg.hash!.toString('base64url'))
  })

  it('converges through digests alone after two groups that could not reach each other meet', async (t) => {
    const announce = false
    const p = await startNode(t, { announce })
    const q = await startNode(t, { announce, bootstrap: [p] })
    const r = await startNode(t, { announce })
    const s = await startNode(t, { announce, bootstrap: [r] })
    // Everyone starts with the same segment.
    const shared = await Promise.all([p, q, r, s].map(async (n) => await record(n, 0, 'shared')))
    const x = shared[0]!

    // Apart: each side gains segments and tombstones.
    await admin(p, '/admin/tombstone', { segment: segmentRelPath(x) })
    const onQ = await record(q, 1)
    const onR = await record(r, 2)
    const y = await record(s, 3)
    await admin(r, '/admin/tombstone', { segment: segmentRelPath(y) })
    await until(
      'each group converged inside itself',
      () => JSON.stringify(listing(p)) === JSON.stringify(listing(q)) && JSON.stringify(listing(r)) === JSON.stringify(listing(s))
    )
    assert.notDeepEqual(listing(p), listing(r))
    assert.ok(has(r, x), 'the tombstone has not crossed yet')

    // They meet.
    await s.host!.keepConnected(p.host!.peerId, p.host!.multiaddrs())
    const nodes = [p, q, r, s]
    await until('all four agree', () => nodes.every((n) => JSON.stringify(listing(n)) === JSON.stringify(listing(p))), 30_000)
    for (const n of nodes) {
      assert.ok(hidden(n, x) && hidden(n, y), 'both tombstones won everywhere')
      assert.ok(has(n, onQ) && has(n, onR))
      assert.equal(n.replicator!.stats.announcedItems, 0, 'no announcement was ever sent')
    }
  })

  it('brings a node that joins late up to date', async (t) => {
    const a = await startNode(t)
    const b = await startNode(t, { bootstrap: [a] })
    const refs: SegmentRef[] = []
    for (let i = 0; i < 20; i++) refs.push(await record(i % 2 === 0 ? a : b, i))
    await admin(a, '/admin/tombstone', { segment: segmentRelPath(refs[5]!) })
    const late = await startNode(t, { bootstrap: [b] })
    await until('the late node has everything', () => refs.every((r, i) => (i === 5 ? hidden(late, r) : has(late, r))), 20_000)
    assert.deepEqual(listing(late), listing(a))
  })

  it('counts and drops malformed gossip', async (t) => {
    const a = await startNode(t)
    const b = await startNode(t, { bootstrap: [a] })
    await until('connected', () => b.host!.connectedPeers().length > 0)
    await until(
      'a gossip mesh',
      async () => (await a.host!.publish(new TextEncoder().encode('{"v":1,"type":"nonsense"}'), LEGACY_TOPIC)) > 0
    )
    await a.host!.publish(new Uint8Array([0xff, 0x00, 0x13]), LEGACY_TOPIC)
    // Rejected by the host's gossip validator (never relayed), before the replicator sees them.
    await until('invalid messages counted', () => b.host!.gossipDropped.malformed >= 2)
    const metrics = await (await fetch(`${b.url}/metrics`)).text()
    assert.match(metrics, /segmesh_gossip_messages_invalid_total [1-9]/)
    const status = (await (await fetch(`${b.url}/status`)).json()) as {
      peerId: string
      peers: Array<{ peerId: string; connected: boolean }>
    }
    assert.equal(status.peerId, b.host!.peerId)
  })

  it('stops at once while segments wait on a peer that cannot be reached', async (t) => {
    // A's public URL names a port nobody listens on: B hears of A's segments by gossip, and every
    // download attempt fails to connect and backs off (up to a minute, five times).
    const [deadPort] = (await freePorts(1)) as [number]
    const a = await startNode(t, { extra: { 'public-url': `http://127.0.0.1:${deadPort}` } })
    const b = await startNode(t, { bootstrap: [a] })
    await record(a, 0)
    await record(a, 1)
    await until('B failed to reach A', () => b.fetcher!.stats().fetchErrors.connect > 0)
    // The replicator's stop used to wait for its wants, queued behind that backoff: 18 s here. A
    // stop takes well under a second; the bound only tells a hang from a busy machine.
    const stopped = b.stop(500).then(() => 'stopped')
    const hung = new Promise((resolve) => setTimeout(resolve, 8000).unref()).then(() => 'still waiting after 8 s')
    assert.equal(await Promise.race([stopped, hung]), 'stopped')
  })
})
