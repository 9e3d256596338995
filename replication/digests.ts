/**
 * Digests for anti-entropy. The index keeps an order-independent digest per hour (visible segment
 * names and tombstone names); a root per channel/quality hashes the window's (hour, digest) pairs,
 * so two nodes compare a whole window with one string and look at hours only when roots differ.
 */
import { createHash } from 'node:crypto'
import type { SegmentIndex } from '../storage/segment-index.ts'
import type { HourDigest, RootDigest } from './messages.ts'

/** Hours of every channel/quality (or of `only`) from `windowStart` (µs) on, oldest first. */
export function hourDigests(
  index: SegmentIndex,
  windowStart: number,
  only?: { channel: string; quality: string },
  to?: number
): Map<string, HourDigest[]> {
  const out = new Map<string, HourDigest[]>()
  for (const channel of only == null ? index.channels() : [only.channel]) {
    for (const quality of only == null ? index.qualities(channel) : [only.quality]) {
      const hours = index
        .hourSummaries(channel, quality, windowStart, to)
        .filter((h) => h.digest !== '')
        .map((h) => ({ hour: h.hour, digest: h.digest, segments: h.segments, tombstones: h.tombstones }))
      if (hours.length > 0) out.set(`${channel}/${quality}`, hours)
    }
  }
  return out
}

export function rootOf(hours: readonly HourDigest[]): string {
  if (hours.length === 0) return ''
  const h = createHash('sha256')
  for (const hour of hours) h.update(`${hour.hour} ${hour.digest}\n`)
  return h.digest('base64url')
}

export function rootDigests(index: SegmentIndex, windowStart: number): RootDigest[] {
  return rootsOf(hourDigests(index, windowStart))
}

/** A root per channel/quality of `hourDigests`' result. */
export function rootsOf(digests: ReadonlyMap<string, readonly HourDigest[]>): RootDigest[] {
  const out: RootDigest[] = []
  for (const [key, hours] of digests) {
    const [channel, quality] = key.split('/') as [string, string]
    out.push({ channel, quality, root: rootOf(hours), hours: hours.length, segments: hours.reduce((n, h) => n + h.segments, 0) })
  }
  return out
}
