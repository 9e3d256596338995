/**
 * Which admin signature a tombstone request gets (docs/SECURITY.md):
 * - a `proof` in the body (signed client-side by `segmesh tombstone`) is used as is, after it is
 *   checked against the admin public key when the node has one;
 * - otherwise the node signs with `--admin-signing-key` when it has one;
 * - otherwise, on a node that requires signatures (`--admin-public-key`), the request is refused:
 *   an unsigned tombstone would hide the video here and nowhere else;
 * - otherwise the tombstone is unsigned, as before signatures existed.
 */
import type { KeyObject } from 'node:crypto'
import { type TombstoneTarget, claimReason, isProofString, signTombstone, verifyTombstone } from '../replication/tombstone-signature.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { HttpError, badParameter } from './errors.ts'

export interface AdminKeys {
  adminSigningKey?: KeyObject
  adminPublicKey?: KeyObject
}

export interface TombstoneRequest {
  channel: string
  quality: string
  target: TombstoneTarget
  reason?: string
  /** The body's `proof`, if any (not yet checked). */
  proof?: unknown
}

/** The proof to store with every tombstone of this request, or undefined for unsigned ones. */
export function requestProof(keys: AdminKeys, request: TombstoneRequest, nowUs: number): string | undefined {
  if (request.proof !== undefined) {
    if (!isProofString(request.proof)) throw badParameter('proof', 'is not a tombstone signature (v2.PAYLOAD.SIGNATURE, base64url)')
    return request.proof
  }
  if (keys.adminSigningKey != null) {
    // The claim's reason is one line of text; the free-form reason still goes to the log whole.
    const reason = claimReason(request.reason ?? '')
    return signTombstone(
      { channel: request.channel, quality: request.quality, target: request.target, created: nowUs, reason },
      keys.adminSigningKey
    )
  }
  if (keys.adminPublicKey != null) {
    throw new HttpError(
      400,
      'signature_required',
      'this network accepts only signed tombstones: send a "proof" made with the admin key (docs/SECURITY.md), ' +
        'or start this node with --admin-signing-key'
    )
  }
  return undefined
}

/** A client's proof must cover each segment it is used for (checked before anything is written). */
export function checkProof(keys: AdminKeys, proof: string | undefined, refs: readonly SegmentRef[]): void {
  if (proof == null || keys.adminPublicKey == null) return
  for (const ref of refs) {
    const verdict = verifyTombstone(proof, ref, keys.adminPublicKey)
    if (!verdict.ok) throw badParameter('proof', `does not authorise tombstoning ${segmentRelPath(ref)}: ${verdict.reason}`)
  }
}
