/**
 * Joins MPEG-TS pieces into one stream with continuous timestamps, without remuxing: every PTS,
 * DTS, PCR and OPCR of a piece is shifted by that piece's offset, in place, as the bytes stream by.
 * This is what lets a fast cut copy an hour of segments at disk speed (an ffmpeg concat/copy pass
 * over the same bytes measured 5–15× slower, see docs/BENCHMARKS.md).
 *
 * Also, across the whole output:
 *  - continuity counters continue per PID from one piece to the next (a jump would make demuxers
 *    flag the next packet corrupt), while a piece's own duplicates and jumps are kept;
 *  - PCR never goes backwards per PID (pieces made by different muxers lead PTS by different
 *    amounts, so a join could otherwise step the clock back);
 *  - a piece may drop its leading audio (any non-video PES) before a given instant: a re-encoded
 *    edge starts with an encoder-priming frame from before its cut, which would land on the last
 *    copied frame's timestamp (muxers reject timestamps that do not advance);
 *  - bytes that are not packets (a truncated tail, garbage before a sync byte) are dropped.
 *
 * DTS is shifted like PTS, so sources with B-frames are fine (unlike the original's FixTS).
 */
import {
  NULL_PID,
  PACKET_SIZE,
  SYNC_BYTE,
  addTicks,
  isVideoStreamId,
  pesHeader,
  pidOf,
  readClock,
  readTimestamp,
  resync,
  tickDelta,
  writeClock,
  writeTimestamp
} from './ts-packets.ts'

const CLOCK_WRAP = 2 ** 33 * 300

export class TsRetimer {
  /** Last continuity counter written, per PID. */
  readonly #cc = new Map<number, number>()
  /** Per PID, what to add to the current piece's counters; set at the PID's first packet in it. */
  #ccShift = new Map<number, number>()
  /** Last PCR written (27 MHz), per PID. */
  readonly #pcr = new Map<number, number>()
  /** Leading non-video PES before this PTS (unshifted) are dropped from the current piece. */
  #audioFrom: number | null = null
  /** Per PID in the current piece: true while its leading PES packets are being dropped, false once one is kept. */
  #leading = new Map<number, boolean>()
  #offset = 0
  #carry: Buffer | null = null
  /** Bytes dropped because they were not whole packets. */
  droppedBytes = 0
  /** Packets written. */
  packets = 0
  /** Packets dropped as leading audio. */
  droppedPackets = 0

  /**
   * Start a piece whose timestamps move by `offsetTicks` (90 kHz, may be negative); its leading
   * audio PES packets presented before `audioFrom` (its own ticks) are dropped.
   */
  begin(offsetTicks: number, audioFrom: number | null = null): void {
    this.#finishCarry()
    this.#offset = offsetTicks
    this.#audioFrom = audioFrom
    this.#ccShift = new Map()
    this.#leading = new Map()
  }

  /**
   * Rewrite the whole packets in `chunk` (plus any partial packet left from the previous chunk).
   * `chunk` is modified in place; the result is zero, one or two views to send, in order.
   */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = []
    let from = 0
    const carry = this.#carry
    if (carry != null) {
      const need = PACKET_SIZE - carry.length
      if (chunk.length < need) {
        this.#carry = Buffer.concat([carry, chunk])
        return out
      }
      const packet = Buffer.concat([carry, chunk.subarray(0, need)])
      this.#carry = null
      if (packet[0] === SYNC_BYTE) {
        if (this.#packet(packet, 0)) out.push(packet)
        from = need
      } else {
        // Lost sync: look for it again in these bytes.
        this.droppedBytes += carry.length
      }
    }
    let at = from
    let runStart = from
    while (at + PACKET_SIZE <= chunk.length) {
      if (chunk[at] !== SYNC_BYTE) {
        if (at > runStart) out.push(chunk.subarray(runStart, at))
        const next = resync(chunk, at, chunk.length)
        this.droppedBytes += next - at
        at = runStart = next
        continue
      }
      if (!this.#packet(chunk, at)) {
        if (at > runStart) out.push(chunk.subarray(runStart, at))
        runStart = at + PACKET_SIZE
      }
      at += PACKET_SIZE
    }
    if (at > runStart) out.push(chunk.subarray(runStart, at))
    if (at < chunk.length) this.#carry = Buffer.from(chunk.subarray(at))
    return out
  }

  /** End the current piece: a partial packet left at its end is dropped. */
  end(): void {
    this.#finishCarry()
  }

  #finishCarry(): void {
    if (this.#carry != null) this.droppedBytes += this.#carry.length
    this.#carry = null
  }

  /** Rewrite one packet in place; false when it is to be dropped. */
  #packet(b: Buffer, at: number): boolean {
    const pid = pidOf(b, at)
    if (pid === NULL_PID) return this.#kept()
    const pes = pesHeader(b, at)
    if (this.#audioFrom != null && pes != null && pes.ptsAt >= 0 && !isVideoStreamId(pes.streamId) && this.#leading.get(pid) !== false) {
      this.#leading.set(pid, tickDelta(readTimestamp(b, pes.ptsAt), this.#audioFrom) < 0)
    }
    if (this.#leading.get(pid) === true) {
      this.droppedPackets++
      return false
    }
    this.#continuity(b, at, pid)
    const control = (b[at + 3]! >> 4) & 0x3
    if ((control & 0x2) !== 0 && b[at + 4]! > 0) this.#adaptation(b, at, pid)
    if (pes == null) return this.#kept()
    if (pes.ptsAt >= 0) writeTimestamp(b, pes.ptsAt, addTicks(readTimestamp(b, pes.ptsAt), this.#offset))
    if (pes.dtsAt >= 0) writeTimestamp(b, pes.dtsAt, addTicks(readTimestamp(b, pes.dtsAt), this.#offset))
    return this.#kept()
  }

  #kept(): true {
    this.packets++
    return true
  }

  #continuity(b: Buffer, at: number, pid: number): void {
    const hasPayload = (b[at + 3]! & 0x10) !== 0
    const cc = b[at + 3]! & 0xf
    let shift = this.#ccShift.get(pid)
    if (shift == null) {
      const last = this.#cc.get(pid)
      // Counters only advance on packets with payload.
      shift = last == null ? 0 : (last + (hasPayload ? 1 : 0) - cc + 16) & 0xf
      this.#ccShift.set(pid, shift)
    }
    const next = (cc + shift) & 0xf
    b[at + 3] = (b[at + 3]! & 0xf0) | next
    this.#cc.set(pid, next)
  }

  #adaptation(b: Buffer, at: number, pid: number): void {
    const length = b[at + 4]!
    const flags = b[at + 5]!
    let field = at + 6
    const end = at + 5 + length
    if ((flags & 0x10) !== 0 && field + 6 <= end) {
      let pcr = this.#shiftClock(readClock(b, field))
      const last = this.#pcr.get(pid)
      if (last != null && clockDelta(pcr, last) < 0) pcr = last
      this.#pcr.set(pid, pcr)
      writeClock(b, field, pcr)
      field += 6
    }
    if ((flags & 0x08) !== 0 && field + 6 <= end) writeClock(b, field, this.#shiftClock(readClock(b, field)))
  }

  #shiftClock(value27: number): number {
    return (((value27 + this.#offset * 300) % CLOCK_WRAP) + CLOCK_WRAP) % CLOCK_WRAP
  }
}

function clockDelta(a: number, b: number): number {
  return tickDelta(Math.floor(a / 300), Math.floor(b / 300)) * 300 + (a % 300) - (b % 300)
}
