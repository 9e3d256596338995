/**
 * Range fingerprints: what a node holds for one channel/quality over [from, to) µs of segment
 * start, summed up small enough to compare over the wire. A range's fingerprint is the XOR of
 * sha256 over each visible segment name and each tombstone name whose segment starts in it (the
 * hour digest's own construction, so a range of whole hours is read from the hours table without
 * touching a segment), cut to FINGERPRINT_BYTES. Splitting is deterministic: both ends compute
 * the same bounds, so a request names only the range and a response is only the parts' sums.
 */
import { nameDigest, xorInto } from '../storage/name-digest.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import { tombstoneFileName } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR } from '../storage/time.ts'

/** 128 bits: a collision between two different sets is out of reach by chance. */
export const FINGERPRINT_BYTES = 16
/** Parts a range of whole hours is split into at most (a 30-day window: 32 parts of 23 hours). */
const MAX_HOUR_PARTS = 32
/** Parts an hour or less is split into. */
const SUB_HOUR_PARTS = 16
/**
 * Names one range answer may hold (about 400 KB); a bigger range must be asked for by its parts.
 * Above an hour of 2 s segments in two recordings, so a node catching up lists an hour at once.
 */
export const MAX_RANGE_NAMES = 4096

/** One part's sum: fingerprint ('' when empty) and how many names it holds. */
export interface RangePart {
  fp: string
  count: number
}

/**
 * What a range holds by name, each as `HOUR/FILE` (a file name alone gives only the offset in its
 * hour): visible segments, and tombstones (the segment each hides, with its proof).
 */
export interface RangeNames {
  segments: string[]
  tombstones: Array<{ segment: string; proof?: string }>
}

/**
 * The bounds [from, b1, …, to] a range is split at. More than an hour (whole hours, as every
 * range this makes is): into at most MAX_HOUR_PARTS runs of whole hours. An hour or less: into
 * SUB_HOUR_PARTS equal parts (the last takes the rounding). Null when it cannot be split.
 */
export function splitRange(from: number, to: number): number[] | null {
  const span = to - from
  if (span > MICROS_PER_HOUR && span % MICROS_PER_HOUR === 0 && from % MICROS_PER_HOUR === 0) {
    const hours = span / MICROS_PER_HOUR
    const step = Math.ceil(hours / MAX_HOUR_PARTS) * MICROS_PER_HOUR
    const out = []
    for (let b = from; b < to; b += step) out.push(b)
    out.push(to)
    return out
  }
  if (span < SUB_HOUR_PARTS * 2) return null
  const step = Math.floor(span / SUB_HOUR_PARTS)
  const out = []
  for (let i = 0; i < SUB_HOUR_PARTS; i++) out.push(from + i * step)
  out.push(to)
  return out
}

/**
 * A range a peer may ask to have split: what splitRange makes, whole hours or a part of one hour.
 * A part is summed from the hours table when it is whole hours, by reading its names when it is
 * inside one hour (at most an hour's names), never across hours name by name.
 */
export function validRange(from: number, to: number): boolean {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to <= from) return false
  const wholeHours = from % MICROS_PER_HOUR === 0 && to % MICROS_PER_HOUR === 0
  const inOneHour = Math.floor(from / MICROS_PER_HOUR) === Math.floor((to - 1) / MICROS_PER_HOUR)
  return (wholeHours || inOneHour) && splitRange(from, to) != null
}

/** The sums of the consecutive ranges [bounds[i], bounds[i + 1]) of a channel/quality. */
export function rangeParts(index: SegmentIndex, channel: string, quality: string, bounds: readonly number[]): RangePart[] {
  const out: RangePart[] = []
  for (let i = 0; i + 1 < bounds.length; i++) out.push(rangePart(index, channel, quality, bounds[i]!, bounds[i + 1]!))
  return out
}

function rangePart(index: SegmentIndex, channel: string, quality: string, from: number, to: number): RangePart {
  const acc = Buffer.alloc(32)
  let count = 0
  if (from % MICROS_PER_HOUR === 0 && to % MICROS_PER_HOUR === 0) {
    for (const hour of index.hourSummaries(channel, quality, from, to)) {
      count += hour.segments + hour.tombstones
      if (hour.digest !== '') xorInto(acc, Buffer.from(hour.digest, 'base64url'))
    }
  } else {
    for (const s of index.segmentsStartingIn(channel, quality, from, to)) {
      count++
      xorInto(acc, nameDigest(s.file))
    }
    for (const t of index.tombstones(channel, quality, from, to)) {
      count++
      xorInto(acc, nameDigest(tombstoneFileName(t.segment)))
    }
  }
  return { fp: count === 0 ? '' : acc.subarray(0, FINGERPRINT_BYTES).toString('base64url'), count }
}

/** Names in [from, to), or null when there are more than `limit` (what a peer is answered: MAX_RANGE_NAMES). */
export function rangeNames(
  index: SegmentIndex,
  channel: string,
  quality: string,
  from: number,
  to: number,
  limit = MAX_RANGE_NAMES
): RangeNames | null {
  // Read one past the limit at most: a peer naming a huge range costs no more than a small one.
  const segments = index.segmentsStartingIn(channel, quality, from, to, { limit: limit + 1 }).map((s) => `${s.hour}/${s.file}`)
  if (segments.length > limit) return null
  const tombstones = index
    .tombstones(channel, quality, from, to, limit + 1)
    .map((t) => ({ segment: `${t.hour}/${t.segment}`, ...(t.proof != null ? { proof: t.proof } : {}) }))
  if (segments.length + tombstones.length > limit) return null
  return { segments, tombstones }
}
