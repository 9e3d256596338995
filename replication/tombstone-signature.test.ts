import assert from 'node:assert/strict'
import { generateKeyPairSync, sign } from 'node:crypto'
import { readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { preSharedKey } from '@libp2p/pnet'
import { Reconciler } from '../storage/reconcile.ts'
import { T0, openStore, ref, tempDir } from '../test/helpers/tree.ts'
import { type AnnouncedItem, MAX_MESSAGE_BYTES, announceMessages, decodeMessage, encodeMessage } from './messages.ts'
import { newNetworkKey, parseNetworkKey, readNetworkKey, writeNetworkKey } from './pnet.ts'
import {
  MAX_PROOF_LENGTH,
  MAX_REASON_LENGTH,
  type TombstoneClaim,
  claimReason,
  isProofString,
  readAdminKeys,
  readAdminSigningKey,
  segmentTarget,
  signTombstone,
  tombstonePayload,
  verifyTombstone,
  writeAdminKeyPair
} from './tombstone-signature.ts'

const admin = generateKeyPairSync('ed25519')
const other = generateKeyPairSync('ed25519')
const seg = ref({ at: 10_000, dur: 2000 })
const claim = (over: Partial<TombstoneClaim> = {}): TombstoneClaim => ({
  channel: 'c',
  quality: 'q',
  target: segmentTarget(seg),
  created: T0 + 123_456_789,
  reason: 'DMCA',
  ...over
})

describe('tombstone signatures', () => {
  it('signs a canonical payload whose bytes do not depend on how the claim object was built', () => {
    const a = tombstonePayload(claim())
    const b = tombstonePayload({
      reason: 'DMCA',
      created: T0 + 123_456_789,
      target: { segment: seg.file, hour: seg.hour },
      quality: 'q',
      channel: 'c'
    })
    assert.deepEqual(a, b)
    assert.equal(
      Buffer.from(a).toString(),
      `segmesh-tombstone/2\nchannel=c\nquality=q\nsegment=${seg.hour}/${seg.file}\ncreated=${T0 + 123_456_789}\nreason=DMCA`
    )
    const proof = signTombstone(claim(), admin.privateKey)
    assert.ok(isProofString(proof))
    const v = verifyTombstone(proof, seg, admin.publicKey)
    assert.ok(v.ok)
    assert.equal(v.claim.created, T0 + 123_456_789)
  })

  it('refuses unsigned, foreign-key, tampered, malformed and misapplied proofs', () => {
    const proof = signTombstone(claim(), admin.privateKey)
    assert.deepEqual(verifyTombstone(undefined, seg, admin.publicKey), { ok: false, reason: 'unsigned', offence: 'unsigned_tombstone' })
    assert.deepEqual(verifyTombstone(signTombstone(claim(), other.privateKey), seg, admin.publicKey), {
      ok: false,
      reason: 'bad signature',
      offence: 'bad_tombstone_signature'
    })
    // Swap in another claim's payload under the same signature.
    const [, , sig] = proof.split('.')
    const forged = `v1.${Buffer.from(tombstonePayload(claim({ channel: 'd' }))).toString('base64url')}.${sig}`
    assert.deepEqual(verifyTombstone(forged, { ...seg, channel: 'd' }, admin.publicKey), {
      ok: false,
      reason: 'bad signature',
      offence: 'bad_tombstone_signature'
    })
    assert.deepEqual(verifyTombstone('v1.x.y', seg, admin.publicKey), {
      ok: false,
      reason: 'malformed',
      offence: 'bad_tombstone_signature'
    })
    const elsewhere = ref({ at: 20_000, dur: 2000 })
    assert.deepEqual(verifyTombstone(proof, elsewhere, admin.publicKey), {
      ok: false,
      reason: 'does not cover the segment',
      offence: 'bad_tombstone_signature'
    })
    assert.throws(() => tombstonePayload(claim({ reason: 'two\nlines' })), /reason/)
    assert.throws(() => tombstonePayload(claim({ target: { from: 5, to: 5 } })), /range/)
  })

  it('a segment proof names its hour, channel and quality: the byte-identical file elsewhere stays visible', () => {
    const proof = signTombstone(claim(), admin.privateKey)
    // The same file name (same minute:second, duration and bytes) one hour later, and in another channel and quality.
    const nextHour = ref({ at: 10_000 + 3_600_000, dur: 2000, seed: '10000+2000' })
    assert.equal(nextHour.file, seg.file)
    assert.notEqual(nextHour.hour, seg.hour)
    const refused = { ok: false, reason: 'does not cover the segment', offence: 'bad_tombstone_signature' }
    assert.deepEqual(verifyTombstone(proof, nextHour, admin.publicKey), refused)
    assert.deepEqual(verifyTombstone(proof, { ...seg, channel: 'other' }, admin.publicKey), refused)
    assert.deepEqual(verifyTombstone(proof, { ...seg, quality: 'other' }, admin.publicKey), refused)
    assert.ok(verifyTombstone(signTombstone(claim({ target: segmentTarget(nextHour) }), admin.privateKey), nextHour, admin.publicKey).ok)
    assert.throws(() => tombstonePayload(claim({ target: { hour: '2020-13-01T00', segment: seg.file } })), /segment/)
  })

  it('refuses v1 segment proofs without a penalty, keeps v1 ranges, and never mixes a version prefix with another payload', () => {
    const v1 = (text: string): string =>
      `v1.${Buffer.from(text).toString('base64url')}.${sign(null, Buffer.from(text), admin.privateKey).toString('base64url')}`
    const oldSegment = v1(`segmesh-tombstone/1\nchannel=c\nquality=q\nsegment=${seg.file}\ncreated=${T0}\nreason=old`)
    assert.ok(isProofString(oldSegment), 'well-formed: a message carrying it is not malformed')
    assert.deepEqual(verifyTombstone(oldSegment, seg, admin.publicKey), {
      ok: false,
      reason: 'v1 segment proof: names no hour',
      offence: null
    })
    const oldRange = v1(`segmesh-tombstone/1\nchannel=c\nquality=q\nrange=${seg.start}-${seg.start + 1}\ncreated=${T0}\nreason=old`)
    assert.ok(verifyTombstone(oldRange, seg, admin.publicKey).ok)
    assert.equal(verifyTombstone(oldRange, ref({ at: 10_000 + 3_600_000, dur: 2000 }), admin.publicKey).ok, false)
    // A v2 payload under a v1 prefix (or the reverse) is malformed, whatever the signature.
    const proof = signTombstone(claim(), admin.privateKey)
    assert.equal(verifyTombstone(`v1${proof.slice(2)}`, seg, admin.publicKey).ok, false)
    assert.equal(verifyTombstone(`v2${oldRange.slice(2)}`, seg, admin.publicKey).ok, false)
  })

  it('cuts a reason to its byte bound, so the longest claim still makes a proof every node reads', () => {
    const reason = claimReason(`a\nb${'€'.repeat(300)}`)
    assert.ok(Buffer.byteLength(reason) <= MAX_REASON_LENGTH && reason.startsWith('a b€'), reason)
    const long = 'x'.repeat(64)
    const proof = signTombstone(claim({ channel: long, quality: long, reason }), admin.privateKey)
    assert.ok(proof.length <= MAX_PROOF_LENGTH && isProofString(proof), `${proof.length}`)
    assert.throws(() => tombstonePayload(claim({ reason: '€'.repeat(100) })), /reason/)
  })

  it('a range claim covers exactly the segments overlapping it', () => {
    const proof = signTombstone(claim({ target: { from: T0 + 10_000_000, to: T0 + 20_000_000 } }), admin.privateKey)
    assert.ok(verifyTombstone(proof, ref({ at: 9_000, dur: 2000 }), admin.publicKey).ok) // overlaps the start
    assert.ok(verifyTombstone(proof, ref({ at: 19_999, dur: 2000 }), admin.publicKey).ok)
    assert.equal(verifyTombstone(proof, ref({ at: 8_000, dur: 2000 }), admin.publicKey).ok, false) // ends at from
    assert.equal(verifyTombstone(proof, ref({ at: 20_000, dur: 2000 }), admin.publicKey).ok, false)
    assert.equal(verifyTombstone(proof, ref({ at: 12_000, dur: 2000, quality: 'other' }), admin.publicKey).ok, false)
  })

  it('writes admin key files 0600/0644 that load back, and never overwrites them', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'admin.key')
    const { publicKeyPath, publicKeyPem } = await writeAdminKeyPair(path)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(publicKeyPath)).mode & 0o777, 0o644)
    assert.match(publicKeyPem, /BEGIN PUBLIC KEY/)
    const priv = await readAdminSigningKey(path)
    const pub = (await readAdminKeys({ signing: null, public: publicKeyPath })).adminPublicKey!
    assert.ok(verifyTombstone(signTombstone(claim(), priv), seg, pub).ok)
    await assert.rejects(writeAdminKeyPair(path), { code: 'SEGMESH_ERR_KEY_FILE', message: /refusing to overwrite/ })
    await assert.rejects(readAdminKeys({ signing: null, public: path }), { code: 'SEGMESH_ERR_KEY_FILE' }) // private key given as public
    assert.ok((await readAdminKeys({ signing: path, public: publicKeyPath })).adminPublicKey != null)
    const other = await writeAdminKeyPair(join(dir, 'other.key'))
    await assert.rejects(readAdminKeys({ signing: path, public: other.publicKeyPath }), {
      code: 'SEGMESH_ERR_KEY_FILE',
      message: /not the pair/
    })
    await writeFile(join(dir, 'loose'), await readFile(path), { mode: 0o644 })
    await assert.rejects(readAdminSigningKey(join(dir, 'loose')), { code: 'SEGMESH_ERR_KEY_FILE', message: /chmod 600/ })
  })
})

describe('proofs on disk', () => {
  it('survive an index rebuilt from the tree, and old empty tombstones read as unsigned', async (t) => {
    const dir = await tempDir(t)
    const first = await openStore(t, dir)
    const [signed, unsigned] = [ref({ at: 0, dur: 2000 }), ref({ at: 2000, dur: 2000 })]
    const proof = signTombstone(claim({ target: segmentTarget(signed) }), admin.privateKey)
    await first.store.writeTombstone(signed, { proof })
    await first.store.writeTombstone(unsigned)
    await first.index.stop()
    await rm(join(dir, 'index'), { recursive: true })
    const second = await openStore(t, dir)
    await new Reconciler(second.store).reconcileAll({ tempGraceMs: 60_000 })
    assert.equal(second.index.tombstoneProof(signed), proof)
    assert.equal(second.index.tombstoneProof(unsigned), null)
    assert.ok(second.index.isTombstoned(unsigned))
    assert.deepEqual(
      second.index.tombstones().map((x) => x.proof),
      [proof, undefined]
    )
  })
})

describe('proofs in announcements', () => {
  it('split into messages under the size limit that decode back with every proof; unsigned ones as before', () => {
    const from = {
      peerId: '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp',
      url: 'http://10.0.0.5:8080',
      addrs: ['/ip4/10.0.0.5/tcp/4001']
    }
    const refs = Array.from({ length: 256 }, (_, i) => ref({ at: i * 2000, dur: 2000 }))
    const items: AnnouncedItem[] = refs.map((r) => ({
      kind: 'tombstone',
      ref: r,
      proof: signTombstone(claim({ target: segmentTarget(r) }), admin.privateKey)
    }))
    const messages = announceMessages(from, items)
    assert.ok(messages.length > 1)
    const decoded = messages.map(encodeMessage).flatMap((bytes) => {
      assert.ok(bytes.length <= MAX_MESSAGE_BYTES)
      const d = decodeMessage(bytes)
      assert.ok(d.ok && d.message.type === 'announce')
      return d.message.items
    })
    assert.deepEqual(
      decoded.map((i) => i.proof),
      items.map((i) => i.proof)
    )
    assert.ok(decoded.every((i) => verifyTombstone(i.proof, i.ref, admin.publicKey).ok))
    assert.equal(
      announceMessages(
        from,
        items.map(({ kind, ref }) => ({ kind, ref }))
      ).length,
      1,
      '256 unsigned names still fit one message'
    )
    // A proof for a name the message does not carry, or not a proof at all: the message is malformed.
    const wire = JSON.parse(Buffer.from(encodeMessage(messages[0]!)).toString()) as { proofs: Record<string, string> }
    const [path] = Object.keys(wire.proofs)
    assert.equal(
      decodeMessage(
        Buffer.from(JSON.stringify({ ...wire, proofs: { 'c/q/2020-01-01T00/00:00.000000-2.0-full-x.tombstone': wire.proofs[path!] } }))
      ).ok,
      false
    )
    assert.equal(decodeMessage(Buffer.from(JSON.stringify({ ...wire, proofs: { [path!]: 'nonsense' } }))).ok, false)
  })
})

describe('network key', () => {
  it('writes a swarm key @libp2p/pnet accepts, 0600, and refuses to overwrite or to read junk', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'swarm.key')
    await writeNetworkKey(path)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    const key = await readNetworkKey(path)
    assert.match(Buffer.from(key).toString(), /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    assert.doesNotThrow(() => preSharedKey({ psk: key }))
    assert.notDeepEqual(newNetworkKey(), newNetworkKey())
    await assert.rejects(writeNetworkKey(path), { code: 'SEGMESH_ERR_KEY_FILE' })
    assert.throws(() => parseNetworkKey(Buffer.from('/key/swarm/psk/1.0.0/\n/base16/\nabc'), 'x'), { code: 'SEGMESH_ERR_KEY_FILE' })
  })
})
