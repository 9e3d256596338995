/** Synthetic segments: bytes derived from a seed (AES-CTR keystream, fast at any size), valid names. */
import { createCipheriv, createHash } from 'node:crypto'
import { type SegmentRef, formatSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { CHANNEL, SEGMENT_US, type SegmentSpec } from './plan.ts'

export interface SyntheticSegment {
  ref: SegmentRef
  /** CHANNEL/QUALITY/HOUR/FILE */
  path: string
  bytes: Buffer
}

export function segmentBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest()
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32))
  const out = cipher.update(Buffer.alloc(size))
  // MPEG-TS packets start with a sync byte; nothing reads these, but it keeps them plausible.
  for (let i = 0; i < size; i += 188) out[i] = 0x47
  return out
}

/** The segment a plan's write makes, placed `slot` × 2 s after `baseUs`. */
export function synthesize(spec: SegmentSpec, baseUs: number): SyntheticSegment {
  const bytes = segmentBytes(spec.seed, spec.size)
  const ref = formatSegmentRef({
    channel: CHANNEL,
    quality: spec.quality,
    start: baseUs + spec.slot * SEGMENT_US,
    duration: SEGMENT_US,
    type: 'full',
    hash: createHash('sha256').update(bytes).digest()
  })
  return { ref, path: segmentRelPath(ref), bytes }
}
