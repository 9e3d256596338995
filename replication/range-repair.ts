/**
 * A repair with a peer of protocol version 2: for each channel/quality whose root differs, walk
 * the window's ranges newest first (range-diff.ts) down to the few names that differ, apply the
 * peer's tombstones there, then queue the segments this node lacks. Costs grow with what differs,
 * not with the window: an hour that differs by one segment costs a few fingerprints and one short
 * listing, never the hour's whole listing.
 */
import type { SegmentIndex } from '../storage/segment-index.ts'
import { type SegmentRef, parseSegmentRef } from '../storage/segment-name.ts'
import { type AnnouncedItem, MAX_ANNOUNCE_ITEMS } from './messages.ts'
import { type DifferingRange, type RangeReader, lacking, rangeDiff, theyLack } from './range-diff.ts'
import { FINGERPRINT_BYTES, MAX_RANGE_NAMES, type RangeNames, type RangePart, rangeNames, rangeParts } from './ranges.ts'
import { isProofString } from './tombstone-signature.ts'

/** This node's side, read from its index. */
export function localRanges(index: SegmentIndex): RangeReader {
  return {
    parts: (channel, quality, bounds) => rangeParts(index, channel, quality, bounds),
    names: (channel, quality, from, to) => rangeNames(index, channel, quality, from, to, Number.POSITIVE_INFINITY)!
  }
}

/** A peer's side over HTTP; answers are validated here, once. */
export function peerRanges(getJson: (path: string) => Promise<unknown>): RangeReader {
  const q = (channel: string, quality: string): string => `channel=${encodeURIComponent(channel)}&quality=${encodeURIComponent(quality)}`
  return {
    parts: async (channel, quality, bounds) => {
      // The peer splits [from, to) the way we did: only the ends travel.
      const body = await getJson(`/replication/ranges?${q(channel, quality)}&from=${bounds[0]}&to=${bounds.at(-1)}`)
      const parts = parseParts(body, bounds.length - 1)
      if (typeof parts === 'string') throw new Error(`bad ranges from peer: ${parts}`)
      return parts
    },
    names: async (channel, quality, from, to) => {
      const names = parseNames(await getJson(`/replication/names?${q(channel, quality)}&from=${from}&to=${to}`))
      if (typeof names === 'string') throw new Error(`bad names from peer: ${names}`)
      return names
    }
  }
}

function parseParts(body: unknown, expected: number): RangePart[] | string {
  const parts = (body as { parts?: unknown } | null)?.parts
  if (!Array.isArray(parts) || parts.length !== expected) return `expected ${expected} parts`
  const out: RangePart[] = []
  for (const p of parts) {
    if (
      !Array.isArray(p) ||
      typeof p[0] !== 'string' ||
      p[0].length > Math.ceil((FINGERPRINT_BYTES * 4) / 3) ||
      !Number.isSafeInteger(p[1]) ||
      p[1] < 0
    )
      return 'bad part'
    out.push({ fp: p[0], count: p[1] as number })
  }
  return out
}

const HOUR_FILE = /^[^/]+\/[^/]+$/

function parseNames(body: unknown): RangeNames | string {
  if (body == null || typeof body !== 'object') return 'not an object'
  const { segments, tombstones } = body as { segments?: unknown; tombstones?: unknown }
  if (!Array.isArray(segments) || !Array.isArray(tombstones) || segments.length + tombstones.length > MAX_RANGE_NAMES)
    return `not lists of at most ${MAX_RANGE_NAMES} names`
  if (!segments.every((s) => typeof s === 'string' && HOUR_FILE.test(s))) return 'bad segment name'
  const out: RangeNames = { segments: segments as string[], tombstones: [] }
  for (const t of tombstones) {
    const { segment, proof } = (t ?? {}) as { segment?: unknown; proof?: unknown }
    if (typeof segment !== 'string' || !HOUR_FILE.test(segment)) return 'bad tombstone'
    if (proof !== undefined && !isProofString(proof)) return 'bad tombstone proof'
    out.tombstones.push({ segment, ...(proof !== undefined ? { proof: proof as string } : {}) })
  }
  return out
}

/** A `HOUR/FILE` of a channel/quality as a segment reference, or null if it is not one. */
function refOf(channel: string, quality: string, hourFile: string): SegmentRef | null {
  const [hour, file] = hourFile.split('/') as [string, string]
  const parsed = parseSegmentRef(channel, quality, hour, file)
  return parsed.ok && parsed.value.type !== 'temp' ? parsed.value : null
}

export interface RangeRepairContext {
  local: RangeReader
  remote: RangeReader
  /** Written before any segment of its range is queued. */
  applyTombstone: (ref: SegmentRef, proof: string | undefined) => Promise<void>
  /** Queue a download from this peer; settles when it is stored or given up. */
  want: (ref: SegmentRef) => Promise<unknown>
  /** Downloads of this session waiting at once; past it the walk waits for some to settle. */
  queueAhead: number
  /** Tell the peer what it lacks, so it need not walk itself; absent: pull only. */
  offer?: (items: AnnouncedItem[]) => Promise<void>
  /** Hours not walked (either side evicted them under a disk budget), by `channel/quality`. */
  skipHour?: (key: string, hourStart: number) => boolean
  signal: AbortSignal
}

export interface RangeRepairResult {
  /** Start of the newest segment lacked (0 if none). */
  newest: number
  lacked: number
  tombstones: number
  /** Names offered to the peer. */
  offered: number
  ranges: number
  partRequests: number
  nameRequests: number
}

/** Repair the channel/qualities in `keys` (`channel/quality`) over [from, to) from the peer. */
export async function repairByRanges(
  ctx: RangeRepairContext,
  keys: readonly string[],
  from: number,
  to: number
): Promise<RangeRepairResult> {
  const result: RangeRepairResult = { newest: 0, lacked: 0, tombstones: 0, offered: 0, ranges: 0, partRequests: 0, nameRequests: 0 }
  const running = new Set<Promise<unknown>>()
  // Offers go out as the walk finds them (the peer fetches from us meanwhile), in batches: at
  // most one message per OFFER_FLUSH_MS unless MAX_ANNOUNCE_ITEMS are waiting, so a long walk
  // stays far under the peer's gossip rate.
  let offers: AnnouncedItem[] = []
  let flushed = 0
  const flush = async (force: boolean): Promise<void> => {
    if (ctx.offer == null || offers.length === 0) return
    if (!force && offers.length < MAX_ANNOUNCE_ITEMS && Date.now() - flushed < OFFER_FLUSH_MS) return
    const batch = offers
    offers = []
    flushed = Date.now()
    result.offered += batch.length
    await ctx.offer(batch)
  }
  for (const key of keys) {
    const [channel, quality] = key.split('/') as [string, string]
    for await (const range of rangeDiff(
      ctx.local,
      ctx.remote,
      channel,
      quality,
      from,
      to,
      {
        signal: ctx.signal,
        twoWay: ctx.offer != null,
        ...(ctx.skipHour != null ? { skipHour: (h: number) => ctx.skipHour!(key, h) } : {})
      },
      result
    )) {
      result.ranges++
      await applyRange(ctx, channel, quality, range, result, running)
      if (ctx.offer != null) offers.push(...offerable(channel, quality, range))
      await flush(false)
    }
  }
  await flush(true)
  await Promise.all(running)
  return result
}

/** Least time between two offers of one walk (unless a full message is waiting). */
const OFFER_FLUSH_MS = 250

function offerable(channel: string, quality: string, range: DifferingRange): AnnouncedItem[] {
  const { segments, tombstones } = theyLack(range)
  const out: AnnouncedItem[] = []
  for (const t of tombstones) {
    const ref = refOf(channel, quality, t.segment)
    if (ref != null) out.push({ kind: 'tombstone', ref, ...(t.proof != null ? { proof: t.proof } : {}) })
  }
  for (const name of segments) {
    const ref = refOf(channel, quality, name)
    if (ref != null) out.push({ kind: 'segment', ref })
  }
  return out
}

async function applyRange(
  ctx: RangeRepairContext,
  channel: string,
  quality: string,
  range: DifferingRange,
  result: RangeRepairResult,
  running: Set<Promise<unknown>>
): Promise<void> {
  const { segments, tombstones } = lacking(range)
  // Tombstones first: a segment and its tombstone in one range must never be fetched.
  await Promise.all(
    tombstones.map(async (t) => {
      const ref = refOf(channel, quality, t.segment)
      if (ref == null) return
      result.tombstones++
      await ctx.applyTombstone(ref, t.proof)
    })
  )
  for (const name of segments) {
    const ref = refOf(channel, quality, name)
    if (ref == null) continue
    while (running.size >= ctx.queueAhead) await Promise.race(running)
    result.lacked++
    result.newest = Math.max(result.newest, ref.start)
    const p: Promise<unknown> = ctx.want(ref).finally(() => running.delete(p))
    running.add(p)
  }
}
