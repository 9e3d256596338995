/**
 * Property-based tests of tombstone proofs (issue 18, finding 6): a proof verifies for exactly the
 * segment it names (channel, quality, hour and file) and for no other; anything a peer can send in
 * its place, hostile strings and valid proofs with a byte changed, is refused without a throw.
 * Seed: test/helpers/fuzz.ts.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type SegmentRef, formatSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR } from '../storage/time.ts'
import { fuzzRuns, hostileString } from '../test/helpers/fuzz.ts'
import { segmentTarget, signTombstone, verifyTombstone } from './tombstone-signature.ts'

const admin = generateKeyPairSync('ed25519')
const T0 = Date.UTC(2020, 0, 1) * 1000

const name = fc.constantFrom('desertbus', 'c', 'source', '480p', 'a.b_c-d')
/** A segment: channel, quality, hour (0–10,000 h after T0), offset in the hour, duration, hash. */
const segment = fc
  .record({
    channel: name,
    quality: name,
    hour: fc.integer({ min: 0, max: 10_000 }),
    offset: fc.integer({ min: 0, max: MICROS_PER_HOUR - 1 }),
    duration: fc.integer({ min: 1, max: 10_000_000 }),
    hash: fc.uint8Array({ minLength: 32, maxLength: 32 })
  })
  .map(
    (s): SegmentRef =>
      formatSegmentRef({
        channel: s.channel,
        quality: s.quality,
        start: T0 + s.hour * MICROS_PER_HOUR + s.offset,
        duration: s.duration,
        type: 'full',
        hash: s.hash
      })
  )

/** A proof string with its base64url parts re-encoded from the bytes they decode to. */
const canonical = (text: string): string =>
  !/^[A-Za-z0-9_.-]*$/.test(text)
    ? text
    : text
        .split('.')
        .map((part, i) => (i === 0 ? part : Buffer.from(part, 'base64url').toString('base64url')))
        .join('.')

const proofFor = (ref: SegmentRef): string =>
  signTombstone({ channel: ref.channel, quality: ref.quality, target: segmentTarget(ref), created: T0, reason: 'fuzz' }, admin.privateKey)

describe('tombstone proofs (fuzz)', () => {
  it('a proof covers its own segment and no byte-identical file in another hour, channel or quality', () => {
    fc.assert(
      fc.property(segment, fc.integer({ min: 1, max: 5_000 }), name, name, (ref, hoursLater, channel, quality) => {
        const proof = proofFor(ref)
        assert.ok(verifyTombstone(proof, ref, admin.publicKey).ok)
        // The same file name (same minute:second, duration and hash) elsewhere.
        const moved = formatSegmentRef({
          channel: ref.channel,
          quality: ref.quality,
          start: ref.start + hoursLater * MICROS_PER_HOUR,
          duration: ref.duration,
          type: 'full',
          hash: ref.hash!
        })
        assert.equal(moved.file, ref.file)
        assert.equal(verifyTombstone(proof, moved, admin.publicKey).ok, false)
        const other = { ...ref, channel, quality }
        assert.equal(verifyTombstone(proof, other, admin.publicKey).ok, channel === ref.channel && quality === ref.quality)
      }),
      fuzzRuns(300)
    )
  })

  it('hostile strings and valid proofs with one character changed are refused, never thrown', () => {
    const ref = formatSegmentRef({ channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full', hash: Buffer.alloc(32, 7) })
    const proof = proofFor(ref)
    const mutated = fc
      .tuple(fc.nat({ max: proof.length - 1 }), fc.constantFrom(...'ABab019-_.v2'.split('')))
      .map(([at, ch]) => proof.slice(0, at) + ch + proof.slice(at + 1))
    fc.assert(
      fc.property(fc.oneof(hostileString([proof, 'v1.', 'v2.', '.']), mutated), (text) => {
        const verdict = verifyTombstone(text, ref, admin.publicKey)
        // base64url's last character carries spare bits that decoding drops: such a twin is the same proof.
        assert.equal(verdict.ok, canonical(text) === proof)
        if (!verdict.ok) assert.ok(typeof verdict.reason === 'string' && verdict.reason.length > 0)
      }),
      fuzzRuns(500)
    )
  })
})
