/**
 * MPEG-TS packet fields the cutter reads and rewrites in place: PES PTS/DTS, PCR/OPCR and the
 * continuity counter. Timestamps are 90 kHz ticks on a 33-bit clock; everything is integer
 * arithmetic (33-bit values do not fit JS bit operators, hence the multiplications).
 */
import { open } from 'node:fs/promises'

export const PACKET_SIZE = 188
export const SYNC_BYTE = 0x47
export const NULL_PID = 0x1fff
export const TIMESTAMP_WRAP = 2 ** 33
const HALF_WRAP = 2 ** 32

/** µs → 90 kHz ticks, to the nearest tick. */
export function ticksOf(us: number): number {
  return Math.round((us * 9) / 100)
}

/** 90 kHz ticks → µs, rounded down (so a trim at this instant never drops the frame at it). */
export function microsOfTicks(ticks: number): number {
  return Math.floor((ticks * 100) / 9)
}

/** `a + b` on the 33-bit clock. */
export function addTicks(a: number, b: number): number {
  return (((a + b) % TIMESTAMP_WRAP) + TIMESTAMP_WRAP) % TIMESTAMP_WRAP
}

/** `a − b` on the 33-bit clock, in (−2³², 2³²]: correct across one wrap. */
export function tickDelta(a: number, b: number): number {
  const d = addTicks(a, -b)
  return d > HALF_WRAP ? d - TIMESTAMP_WRAP : d
}

export function pidOf(b: Uint8Array, at: number): number {
  return ((b[at + 1]! & 0x1f) << 8) | b[at + 2]!
}

/** Offset of the payload in a packet at `at`, or -1 when it has none. */
function payloadStart(b: Uint8Array, at: number): number {
  const control = (b[at + 3]! >> 4) & 0x3
  if ((control & 0x1) === 0) return -1
  const start = (control & 0x2) !== 0 ? at + 5 + b[at + 4]! : at + 4
  return start < at + PACKET_SIZE ? start : -1
}

/** A 5-byte PTS/DTS field. */
export function readTimestamp(b: Uint8Array, at: number): number {
  return ((b[at]! >> 1) & 0x7) * 2 ** 30 + ((b[at + 1]! << 7) | (b[at + 2]! >> 1)) * 2 ** 15 + ((b[at + 3]! << 7) | (b[at + 4]! >> 1))
}

/** Overwrite a PTS/DTS field, keeping its 4-bit prefix and marker bits. */
export function writeTimestamp(b: Uint8Array, at: number, value: number): void {
  const hi = Math.floor(value / 2 ** 30) & 0x7
  const mid = Math.floor(value / 2 ** 15) % 2 ** 15
  const lo = value % 2 ** 15
  b[at] = (b[at]! & 0xf1) | (hi << 1)
  b[at + 1] = mid >> 7
  b[at + 2] = ((mid & 0x7f) << 1) | (b[at + 2]! & 0x1)
  b[at + 3] = lo >> 7
  b[at + 4] = ((lo & 0x7f) << 1) | (b[at + 4]! & 0x1)
}

/** A 6-byte PCR/OPCR field in 27 MHz units (base × 300 + extension). */
export function readClock(b: Uint8Array, at: number): number {
  const base = b[at]! * 2 ** 25 + b[at + 1]! * 2 ** 17 + b[at + 2]! * 2 ** 9 + b[at + 3]! * 2 + (b[at + 4]! >> 7)
  const ext = ((b[at + 4]! & 0x1) << 8) | b[at + 5]!
  return base * 300 + ext
}

/** Overwrite a PCR/OPCR field, keeping its 6 reserved bits. */
export function writeClock(b: Uint8Array, at: number, value27: number): void {
  const base = Math.floor(value27 / 300) % TIMESTAMP_WRAP
  const ext = value27 % 300
  b[at] = Math.floor(base / 2 ** 25) & 0xff
  b[at + 1] = Math.floor(base / 2 ** 17) & 0xff
  b[at + 2] = Math.floor(base / 2 ** 9) & 0xff
  b[at + 3] = Math.floor(base / 2) & 0xff
  b[at + 4] = ((base % 2) << 7) | (b[at + 4]! & 0x7e) | (ext >> 8)
  b[at + 5] = ext & 0xff
}

export interface PesHeader {
  streamId: number
  /** Offset of the PTS field, or -1. */
  ptsAt: number
  /** Offset of the DTS field, or -1. */
  dtsAt: number
}

/** Stream ids whose PES packets have no optional header (ISO 13818-1 table 2-21). */
function hasOptionalHeader(streamId: number): boolean {
  return (
    streamId !== 0xbc &&
    streamId !== 0xbe &&
    streamId !== 0xbf &&
    streamId !== 0xf0 &&
    streamId !== 0xf1 &&
    streamId !== 0xff &&
    streamId !== 0xf2 &&
    streamId !== 0xf8
  )
}

/** The PES header starting in the packet at `at`, when the packet starts one. */
export function pesHeader(b: Uint8Array, at: number): PesHeader | null {
  if ((b[at + 1]! & 0x40) === 0) return null
  const p = payloadStart(b, at)
  if (p < 0 || p + 9 > at + PACKET_SIZE) return null
  if (b[p] !== 0 || b[p + 1] !== 0 || b[p + 2] !== 1) return null
  const streamId = b[p + 3]!
  if (!hasOptionalHeader(streamId)) return { streamId, ptsAt: -1, dtsAt: -1 }
  const flags = b[p + 7]! >> 6
  const ptsAt = flags >= 2 && p + 14 <= at + PACKET_SIZE ? p + 9 : -1
  const dtsAt = flags === 3 && p + 19 <= at + PACKET_SIZE ? p + 14 : -1
  return { streamId, ptsAt, dtsAt }
}

export const isVideoStreamId = (id: number): boolean => id >= 0xe0 && id <= 0xef

export interface FirstTimestamps {
  /**
   * The first video frame's presentation time: the smallest PTS among the first few video PES (B-frames
   * may present before the first decoded frame).
   */
  video: number | null
  /** The first audio (any non-video PES) presentation time. */
  audio: number | null
}

/** A segment's first presentation times, in ticks, from at most its first `limit` bytes. */
export async function firstTimestamps(path: string, limit = 1024 * 1024): Promise<FirstTimestamps> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(limit)
    const { bytesRead } = await fh.read(buf, 0, limit, 0)
    let video: number | null = null
    let audio: number | null = null
    let seen = 0
    for (let at = 0; at + PACKET_SIZE <= bytesRead && (seen < 8 || audio == null); at += PACKET_SIZE) {
      if (buf[at] !== SYNC_BYTE) {
        at = resync(buf, at, bytesRead) - PACKET_SIZE
        continue
      }
      const pes = pesHeader(buf, at)
      if (pes == null || pes.ptsAt < 0) continue
      const pts = readTimestamp(buf, pes.ptsAt)
      if (!isVideoStreamId(pes.streamId)) {
        if (audio == null || tickDelta(pts, audio) < 0) audio = pts
        continue
      }
      if (video == null || tickDelta(pts, video) < 0) video = pts
      seen++
    }
    return { video, audio }
  } finally {
    await fh.close()
  }
}

/**
 * The next offset at or after `from` that looks like a packet start (a sync byte with another one
 * a packet later, or the last packet), or `end` when there is none.
 */
export function resync(b: Uint8Array, from: number, end: number): number {
  for (let i = from + 1; i < end; i++) {
    if (b[i] === SYNC_BYTE && (i + PACKET_SIZE >= end || b[i + PACKET_SIZE] === SYNC_BYTE)) return i
  }
  return end
}
