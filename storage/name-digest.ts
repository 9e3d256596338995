/**
 * The order-independent digest of a set of names: XOR of sha256 over each name. The index keeps
 * one per hour; replication sums any range the same way, so ranges of whole hours add up from
 * the hour digests.
 */
import { createHash } from 'node:crypto'

export function nameDigest(name: string): Buffer {
  return createHash('sha256').update(name).digest()
}

/** target ^= other (32 bytes). */
export function xorInto(target: Buffer, other: Buffer): void {
  for (let i = 0; i < 32; i++) target[i]! ^= other[i]!
}
