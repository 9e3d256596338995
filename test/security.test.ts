/**
 * Network security between real nodes (libp2p over TCP, HTTP, LMDB, all on 127.0.0.1): the
 * private network key, admin-signed tombstones on every path they travel, and the separate
 * admin listener.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { buildHttpApp } from '../http/app.ts'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { writeNetworkKey } from '../replication/pnet.ts'
import { readAdminKeys, segmentTarget, signTombstone, writeAdminKeyPair } from '../replication/tombstone-signature.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { segmentRelPath } from '../storage/segment-name.ts'
import { ADMIN_TOKEN, admin, startNode, until } from './helpers/network.ts'
import { formatInstant } from '../storage/time.ts'
import { bytesFor, corruptInPlace, tempDir } from './helpers/tree.ts'

// An hour well inside the 14-day window, in the past so nothing waits for a grace period.
const HOUR = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) * 1000 - 3 * 3600_000_000

async function record(node: SegmeshNode, i: number): Promise<SegmentRef> {
  const { ref } = await node.store.recordSegment(
    { channel: 'desertbus', quality: 'source', start: HOUR + i * 2_000_000, duration: 2_000_000, type: 'full' },
    bytesFor(`sec-${i}`, 4000 + i)
  )
  return ref
}

/** Bound on each wait: generous, the machine is shared (never a timing assertion). */
const WAIT = 45_000

const has = (node: SegmeshNode, ref: SegmentRef): boolean => node.index.getSegment(ref) != null
const hidden = (node: SegmeshNode, ref: SegmentRef): boolean => node.index.isTombstoned(ref) && node.index.getSegment(ref) == null

async function post(
  url: string,
  body: unknown,
  token: string | null = ADMIN_TOKEN
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${url}/admin/tombstone`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token != null ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body)
  })
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> }
}

describe('private network', () => {
  it('nodes with the same key replicate; a node with another key never joins nor gets a byte', async (t) => {
    const dir = await tempDir(t)
    await writeNetworkKey(join(dir, 'net.key'))
    await writeNetworkKey(join(dir, 'other.key'))
    const a = await startNode(t, { extra: { 'network-key': join(dir, 'net.key') } })
    const outsider = await startNode(t, { bootstrap: [a], extra: { 'network-key': join(dir, 'other.key') } })
    const b = await startNode(t, { bootstrap: [a], extra: { 'network-key': join(dir, 'net.key') } })
    const seg = await record(a, 0)
    await until('the segment on B', () => has(b, seg), WAIT)
    await outsider.replicator!.syncNow()
    assert.deepEqual(outsider.host!.connectedPeers(), [])
    assert.ok(!a.host!.connectedPeers().includes(outsider.host!.peerId))
    assert.ok(!has(outsider, seg))
  })
})

describe('signed tombstones', () => {
  it("a compromised peer cannot delete footage; the admin's signed tombstones reach everyone, late joiners too", async (t) => {
    const dir = await tempDir(t)
    const key = join(dir, 'admin.key')
    const { publicKeyPath } = await writeAdminKeyPair(key)
    const verifying = { 'admin-public-key': publicKeyPath }
    // A: the admin's node (signs). B: a node that checks. M: a compromised node with no keys.
    const a = await startNode(t, { extra: { ...verifying, 'admin-signing-key': key } })
    const b = await startNode(t, { bootstrap: [a], extra: verifying })
    const m = await startNode(t, { bootstrap: [a] })
    const [unsigned, forged, signed] = [await record(a, 0), await record(a, 1), await record(a, 2)]
    await until('the segments on B and M', () => [unsigned, forged, signed].every((s) => has(b, s) && has(m, s)), WAIT)

    // M tombstones one segment unsigned, and one with a signature by a key that is not the admin's.
    assert.equal((await admin(m, '/admin/tombstone', { segment: segmentRelPath(unsigned) })).status, 201)
    const stranger = generateKeyPairSync('ed25519').privateKey
    const proof = signTombstone(
      { channel: forged.channel, quality: forged.quality, target: segmentTarget(forged), created: Date.now() * 1000, reason: 'forged' },
      stranger
    )
    assert.equal((await admin(m, '/admin/tombstone', { segment: segmentRelPath(forged), proof })).status, 201)
    assert.ok(hidden(m, unsigned) && hidden(m, forged))
    // Gossip came and went; repair sessions against M's differing digest see the same tombstones.
    await until('B refused both, by gossip and by repair', () => b.replicator!.stats.tombstonesRejected >= 4, WAIT)
    for (const n of [a, b]) await n.replicator!.syncNow()
    for (const n of [a, b]) assert.ok(has(n, unsigned) && has(n, forged), 'the segments survive on A and B')
    const penalties = b.host!.scoreStats().penalties
    assert.ok(penalties.unsigned_tombstone > 0 && penalties.bad_tombstone_signature > 0, JSON.stringify(penalties))
    const metrics = await (await request(`${b.url}/metrics`)).body.text()
    assert.match(metrics, /^segmesh_tombstones_rejected_total [1-9]/m)

    // M kept at it (every repair pass sees its tombstones again): both honest nodes cut it off.
    await until('M banned by A and B', () => [a, b].every((n) => n.host!.scoreStats().banned.includes(m.host!.peerId)), WAIT)
    assert.ok(!a.host!.connectedPeers().includes(m.host!.peerId) && !b.host!.connectedPeers().includes(m.host!.peerId))
    // M leaves. Here every node shares 127.0.0.1, and M's redials of the nodes that banned it (one
    // every few ms) spent their per-IP inbound allowance (libp2p: 5 connections/s): the late joiner's
    // dials were refused for as long as M ran, past WAIT in a loaded suite. Distinct hosts would not
    // share it. A joiner refused in M's last second is let in by its redial timer.
    await m.stop(500)

    // The admin tombstones through A, which signs: it reaches B, which checks it.
    assert.equal((await admin(a, '/admin/tombstone', { segment: segmentRelPath(signed), reason: 'DMCA takedown' })).status, 201)
    await until('the signed tombstone on B', () => hidden(b, signed), WAIT)
    const stored = b.index.tombstoneProof(signed)
    assert.ok(stored != null && stored === a.index.tombstoneProof(signed), 'B stores the signature A made')

    // A late joiner gets it by repair (the announcement is long gone), signature and all.
    const late = await startNode(t, { bootstrap: [b], extra: verifying })
    await until('the late joiner converged with B', () => hidden(late, signed) && has(late, unsigned) && has(late, forged), WAIT)
    assert.equal(late.index.tombstoneProof(signed), stored)
    assert.ok(!late.index.isTombstoned(unsigned) && !late.index.isTombstoned(forged))
  })

  it('an unsigned tombstone from before the key is signed in place when the admin tombstones it again, and then spreads', async (t) => {
    const dir = await tempDir(t)
    const key = join(dir, 'admin.key')
    const { publicKeyPath } = await writeAdminKeyPair(key)
    const a = await startNode(t, { extra: { 'admin-signing-key': key } })
    const b = await startNode(t, { bootstrap: [a], extra: { 'admin-public-key': publicKeyPath } })
    const seg = await record(a, 0)
    await until('the segment on B', () => has(b, seg), WAIT)
    // Made before signatures existed: straight through the store, as an old node would have.
    await a.store.writeTombstone(seg)
    await until('B refused it', () => b.replicator!.stats.tombstonesRejected >= 1, WAIT)
    assert.ok(has(b, seg))
    const res = await admin(a, '/admin/tombstone', { segment: segmentRelPath(seg), reason: 're-signed' })
    assert.equal(res.status, 200) // already tombstoned on A: nothing new to hide there
    const proof = a.index.tombstoneProof(seg)
    assert.ok(proof != null)
    assert.equal(await readFile(join(a.store.hourDir(seg), `${seg.file.slice(0, -3)}.tombstone`), 'utf8'), proof)
    await until('the signed tombstone on B', () => hidden(b, seg), WAIT)
    assert.equal(b.index.tombstoneProof(seg), proof)
  })

  it('legacy backfill (HTTP listings only) applies signed tombstones and refuses unsigned ones', async (t) => {
    const dir = await tempDir(t)
    const key = join(dir, 'admin.key')
    const { publicKeyPath } = await writeAdminKeyPair(key)
    const adminKey = (await readAdminKeys({ signing: key, public: null })).adminSigningKey!
    const source = await startNode(t, { announce: false })
    const [unsigned, signed] = [await record(source, 0), await record(source, 1)]
    await source.store.writeTombstone(unsigned)
    await source.store.writeTombstone(signed, {
      proof: signTombstone(
        { channel: signed.channel, quality: signed.quality, target: segmentTarget(signed), created: Date.now() * 1000, reason: '' },
        adminKey
      )
    })
    // No bootstrap: the listings of --legacy-peers are the only way in.
    const node = await startNode(t, { extra: { 'legacy-peers': [source.url], 'admin-public-key': publicKeyPath } })
    await until(
      'the signed tombstone applied, the unsigned one refused',
      () => node.index.isTombstoned(signed) && node.replicator!.stats.tombstonesRejected >= 1,
      WAIT
    )
    assert.equal(node.index.tombstoneProof(signed), source.index.tombstoneProof(signed))
    assert.ok(!node.index.isTombstoned(unsigned))
    // The segment the refused tombstone named can still live here (a tombstoned name could not).
    assert.deepEqual(await record(node, 0), unsigned)
    assert.ok(has(node, unsigned))
  })

  it('the admin API checks client-signed proofs and refuses unsigned requests on a checking node', async (t) => {
    const dir = await tempDir(t)
    const key = join(dir, 'admin.key')
    const { publicKeyPath } = await writeAdminKeyPair(key)
    const node = await startNode(t, { extra: { 'admin-public-key': publicKeyPath }, announce: false })
    const [one, two] = [await record(node, 0), await record(node, 1)]
    const unsigned = await admin(node, '/admin/tombstone', { segment: segmentRelPath(one) })
    assert.equal(unsigned.status, 400)
    assert.equal((unsigned.json as { error?: string }).error, 'signature_required')
    // A proof for another segment, or by another key, is refused before anything is written.
    const { readAdminSigningKey } = await import('../replication/tombstone-signature.ts')
    const adminKey = await readAdminSigningKey(key)
    const forTwo = signTombstone(
      { channel: two.channel, quality: two.quality, target: segmentTarget(two), created: Date.now() * 1000, reason: '' },
      adminKey
    )
    const wrong = await admin(node, '/admin/tombstone', { segment: segmentRelPath(one), proof: forTwo })
    assert.equal(wrong.status, 400)
    assert.ok(has(node, one))
    // A range proof signed client-side covers the segments it names.
    const range = signTombstone(
      {
        channel: 'desertbus',
        quality: 'source',
        target: { from: HOUR, to: HOUR + 4_000_000 },
        created: Date.now() * 1000,
        reason: 'range'
      },
      adminKey
    )
    const ok = await admin(node, '/admin/tombstone', {
      channel: 'desertbus',
      quality: 'source',
      start: formatInstant(HOUR),
      end: formatInstant(HOUR + 4_000_000),
      proof: range
    })
    assert.equal(ok.status, 201, JSON.stringify(ok.json))
    assert.deepEqual(ok.json.tombstoned, [segmentRelPath(one), segmentRelPath(two)])
    assert.equal(node.index.tombstoneProof(one), range)
  })
})

describe('peer quotas', () => {
  it('a client over its /replication quota gets 429 with Retry-After; other clients, routes and loopback go on', async (t) => {
    const node = await startNode(t, { announce: false })
    const app = await buildHttpApp({ index: node.index, store: node.store, selector: node.selector }, { metrics: false })
    t.after(async () => await app.close())
    const get = async (url: string, remoteAddress: string): Promise<{ status: number; retryAfter: unknown; error?: string }> => {
      const res = await app.inject({ method: 'GET', url, remoteAddress })
      return {
        status: res.statusCode,
        retryAfter: res.headers['retry-after'],
        error: res.statusCode === 429 ? res.json<{ error: string }>().error : undefined
      }
    }
    const statuses: number[] = []
    // The default burst is 100: 150 requests in a row are bound to pass it.
    for (let i = 0; i < 150; i++) statuses.push((await get('/replication/digests?from=0', '192.0.2.7')).status)
    assert.ok(
      statuses.slice(0, 90).every((s) => s === 200),
      'the burst passes'
    )
    assert.ok(statuses.includes(429))
    assert.deepEqual(await get('/replication/digests?from=0', '192.0.2.7'), { status: 429, retryAfter: '1', error: 'rate_limited' })
    assert.equal((await get('/replication/digests?from=0', '192.0.2.8')).status, 200, 'another client has its own quota')
    assert.equal((await get('/files', '192.0.2.7')).status, 200, "viewers' routes are not limited")
    for (let i = 0; i < 150; i++) assert.equal((await get('/replication/digests?from=0', '127.0.0.1')).status, 200)
  })
})

describe('bad bytes', () => {
  it('a peer serving bytes that do not match their names is scored down per segment, then cut off', async (t) => {
    const liar = await startNode(t)
    // 25 points a bad name, halving every minute: six leave room for a slow machine.
    const segs = await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => await record(liar, i)))
    // Corrupt every copy in place, keeping size and mtime, so they are served as if fine.
    for (const seg of segs) await corruptInPlace(liar.store.pathOf(seg))
    const victim = await startNode(t, { bootstrap: [liar] })
    await until('the liar banned', () => victim.host!.scoreStats().banned.includes(liar.host!.peerId), WAIT)
    await victim.replicator!.syncNow()
    // The ban (at 100 points: 4 bad names) also stops the HTTP side: names not yet asked are not asked.
    const counted = victim.host!.scoreStats().penalties.bad_hash
    assert.ok(counted >= 4 && counted <= segs.length, `one penalty per bad name, not per retry (${counted})`)
    for (const seg of segs) assert.equal(victim.index.getSegment(seg, { hidden: true }), null)
    await until('the liar disconnected', () => !victim.host!.connectedPeers().includes(liar.host!.peerId), WAIT)
  })
})

describe('segment size limit', () => {
  it('a download over --max-segment-mb is aborted and the segment not stored', async (t) => {
    const a = await startNode(t)
    const b = await startNode(t, { bootstrap: [a], extra: { 'max-segment-mb': '1' } })
    const { ref: big } = await a.store.recordSegment(
      { channel: 'desertbus', quality: 'source', start: HOUR, duration: 2_000_000, type: 'full' },
      bytesFor('big', 1536 * 1024)
    )
    const small = await record(a, 1)
    await until('the small segment on B', () => has(b, small), WAIT)
    await until('the big one refused', () => (b.fetcher!.stats().fetchErrors.too_large ?? 0) >= 1, WAIT)
    assert.ok(!has(b, big))
  })
})

describe('serving', () => {
  it('a segment file whose size changed since it was indexed is not served', async (t) => {
    const node = await startNode(t, { announce: false })
    const seg = await record(node, 0)
    const url = `${node.url}/segments/${segmentRelPath(seg)}`
    assert.equal((await request(url)).statusCode, 200)
    const path = node.store.pathOf(seg)
    await writeFile(path, (await readFile(path)).subarray(0, 1000))
    const res = await request(url)
    assert.equal(res.statusCode, 404)
    assert.match(((await res.body.json()) as { message: string }).message, /changed on disk/)
  })
})

describe('admin listener', () => {
  it('with --admin-host, /admin is served only there and still needs the token', async (t) => {
    const node = await startNode(t, { extra: { 'admin-host': '127.0.0.1', 'admin-port': '0' }, announce: false })
    const seg = await record(node, 0)
    assert.notEqual(node.adminUrl, node.url)
    const body = { segment: segmentRelPath(seg) }
    const publicTry = await post(node.url, body)
    assert.equal(publicTry.status, 404)
    assert.equal(publicTry.json.error, 'not_found')
    assert.equal((await post(node.adminUrl, body, null)).status, 401)
    assert.equal((await post(node.adminUrl, body, 'wrong')).status, 403)
    // Nothing but admin on the admin listener.
    assert.equal((await request(`${node.adminUrl}/files`)).statusCode, 404)
    assert.ok(has(node, seg))
    assert.equal((await post(node.adminUrl, body)).status, 201)
    assert.ok(hidden(node, seg))
    // The public listener serves everything else as before.
    assert.equal((await request(`${node.url}/files`)).statusCode, 200)
  })

  it('without it, /admin is on the main listener', async (t) => {
    const node = await startNode(t, { announce: false })
    const seg = await record(node, 0)
    assert.equal(node.adminUrl, node.url)
    assert.equal((await post(node.url, { segment: segmentRelPath(seg) }, null)).status, 401)
    assert.equal((await post(node.url, { segment: segmentRelPath(seg) })).status, 201)
  })
})
