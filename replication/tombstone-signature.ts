/**
 * Admin-signed tombstones. A tombstone may carry a proof: an Ed25519 signature by the network's
 * admin key over a claim "hide this segment" or "hide every segment of this channel/quality
 * overlapping [from, to)". Nodes given the admin public key accept tombstones from peers only with
 * a proof that verifies and covers the segment, so a compromised peer cannot delete footage.
 *
 * Keys are node:crypto Ed25519 KeyObjects in PEM (PKCS#8 / SPKI): no extra dependency, one
 * synchronous verify of ~50 µs, and files that openssl can make and inspect
 * (`openssl pkey -in admin.key -pubout`). libp2p's key format would tie the admin key to libp2p.
 *
 * The signed bytes are a fixed text layout built field by field, never a serialised object:
 *   segmesh-tombstone/2\n channel=C\n quality=Q\n segment=HOUR/FILE | range=FROM-TO\n created=µs\n reason=TEXT
 * A proof travels as `v2.<base64url payload>.<base64url signature>`; the verifier checks the
 * signature over the payload bytes it received, then parses them, so no two encoders can disagree.
 *
 * Version 1 named a segment by its file name alone (`MM:SS.ffffff-DURATION-TYPE-HASH.ts`), so a proof
 * for one hour also hid the byte-identical file at the same minute:second of any other hour. A v1
 * segment proof is therefore refused from peers, without a penalty (the admin did sign it); a v1
 * range names absolute instants and stays valid. Tombstones already stored keep hiding their
 * segments whatever their proof: only what is accepted from elsewhere changed. Only v2 is signed.
 */
import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { type SegmentRef, isValidPathName, parseSegmentRef } from '../storage/segment-name.ts'
import { readKeyFile, writeNewKeyFile } from './key-files.ts'
import { KeyFileError } from './p2p-errors.ts'

const VERSION = 2
/** Longest proof accepted anywhere (messages, listings, bodies, the index). */
export const MAX_PROOF_LENGTH = 1024
/** In UTF-8 bytes, so that the longest claim still makes a proof under MAX_PROOF_LENGTH (about 930 characters). */
export const MAX_REASON_LENGTH = 200

/** One segment (its hour folder and file name), or every segment overlapping [from, to). */
export type TombstoneTarget = { hour: string; segment: string } | { from: number; to: number }

/** The target that names exactly this segment. */
export const segmentTarget = (ref: { hour: string; file: string }): TombstoneTarget => ({ hour: ref.hour, segment: ref.file })

export interface TombstoneClaim {
  channel: string
  quality: string
  target: TombstoneTarget
  /** When the admin made it, µs since the epoch. */
  created: number
  reason: string
}

/**
 * A refusal names the peer offence it is (peer-score.ts), or none: an admin-signed v1 proof is honest
 * but can no longer be bound to one hour.
 */
export type Verified =
  | { ok: true; claim: TombstoneClaim }
  | { ok: false; reason: string; offence: 'unsigned_tombstone' | 'bad_tombstone_signature' | null }

const isMicros = (n: number): boolean => Number.isSafeInteger(n) && n >= 0
// Printable text without line breaks or other control characters: one line of the payload.
const REASON = /^[^\p{Cc}]*$/u

/** Why a claim cannot be signed, or null. */
function claimError(claim: TombstoneClaim): string | null {
  if (!isValidPathName(claim.channel)) return 'channel: not a valid name'
  if (!isValidPathName(claim.quality)) return 'quality: not a valid name'
  if ('segment' in claim.target) {
    const ref = parseSegmentRef(claim.channel, claim.quality, claim.target.hour, claim.target.segment)
    if (!ref.ok || ref.value.type === 'temp') return 'segment: not an HOUR/FILE of a segment'
  } else if (!isMicros(claim.target.from) || !isMicros(claim.target.to) || claim.target.to <= claim.target.from) {
    return 'range: not µs instants with from < to'
  }
  if (!isMicros(claim.created)) return 'created: not a µs instant'
  if (Buffer.byteLength(claim.reason) > MAX_REASON_LENGTH || !REASON.test(claim.reason))
    return `reason: at most ${MAX_REASON_LENGTH} bytes of UTF-8, no control characters`
  return null
}

/** Free text made fit for a claim: control characters as spaces, cut to MAX_REASON_LENGTH bytes on a character boundary. */
export function claimReason(text: string): string {
  let reason = text.replace(/\p{Cc}/gu, ' ')
  while (Buffer.byteLength(reason) > MAX_REASON_LENGTH) reason = Array.from(reason).slice(0, -1).join('')
  return reason
}

/** The exact bytes that are signed. */
export function tombstonePayload(claim: TombstoneClaim): Uint8Array {
  const error = claimError(claim)
  if (error != null) throw new RangeError(`tombstone claim ${error}`)
  const target =
    'segment' in claim.target ? `segment=${claim.target.hour}/${claim.target.segment}` : `range=${claim.target.from}-${claim.target.to}`
  return Buffer.from(
    [
      `segmesh-tombstone/${VERSION}`,
      `channel=${claim.channel}`,
      `quality=${claim.quality}`,
      target,
      `created=${claim.created}`,
      `reason=${claim.reason}`
    ].join('\n'),
    'utf8'
  )
}

/** Sign a claim with the admin private key; the result is what travels and is stored. */
export function signTombstone(claim: TombstoneClaim, privateKey: KeyObject): string {
  const payload = tombstonePayload(claim)
  const signature = sign(null, payload, privateKey)
  return `v${VERSION}.${Buffer.from(payload).toString('base64url')}.${signature.toString('base64url')}`
}

/** A well-formed proof string of either version (no signature check): for validating what peers send. */
export function isProofString(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_PROOF_LENGTH && /^v[12]\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/.test(value)
}

/** Does the claim hide this segment? A range covers the segments overlapping it, as the admin route does. */
export function covers(claim: TombstoneClaim, ref: SegmentRef): boolean {
  if (claim.channel !== ref.channel || claim.quality !== ref.quality) return false
  if ('segment' in claim.target) return claim.target.hour === ref.hour && claim.target.segment === ref.file
  return ref.start < claim.target.to && ref.start + ref.duration > claim.target.from
}

/** Check a proof against the admin public key and the segment it is meant to hide. */
export function verifyTombstone(proof: string | null | undefined, ref: SegmentRef, publicKey: KeyObject): Verified {
  if (proof == null) return { ok: false, reason: 'unsigned', offence: 'unsigned_tombstone' }
  if (!isProofString(proof)) return { ok: false, reason: 'malformed', offence: 'bad_tombstone_signature' }
  const [version, body, sig] = proof.split('.') as [string, string, string]
  const payload = Buffer.from(body, 'base64url')
  let good = false
  try {
    good = verify(null, payload, publicKey, Buffer.from(sig, 'base64url'))
  } catch {
    good = false
  }
  if (!good) return { ok: false, reason: 'bad signature', offence: 'bad_tombstone_signature' }
  const claim = parsePayload(payload.toString('utf8'), version)
  if (claim == null) return { ok: false, reason: 'malformed', offence: 'bad_tombstone_signature' }
  if (claim === UNBOUND) return { ok: false, reason: 'v1 segment proof: names no hour', offence: null }
  if (!covers(claim, ref)) return { ok: false, reason: 'does not cover the segment', offence: 'bad_tombstone_signature' }
  return { ok: true, claim }
}

const UNBOUND = 'unbound'
const PAYLOAD =
  /^segmesh-tombstone\/([12])\nchannel=([^\n]*)\nquality=([^\n]*)\n(?:segment=(?:([^\n/]*)\/)?([^\n/]*)|range=(\d{1,16})-(\d{1,16}))\ncreated=(\d{1,16})\nreason=([^\n]*)$/

/**
 * The claim of a signed payload (only ever called on bytes whose signature verified) whose header
 * is the proof's version prefix; UNBOUND for a v1 segment claim, which names no hour.
 */
function parsePayload(text: string, version: string): TombstoneClaim | typeof UNBOUND | null {
  const m = PAYLOAD.exec(text)
  if (m == null || `v${m[1]}` !== version) return null
  let target: TombstoneTarget
  if (m[5] == null) target = { from: Number(m[6]), to: Number(m[7]) }
  else if (version === 'v1') return m[4] == null ? UNBOUND : null
  else if (m[4] == null) return null
  else target = { hour: m[4], segment: m[5] }
  const claim: TombstoneClaim = { channel: m[2]!, quality: m[3]!, target, created: Number(m[8]), reason: m[9]! }
  return claimError(claim) == null ? claim : null
}

// --- key files -----------------------------------------------------------------------------

/** A new admin key pair: the private key at `path` (0600), the public key at `path.pub`. Returns the public PEM. */
export async function writeAdminKeyPair(path: string): Promise<{ publicKeyPem: string; publicKeyPath: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const publicKeyPath = `${path}.pub`
  await writeNewKeyFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600)
  await writeNewKeyFile(publicKeyPath, publicKeyPem, 0o644)
  return { publicKeyPem, publicKeyPath }
}

export async function readAdminSigningKey(path: string): Promise<KeyObject> {
  const pem = await readKeyFile(path, 'admin signing key', { secret: true })
  let key: KeyObject
  try {
    key = createPrivateKey(pem)
  } catch (err) {
    throw new KeyFileError(`admin signing key ${path} is not a PEM private key: ${(err as Error).message}`, { cause: err })
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyFileError(`admin signing key ${path} is ${key.asymmetricKeyType}, expected ed25519`)
  return key
}

/**
 * The admin keys a node is configured with. A signing key that does not match the public key would
 * sign tombstones every checking node refuses: refused at start instead.
 */
export async function readAdminKeys(paths: {
  signing: string | null
  public: string | null
}): Promise<{ adminSigningKey?: KeyObject; adminPublicKey?: KeyObject }> {
  const adminSigningKey = paths.signing == null ? undefined : await readAdminSigningKey(paths.signing)
  const adminPublicKey = paths.public == null ? undefined : await readAdminPublicKey(paths.public)
  if (adminSigningKey != null && adminPublicKey != null) {
    const derived = createPublicKey(adminSigningKey).export({ type: 'spki', format: 'der' })
    if (!derived.equals(adminPublicKey.export({ type: 'spki', format: 'der' }))) {
      throw new KeyFileError(`admin signing key ${paths.signing} is not the pair of admin public key ${paths.public}`)
    }
  }
  return { ...(adminSigningKey != null ? { adminSigningKey } : {}), ...(adminPublicKey != null ? { adminPublicKey } : {}) }
}

/** The admin public key (PEM SPKI; a private key file is refused so it is not spread by mistake). */
async function readAdminPublicKey(path: string): Promise<KeyObject> {
  const pem = await readKeyFile(path, 'admin public key', { secret: false })
  if (pem.includes('PRIVATE KEY')) throw new KeyFileError(`admin public key ${path} holds a private key; give the .pub file`)
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch (err) {
    throw new KeyFileError(`admin public key ${path} is not a PEM public key: ${(err as Error).message}`, { cause: err })
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyFileError(`admin public key ${path} is ${key.asymmetricKeyType}, expected ed25519`)
  return key
}
