import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { probeEntries, segmentFiles } from '../test/helpers/media.ts'
import { tempDir } from '../test/helpers/tree.ts'
import { TsRetimer } from './ts-retimer.ts'
import {
  PACKET_SIZE,
  TIMESTAMP_WRAP,
  addTicks,
  firstTimestamps,
  microsOfTicks,
  pesHeader,
  readClock,
  readTimestamp,
  tickDelta,
  ticksOf,
  writeClock,
  writeTimestamp
} from './ts-packets.ts'

const run = promisify(execFile)

/** A packet starting a PES on `pid` with a PTS (and DTS), optionally with a PCR. */
function pes(pid: number, streamId: number, cc: number, pts: number, options: { dts?: number; pcr?: number } = {}): Buffer {
  const b = Buffer.alloc(PACKET_SIZE, 0xff)
  b[0] = 0x47
  b[1] = 0x40 | (pid >> 8)
  b[2] = pid & 0xff
  let p = 4
  if (options.pcr != null) {
    b[3] = 0x30 | cc
    b[4] = 7
    b[5] = 0x10
    b[10] = 0x7e
    writeClock(b, 6, options.pcr)
    p = 12
  } else {
    b[3] = 0x10 | cc
  }
  const hasDts = options.dts != null
  b.set([0, 0, 1, streamId, 0, 0, 0x80, hasDts ? 0xc0 : 0x80, hasDts ? 10 : 5], p)
  b[p + 9] = hasDts ? 0x31 : 0x21
  b[p + 13] = 1
  b[p + 11] = 1
  writeTimestamp(b, p + 9, pts)
  if (hasDts) {
    b[p + 14] = 0x11
    b[p + 16] = 1
    b[p + 18] = 1
    writeTimestamp(b, p + 14, options.dts!)
  }
  return b
}

/** A continuation packet (payload only) on `pid`. */
function payload(pid: number, cc: number, fill = 0xaa): Buffer {
  const b = Buffer.alloc(PACKET_SIZE, fill)
  b[0] = 0x47
  b[1] = pid >> 8
  b[2] = pid & 0xff
  b[3] = 0x10 | cc
  return b
}

function feed(retimer: TsRetimer, bytes: Buffer, chunk = bytes.length): Buffer {
  const out: Buffer[] = []
  for (let i = 0; i < bytes.length; i += chunk) out.push(...retimer.push(Buffer.from(bytes.subarray(i, i + chunk))))
  return Buffer.concat(out)
}

function packets(bytes: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < bytes.length; i += PACKET_SIZE) out.push(bytes.subarray(i, i + PACKET_SIZE))
  return out
}

const ptsOf = (p: Buffer): number => readTimestamp(p, pesHeader(p, 0)!.ptsAt)
const ccOf = (p: Buffer): number => p[3]! & 0xf

describe('timestamp fields', () => {
  it('round-trip 33-bit values and keep prefix and marker bits', () => {
    for (const value of [0, 1, 90_000, 2 ** 30 + 12345, 2 ** 32 + 7, TIMESTAMP_WRAP - 1]) {
      const p = pes(0x100, 0xe0, 0, value, { dts: Math.max(value - 3000, 0) })
      const h = pesHeader(p, 0)!
      assert.equal(readTimestamp(p, h.ptsAt), value)
      assert.equal(p[h.ptsAt]! >> 4, 0x3, 'PTS prefix 0011 when a DTS follows')
      assert.equal(p[h.ptsAt]! & 1, 1)
      assert.equal(p[h.ptsAt + 2]! & 1, 1)
      assert.equal(p[h.ptsAt + 4]! & 1, 1)
    }
    // The original's vector: a PTS of 0 is 21 00 01 00 01.
    const zero = pes(0x100, 0xe0, 0, 0)
    assert.deepEqual([...zero.subarray(13, 18)], [0x21, 0x00, 0x01, 0x00, 0x01])
  })

  it('round-trip PCR (base and extension) and keep its reserved bits', () => {
    const b = Buffer.alloc(6)
    b[4] = 0x7e
    for (const value of [0, 299, 300 * 90_000 + 17, (TIMESTAMP_WRAP - 1) * 300 + 299]) {
      writeClock(b, 0, value)
      assert.equal(readClock(b, 0), value)
      assert.equal(b[4]! & 0x7e, 0x7e)
    }
    // The original's vector: a PCR of 0.5 s is 00 00 57 e4 00 00 with the reserved bits zero.
    const c = Buffer.alloc(6)
    writeClock(c, 0, 0.5 * 27_000_000)
    assert.deepEqual([...c], [0x00, 0x00, 0x57, 0xe4, 0x00, 0x00])
  })

  it('do clock arithmetic across the 33-bit wrap, µs ↔ ticks without floats of seconds', () => {
    assert.equal(addTicks(TIMESTAMP_WRAP - 10, 25), 15)
    assert.equal(addTicks(5, -10), TIMESTAMP_WRAP - 5)
    assert.equal(tickDelta(15, TIMESTAMP_WRAP - 10), 25)
    assert.equal(tickDelta(TIMESTAMP_WRAP - 10, 15), -25)
    assert.equal(ticksOf(1_000_000), 90_000)
    assert.equal(ticksOf(50), 5)
    assert.equal(microsOfTicks(127_920), 1_421_333)
    assert.equal(microsOfTicks(ticksOf(3_600_000_000)), 3_600_000_000)
  })
})

describe('TsRetimer', () => {
  it('shifts PTS, DTS and PCR by the piece offset, across the wrap', () => {
    const input = Buffer.concat([pes(0x100, 0xe0, 0, 1000, { dts: 500, pcr: 400 * 300 + 5 }), pes(0x101, 0xc0, 0, TIMESTAMP_WRAP - 100)])
    const r = new TsRetimer()
    r.begin(200)
    const [video, audio] = packets(feed(r, input))
    const h = pesHeader(video!, 0)!
    assert.equal(readTimestamp(video!, h.ptsAt), 1200)
    assert.equal(readTimestamp(video!, h.dtsAt), 700)
    assert.equal(readClock(video!, 6), 600 * 300 + 5)
    assert.equal(ptsOf(audio!), 100)
    r.begin(-1000)
    assert.equal(ptsOf(packets(feed(r, pes(0x100, 0xe0, 1, 400)))[0]!), TIMESTAMP_WRAP - 600)
  })

  it('gives the same bytes whatever the chunking', () => {
    const input = Buffer.concat([
      pes(0x100, 0xe0, 0, 9000, { pcr: 0 }),
      payload(0x100, 1),
      pes(0x101, 0xc0, 0, 9100),
      payload(0x101, 1),
      pes(0x100, 0xe0, 2, 12000)
    ])
    const whole = feed(new TsRetimer(), Buffer.from(input))
    for (const chunk of [1, 7, 100, 187, 188, 189, 500]) {
      const r = new TsRetimer()
      r.begin(0)
      const out = feed(r, Buffer.from(input), chunk)
      r.end()
      assert.ok(out.equals(whole), `chunks of ${chunk}`)
    }
  })

  it("continues continuity counters across pieces and keeps a piece's own repeats", () => {
    const r = new TsRetimer()
    r.begin(0)
    feed(r, Buffer.concat([pes(0x100, 0xe0, 3, 0), payload(0x100, 4), payload(0x100, 4)]))
    // The next file starts its counter afresh at 0.
    r.begin(0)
    const out = packets(feed(r, Buffer.concat([pes(0x100, 0xe0, 0, 3000), payload(0x100, 1), payload(0x100, 1), payload(0x100, 2)])))
    assert.deepEqual(out.map(ccOf), [5, 6, 6, 7])
  })

  it('never lets PCR go back on a PID', () => {
    const r = new TsRetimer()
    r.begin(0)
    feed(r, pes(0x100, 0xe0, 0, 200_000, { pcr: 100_000 * 300 }))
    r.begin(0)
    const [p] = packets(feed(r, pes(0x100, 0xe0, 0, 210_000, { pcr: 90_000 * 300 })))
    assert.equal(readClock(p!, 6), 100_000 * 300)
  })

  it("drops a piece's leading audio before `audioFrom`, whole PES packets, counters still continuous", () => {
    const r = new TsRetimer()
    r.begin(0)
    feed(r, pes(0x101, 0xc0, 0, 1000))
    r.begin(10, 5000)
    const out = packets(
      feed(
        r,
        Buffer.concat([
          pes(0x101, 0xc0, 0, 3000),
          payload(0x101, 1), // priming: before 5000
          pes(0x100, 0xe0, 0, 4000), // video is never dropped
          pes(0x101, 0xc0, 2, 5000),
          payload(0x101, 3),
          pes(0x101, 0xc0, 4, 4000) // only leading audio goes
        ])
      )
    )
    assert.deepEqual(
      out.map((p) => ((p[1]! & 0x1f) << 8) | p[2]!),
      [0x100, 0x101, 0x101, 0x101]
    )
    assert.deepEqual(out.filter((p) => p[2] === 0x01).map(ccOf), [1, 2, 3])
    assert.equal(ptsOf(out[1]!), 5010)
    assert.equal(r.droppedPackets, 2)
  })

  it('drops what is not a packet: garbage before a sync byte, a partial tail', () => {
    const r = new TsRetimer()
    r.begin(0)
    const out = feed(r, Buffer.concat([Buffer.from('junk'), pes(0x100, 0xe0, 0, 0), payload(0x100, 1), payload(0x100, 2).subarray(0, 100)]))
    r.end()
    assert.equal(out.length, 2 * PACKET_SIZE)
    assert.equal(r.droppedBytes, 104)
  })

  it('retimes a real segment: ffprobe sees it start where asked', async (t) => {
    const dir = await tempDir(t)
    const [file] = await segmentFiles(12)
    const bytes = await readFile(file!)
    const times = await firstTimestamps(file!)
    assert.ok(times.video != null && times.audio != null)
    const r = new TsRetimer()
    // Put the first frame at exactly 100 s.
    r.begin(100 * 90_000 - times.video)
    const out = join(dir, 'moved.ts')
    await writeFile(out, feed(r, Buffer.from(bytes), 65_536))
    assert.equal((await probeEntries(out, 'v:0', 'stream=start_time'))[0], '100.000000')
    const { stderr } = await run('ffmpeg', ['-v', 'warning', '-i', out, '-f', 'null', '-'])
    assert.equal(stderr.trim(), '')
  })
})
