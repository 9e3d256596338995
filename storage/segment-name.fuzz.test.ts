/**
 * Property-based tests of the segment name grammar: hostile names never throw, every name we
 * write parses back to exactly what was written, and every name we accept is a single safe path
 * component inside the grammar. Seed: test/helpers/fuzz.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { fuzzRuns, hostileString } from '../test/helpers/fuzz.ts'
import {
  MAX_DURATION,
  SEGMENT_TYPES,
  formatDuration,
  formatSegmentRef,
  formatTempFileName,
  isValidPathName,
  parseDuration,
  parseSegmentFileName,
  parseSegmentPath,
  parseSegmentRef,
  parseTombstoneFileName
} from './segment-name.ts'
import { MICROS_PER_HOUR, formatHour, hourStart, parseHour } from './time.ts'

const HASH = 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg'
const UUID = '0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f'
/** 2000-01-01 to 2100-01-01, µs. */
const FROM = Date.UTC(2000, 0, 1) * 1000
const TO = Date.UTC(2100, 0, 1) * 1000

/** What an accepted file name must look like: one path component, in the grammar. */
const GRAMMAR =
  /^\d{2}:\d{2}(\.\d{0,6})?-\d{1,5}(\.\d{0,17})?-(full|suspect|partial)-[A-Za-z0-9_-]{43}\.ts$|^\d{2}:\d{2}(\.\d{0,6})?-\d{1,5}(\.\d{0,17})?-temp-[A-Za-z0-9_-]*\.ts$/

function assertSafeComponent(name: string): void {
  assert.ok(!/[/\\\u0000]/.test(name), `separator or NUL in ${JSON.stringify(name)}`)
  assert.ok(!name.includes('..'), `'..' in ${JSON.stringify(name)}`)
  assert.ok(!name.startsWith('.'), `leading '.' in ${JSON.stringify(name)}`)
}

const pathName = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/)
const segment = fc.record({
  channel: pathName,
  quality: pathName,
  start: fc.integer({ min: FROM, max: TO }),
  duration: fc.integer({ min: 0, max: MAX_DURATION }),
  type: fc.constantFrom('full' as const, 'suspect' as const, 'partial' as const),
  hash: fc.uint8Array({ minLength: 32, maxLength: 32 })
})

/** Names assembled field by field from valid and hostile alternatives, so many are accepted. */
const nearName = fc
  .tuple(
    fc.oneof(fc.constantFrom('00:00.000000', '59:59.999999', '12:34', '12:34.', '60:00.0', '00:60.0', '1:2.3'), hostileString()),
    fc.oneof(fc.constantFrom('2.0', '2', '0.000001', '86400.0', '86400.000001', '1e3', '-1', '2.00000050'), hostileString()),
    fc.oneof(fc.constantFrom(...SEGMENT_TYPES), hostileString(['full', 'temp'])),
    fc.oneof(
      fc.constantFrom(HASH, UUID, '', `${HASH}=`, HASH.slice(1), '../../etc/passwd', '..', 'a/b', 'x\u0000y'),
      hostileString([HASH])
    ),
    fc.oneof(fc.constantFrom('.ts', '.tombstone'), hostileString(['.ts']))
  )
  .map(([time, duration, type, last, ext]) => `${time}-${duration}-${type}-${last}${ext}`)

const anyName = fc.oneof(nearName, hostileString([HASH, '-full-', '.ts', '00:00.000000-2.0']))
const hourText = fc.oneof(
  fc.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}$/),
  fc.integer({ min: FROM, max: TO }).map(formatHour),
  hostileString(['2020-01-01T00', '2020-02-30T00', '0050-01-01T00'])
)

describe('segment names under fuzzing', () => {
  it('no input makes a parser throw', () => {
    fc.assert(
      fc.property(anyName, hostileString(), hostileString(), hourText, (name, channel, quality, hour) => {
        parseSegmentFileName(name)
        parseTombstoneFileName(name)
        parseSegmentPath(name)
        parseSegmentPath(`${channel}/${quality}/${hour}/${name}`)
        parseSegmentRef(channel, quality, hour, name)
        parseDuration(name)
        isValidPathName(channel)
        parseHour(hour)
      }),
      fuzzRuns(3000)
    )
  })

  it('every accepted name is one safe path component inside the grammar', () => {
    fc.assert(
      fc.property(anyName, (name) => {
        const parsed = parseSegmentFileName(name)
        if (!parsed.ok) return
        assert.match(name, GRAMMAR)
        assertSafeComponent(name)
        assert.equal(parsed.value.file, name)
        assert.equal(parsed.value.hash == null, parsed.value.type === 'temp')
        assert.ok(Number.isSafeInteger(parsed.value.offset) && parsed.value.offset >= 0 && parsed.value.offset < MICROS_PER_HOUR)
        assert.ok(Number.isSafeInteger(parsed.value.duration) && parsed.value.duration >= 0 && parsed.value.duration <= MAX_DURATION)
        const tombstone = parseTombstoneFileName(name.replace(/\.ts$/, '.tombstone'))
        assert.ok(tombstone.ok)
      }),
      fuzzRuns(5000)
    )
  })

  it('every accepted channel, quality and hour is a safe path component', () => {
    fc.assert(
      fc.property(hostileString(['abc', '.', '-', '_']), hourText, (name, hour) => {
        // `a..b` is an ordinary folder name; only a component that is `.` or `..` climbs, and a
        // leading `.` rules both out.
        if (isValidPathName(name)) assert.ok(!/[/\\\u0000]/.test(name) && !name.startsWith('.'), JSON.stringify(name))
        const start = parseHour(hour)
        if (start != null) {
          assertSafeComponent(hour)
          // The folder name is canonical: it is exactly what we would write for that instant.
          assert.equal(formatHour(start), hour)
          assert.ok(Number.isSafeInteger(start + MICROS_PER_HOUR))
        }
      }),
      fuzzRuns(3000)
    )
  })

  it('parse(format(x)) == x for every segment we can write', () => {
    fc.assert(
      fc.property(segment, (s) => {
        const ref = formatSegmentRef(s)
        assertSafeComponent(ref.file)
        assert.match(ref.file, GRAMMAR)
        const parsed = parseSegmentRef(ref.channel, ref.quality, ref.hour, ref.file)
        assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason)
        const v = parsed.value
        assert.deepEqual(
          { channel: v.channel, quality: v.quality, start: v.start, duration: v.duration, type: v.type, hash: [...v.hash!] },
          { channel: s.channel, quality: s.quality, start: s.start, duration: s.duration, type: s.type, hash: [...s.hash] }
        )
        assert.equal(hourStart(s.start), parseHour(ref.hour))
        const temp = parseSegmentFileName(formatTempFileName(s.start, s.duration, UUID))
        assert.ok(temp.ok && temp.value.type === 'temp' && temp.value.offset === v.offset && temp.value.duration === s.duration)
      }),
      fuzzRuns(2000)
    )
  })

  it('durations round-trip exactly in µs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_DURATION }), (us) => {
        const parsed = parseDuration(formatDuration(us))
        assert.ok(parsed.ok)
        assert.equal(parsed.value, us)
      }),
      fuzzRuns(2000)
    )
  })
})
