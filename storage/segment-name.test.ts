import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeHash, encodeHash, sha256 } from './segment-hash.ts'
import {
  formatDuration,
  formatSegmentRef,
  formatTempFileName,
  parseDuration,
  parseSegmentFileName,
  parseSegmentPath,
  parseSegmentRef,
  parseTombstoneFileName
} from './segment-name.ts'
import { formatHour, formatInstant, formatSeconds, parseHour } from './time.ts'

// wubloader's own test vectors. H0 is the sha256 of the empty string.
const H0 = '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU'
const H1 = '7IS92rssMzoSBQDIevHStbTNy-URRV3Vw-jzZ6pwOZM'
const P = 'c/q/2020-01-01T00/'
const T0 = Date.UTC(2020, 0, 1) * 1000

function ok(path: string): NonNullable<ReturnType<typeof parseSegmentPath> & { ok: true }>['value'] {
  const r = parseSegmentPath(path)
  assert.ok(r.ok, `expected ${path} to parse, got ${r.ok ? '' : r.reason}`)
  return r.value
}

function rejected(path: string, reason: RegExp): void {
  const r = parseSegmentPath(path)
  assert.equal(r.ok, false, `expected ${path} to be rejected`)
  if (!r.ok) assert.match(r.reason, reason)
}

describe('segment names: accepted vectors (rows 1–12)', () => {
  const row1 = `desertbus/source/2019-11-13T02/45:51.608000-2.0-full-${H1}.ts`

  it('1: full path, exact µs, the hash keeps its dashes', () => {
    const s = ok(row1)
    assert.equal(s.channel, 'desertbus')
    assert.equal(s.quality, 'source')
    assert.equal(s.hour, '2019-11-13T02')
    assert.equal(s.start, Date.UTC(2019, 10, 13, 2, 45, 51, 608) * 1000)
    assert.equal(formatInstant(s.start!), '2019-11-13T02:45:51.608000Z')
    assert.equal(s.duration, 2_000_000)
    assert.equal(s.type, 'full')
    assert.equal(s.hash!.length, 32)
    assert.equal(s.hash!.subarray(0, 4).toString('hex'), 'ec84bdda')
    assert.equal(s.hash!.subarray(28).toString('hex'), 'aa703993')
  })

  it('2: a longer prefix uses only the last four components', () => {
    assert.deepEqual(ok(`/segments/${row1}`), ok(row1))
  })

  it('3: a bare file name leaves channel, quality and start null', () => {
    const s = ok(`45:51.608000-2.0-full-${H1}.ts`)
    assert.equal(s.channel, null)
    assert.equal(s.quality, null)
    assert.equal(s.start, null)
    assert.equal(s.duration, 2_000_000)
    assert.equal(s.type, 'full')
  })

  it('4: HOUR/FILE parses the start', () => {
    const s = ok(`2019-11-13T02/45:51.608000-2.0-full-${H1}.ts`)
    assert.equal(s.channel, null)
    assert.equal(s.start, Date.UTC(2019, 10, 13, 2, 45, 51, 608) * 1000)
  })

  it('5: the empty-string hash', () => {
    const s = ok(`${P}00:00.000000-2.0-full-${H0}.ts`)
    assert.equal(s.start, T0)
    assert.equal(s.hash!.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  it('6: a short fraction is right-padded; suspect', () => {
    const s = ok(`${P}00:00.5-2.0-suspect-${H0}.ts`)
    assert.equal(s.start, T0 + 500_000)
    assert.equal(s.type, 'suspect')
  })

  it('7: partial, 2.002 s', () => {
    const s = ok(`${P}00:00.123456-2.002-partial-${H0}.ts`)
    assert.equal(s.start, T0 + 123_456)
    assert.equal(s.duration, 2_002_000)
    assert.equal(s.type, 'partial')
  })

  it('8 and 9: the fraction may be omitted or empty', () => {
    assert.equal(ok(`${P}59:59-6-full-${H0}.ts`).start, T0 + 3599_000_000)
    assert.equal(ok(`${P}59:59-6-full-${H0}.ts`).duration, 6_000_000)
    assert.equal(ok(`${P}59:59.-6-full-${H0}.ts`).start, T0 + 3599_000_000)
  })

  it('10: one microsecond exactly', () => {
    assert.equal(ok(`${P}00:00.000001-2.0-full-${H0}.ts`).start, T0 + 1)
  })

  it('11 and 12: temp keeps its UUID whole (even empty) and has no hash', () => {
    const s = ok(`${P}00:00.000000-2.0-temp-0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts`)
    assert.equal(s.type, 'temp')
    assert.equal(s.hash, null)
    assert.equal(ok(`${P}00:00.000000-2.0-temp-.ts`).hash, null)
  })
})

describe('segment names: rejected vectors', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['13 empty hash (strict length)', `${P}00:00.000000-2.0-full-.ts`, /bad hash/],
    ['14 one-byte hash', `${P}00:00.000000-2.0-full-AB.ts`, /bad hash/],
    ['15 44-character hash', `${P}00:00.000000-2.0-full-${H0}x.ts`, /bad hash/],
    ['16 seven fractional digits', `${P}00:00.1234567-2.0-full-${H0}.ts`, /fractional digits/],
    ['17 second 60', `${P}00:60.000000-2.0-full-${H0}.ts`, /second must be/],
    ['18 hour 24', `c/q/2020-01-01T24/00:00.000000-2.0-full-${H0}.ts`, /bad hour/],
    ['19 February 30', `c/q/2020-02-30T00/00:00.000000-2.0-full-${H0}.ts`, /bad hour/],
    ['20 unknown type', `${P}00:00.000000-2.0-bogus-${H0}.ts`, /unknown type 'bogus'/],
    ['21 empty type', `${P}00:00.000000-2.0--${H0}.ts`, /unknown type ''/],
    ['22 not enough dashes', `${P}00:00.000000-2.0-full.ts`, /not enough dashes/],
    ['23 tombstone extension', `${P}00:00.000000-2.0-full-${H0}.tombstone`, /does not end in \.ts/],
    ['24 upper-case extension', `${P}00:00.000000-2.0-full-${H0}.TS`, /does not end in \.ts/],
    ['25 non-numeric duration', `${P}00:00.000000-abc-full-${H0}.ts`, /bad duration/],
    ['26 one-character hash', `${P}00:00.000000-2.0-full-A.ts`, /bad hash/],
    ['27 hash with a bad character', `${P}00:00.000000-2.0-full-ab!c.ts`, /bad hash/],
    ['28 hash with extra text', `${P}00:00.000000-2.0-full-${H0}-extra.ts`, /bad hash/],
    ['29 exponent duration', `${P}00:00.000000-1e-05-full-${H0}.ts`, /bad duration|unknown type/],
    ['30 one-digit minute', `${P}0:00.000000-2.0-full-${H0}.ts`, /bad time/],
    ['31 nan', `${P}00:00.000000-nan-full-${H0}.ts`, /bad duration/],
    ['32 inf', `${P}00:00.000000-inf-full-${H0}.ts`, /bad duration/],
    ['32 1e16', `${P}00:00.000000-1e16-full-${H0}.ts`, /bad duration/],
    ['33 unchecked separators', `c/q/2020x01y01z00/00x00y5-2.0-full-${H0}.ts`, /bad hour/],
    ['33 separators in the time', `${P}00x00y5-2.0-full-${H0}.ts`, /bad time/],
    ['34 underscore duration', `${P}00:00.000000-1_0-full-${H0}.ts`, /bad duration/],
    ['34 leading space', `${P}00:00.000000- 2.0-full-${H0}.ts`, /bad duration/],
    ['34 exponent 1e3', `${P}00:00.000000-1e3-full-${H0}.ts`, /bad duration/],
    ['minute 60', `${P}60:00.000000-2.0-full-${H0}.ts`, /minute must be/],
    ['huge duration', `${P}00:00.000000-99999.0-full-${H0}.ts`, /longer than/],
    ['non-canonical last hash character', `${P}00:00.000000-2.0-full-${H0.slice(0, -1)}V.ts`, /bad hash/],
    ['hidden channel', `.c/q/2020-01-01T00/00:00.000000-2.0-full-${H0}.ts`, /bad channel/],
    ['dot-dot quality', `c/../2020-01-01T00/00:00.000000-2.0-full-${H0}.ts`, /bad quality/],
    ['overlong name', `${P}00:00.000000-2.0-full-${'A'.repeat(300)}.ts`, /too long/]
  ]
  for (const [name, path, reason] of cases) {
    it(name, () => rejected(path, reason))
  }

  it('never throws, whatever the input', () => {
    const junk = ['', '/', '////', '-', '---', '.ts', '-.ts', '--.ts', '---.ts', '\0.ts', 'a'.repeat(10_000), '💥/💥/💥/💥.ts']
    for (const j of junk) assert.equal(parseSegmentPath(j).ok, false)
  })
})

describe('durations', () => {
  it('round to the nearest µs on the digits (row 35, but without float error)', () => {
    const v = (t: string): number => {
      const r = parseDuration(t)
      assert.ok(r.ok)
      return r.value
    }
    assert.equal(v('0.0000005'), 0)
    assert.equal(v('0.0000015'), 2)
    assert.equal(v('0.0000025'), 2)
    assert.equal(v('0.00000251'), 3)
    assert.equal(v('2.0333333333'), 2_033_333)
    assert.equal(v('0'), 0)
    assert.equal(v('6'), 6_000_000)
  })

  it('are written the way the original writes them', () => {
    assert.equal(formatDuration(2_000_000), '2.0')
    assert.equal(formatDuration(2_002_000), '2.002')
    assert.equal(formatDuration(6_006_000), '6.006')
    assert.equal(formatDuration(1_668_000), '1.668')
    assert.equal(formatDuration(10), '0.00001')
    assert.equal(formatDuration(0), '0.0')
    assert.throws(() => formatDuration(1.5), RangeError)
  })
})

describe('formatting', () => {
  it('round-trips a finished segment name', () => {
    const hash = sha256(Buffer.from('hello'))
    const start = Date.UTC(2019, 10, 13, 2, 45, 51, 608) * 1000 + 7
    const ref = formatSegmentRef({ channel: 'desertbus', quality: 'source', start, duration: 2_002_000, type: 'full', hash })
    assert.equal(ref.hour, '2019-11-13T02')
    assert.equal(ref.file, `45:51.608007-2.002-full-${encodeHash(hash)}.ts`)
    const back = parseSegmentRef('desertbus', 'source', ref.hour, ref.file)
    assert.ok(back.ok)
    assert.deepEqual(back.value, ref)
  })

  it('writes temp names that parse as temp', () => {
    const start = T0 + 3599_999_999
    const name = formatTempFileName(start, 2_000_000, '0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f')
    assert.equal(name, '59:59.999999-2.0-temp-0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts')
    const r = parseSegmentFileName(name)
    assert.ok(r.ok && r.value.type === 'temp')
  })

  it('tombstones name their segment', () => {
    const r = parseTombstoneFileName(`00:00.000000-2.0-full-${H0}.tombstone`)
    assert.ok(r.ok && r.value.type === 'full')
    assert.equal(parseTombstoneFileName(`00:00.000000-2.0-full-${H0}.ts`).ok, false)
    assert.equal(parseTombstoneFileName('junk.tombstone').ok, false)
  })
})

describe('hashes and hours', () => {
  it('encode and decode sha256 both ways', () => {
    assert.equal(encodeHash(sha256(Buffer.alloc(0))), H0)
    assert.deepEqual(decodeHash(H0), sha256(Buffer.alloc(0)))
    // The doc's variant with - and _ swapped is a different digest, and still well-formed.
    assert.notDeepEqual(decodeHash('47DEQpj8HBSa_-TImW_5JCeuQeRkm5NMpJWZG3hSuFU'), sha256(Buffer.alloc(0)))
    assert.equal(decodeHash(`${H0}=`), null)
    assert.equal(decodeHash(H0.replace('-', '+')), null)
  })

  it('parse and format hour folders', () => {
    assert.equal(parseHour('2020-01-01T00'), T0)
    assert.equal(parseHour('2024-02-29T23'), Date.UTC(2024, 1, 29, 23) * 1000)
    assert.equal(parseHour('2023-02-29T00'), null)
    assert.equal(parseHour('2020-1-01T00'), null)
    assert.equal(formatHour(T0 + 3599_999_999), '2020-01-01T00')
    assert.equal(formatSeconds(10), '0.000010')
    assert.equal(formatSeconds(-1_500_000), '-1.500000')
  })
})
