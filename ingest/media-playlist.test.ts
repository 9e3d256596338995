import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { T0 } from '../test/helpers/tree.ts'
import { type KnownEntry, type MediaEntry, entryTimes, parseMediaPlaylist, parseProgramDateTime } from './media-playlist.ts'

const URL_ = 'http://origin.test/live/index.m3u8'

function playlist(...lines: string[]): string {
  return ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:3', ...lines, ''].join('\n')
}

describe('parseProgramDateTime', () => {
  it('reads µs from the digits, with any offset', () => {
    assert.equal(parseProgramDateTime('2020-01-01T00:00:00.123456Z'), T0 + 123_456)
    assert.equal(parseProgramDateTime('2020-01-01T00:00:00.1234569Z'), T0 + 123_456, 'beyond µs is cut, not rounded through a float')
    assert.equal(parseProgramDateTime('2020-01-01T01:00:00.5+01:00'), T0 + 500_000)
    assert.equal(parseProgramDateTime('2019-12-31T23:30:00-0030'), T0)
    assert.equal(parseProgramDateTime('2020-01-01T00:00:00,25z'), T0 + 250_000)
    assert.equal(parseProgramDateTime('2019-12-31T23:59:60.5Z'), T0 + 500_000, "a leap second is the next minute's :00")
  })

  it('refuses what is not a real instant', () => {
    for (const bad of [
      '2020-02-30T00:00:00Z',
      '2020-01-01T24:00:00Z',
      '2020-01-01T00:00:61Z',
      '2020-01-01 00:00:00',
      '2020-01-01T00:00:00',
      'yesterday',
      ''
    ]) {
      assert.equal(parseProgramDateTime(bad), null, bad)
    }
  })
})

describe('parseMediaPlaylist', () => {
  it('takes durations and dates from their text, URIs and init sections made absolute', () => {
    const { entries, endlist } = parseMediaPlaylist(
      playlist(
        '#EXT-X-MEDIA-SEQUENCE:41',
        '#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"',
        '#EXT-X-PROGRAM-DATE-TIME:2020-01-01T00:00:00.000001Z',
        '#EXTINF:2.002,live',
        'a.ts',
        '#EXTINF:1.0000005,',
        '/abs/b.ts',
        '#EXTINF:3,',
        'https://cdn.test/c.ts'
      ),
      URL_
    )
    assert.equal(endlist, false)
    assert.deepEqual(
      entries.map((e) => [e.sequence, e.duration, e.date, e.uri]),
      [
        [41, 2_002_000, T0 + 1, 'http://origin.test/live/a.ts'],
        // Ties round to even on the digits, as segment names do.
        [42, 1_000_000, null, 'http://origin.test/abs/b.ts'],
        [43, 3_000_000, null, 'https://cdn.test/c.ts']
      ]
    )
    for (const e of entries) assert.deepEqual(e.init, { uri: 'http://origin.test/live/init.mp4', byterange: { offset: 0, length: 720 } })
  })

  it('keeps byte ranges, the offset following the previous range when left out', () => {
    const { entries } = parseMediaPlaylist(
      playlist(
        '#EXTINF:2.0,',
        '#EXT-X-BYTERANGE:1000@0',
        'all.ts',
        '#EXTINF:2.0,',
        '#EXT-X-BYTERANGE:500',
        'all.ts',
        '#EXTINF:2.0,',
        'c.ts'
      ),
      URL_
    )
    assert.deepEqual(
      entries.map((e) => e.byterange),
      [{ offset: 0, length: 1000 }, { offset: 1000, length: 500 }, null]
    )
  })

  it('leaves out the low-latency segment still being made (parts, no URI)', () => {
    const { entries } = parseMediaPlaylist(
      playlist(
        '#EXT-X-PART-INF:PART-TARGET=1.0',
        '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.0',
        '#EXTINF:2.0,',
        'a.ts',
        '#EXT-X-PART:DURATION=1.0,URI="b.0.ts",INDEPENDENT=YES',
        '#EXT-X-PART:DURATION=1.0,URI="b.1.ts"',
        '#EXTINF:2.0,',
        'b.ts',
        '#EXT-X-PART:DURATION=1.0,URI="c.0.ts"',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="c.1.ts"'
      ),
      URL_
    )
    assert.deepEqual(
      entries.map((e) => e.uri.split('/').at(-1)),
      ['a.ts', 'b.ts']
    )
  })

  it('says when the stream ended', () => {
    assert.equal(parseMediaPlaylist(playlist('#EXTINF:2.0,', 'a.ts', '#EXT-X-ENDLIST'), URL_).endlist, true)
  })

  it('refuses a master playlist, garbage, and entries it cannot place', () => {
    assert.throws(() => parseMediaPlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n', URL_), {
      code: 'SEGMESH_ERR_INGEST_PLAYLIST',
      message: /master playlist/
    })
    assert.throws(() => parseMediaPlaylist('<html>', URL_), { code: 'SEGMESH_ERR_INGEST_PLAYLIST', message: /no #EXTM3U/ })
    assert.throws(() => parseMediaPlaylist(playlist('#EXTINF:1e1,', 'a.ts'), URL_), {
      code: 'SEGMESH_ERR_INGEST_PLAYLIST',
      message: /EXTINF/
    })
    assert.throws(() => parseMediaPlaylist(playlist('#EXT-X-PROGRAM-DATE-TIME:soon', '#EXTINF:2.0,', 'a.ts'), URL_), {
      code: 'SEGMESH_ERR_INGEST_PLAYLIST',
      message: /PROGRAM-DATE-TIME/
    })
    assert.throws(() => parseMediaPlaylist(playlist('#EXT-X-KEY:METHOD=AES-128,URI="k"', '#EXTINF:2.0,', 'a.ts'), URL_), {
      code: 'SEGMESH_ERR_INGEST_PLAYLIST',
      message: /encrypted \(METHOD=AES-128\)/
    })
    assert.equal(parseMediaPlaylist(playlist('#EXT-X-KEY:METHOD=NONE', '#EXTINF:2.0,', 'a.ts'), URL_).entries.length, 1)
  })
})

describe('entryTimes', () => {
  const S = 2_000_000
  const entry = (sequence: number, date: number | null, duration = S): MediaEntry => ({
    uri: `u${sequence}`,
    byterange: null,
    sequence,
    duration,
    date,
    init: null,
    segment: null as never
  })
  const none = (): undefined => undefined

  it('uses each date, and extrapolates undated entries from the one before', () => {
    const times = entryTimes([entry(1, T0), entry(2, null), entry(3, null, 1_500_000), entry(4, null)], none, 0, 10_000)
    assert.deepEqual(
      times.map((t) => t.start),
      [T0, T0 + S, T0 + 2 * S, T0 + 2 * S + 1_500_000]
    )
  })

  it('counts entries before the first date back from it', () => {
    const times = entryTimes([entry(1, null), entry(2, null), entry(3, T0)], none, 0, 10_000)
    assert.deepEqual(
      times.map((t) => t.start),
      [T0 - 2 * S, T0 - S, T0]
    )
  })

  it('continues an earlier poll: placed entries stay put, new ones follow them', () => {
    const known = new Map<number, KnownEntry>([
      [7, { start: T0, duration: S }],
      [8, { start: T0 + S, duration: S }]
    ])
    const times = entryTimes([entry(8, null), entry(9, null)], (seq) => known.get(seq), T0 + 99 * S, 10_000)
    assert.deepEqual(
      times.map((t) => t.start),
      [T0 + S, T0 + 2 * S]
    )
  })

  it('with no date and nothing known, has the newest entry end now', () => {
    const now = T0 + 10 * S
    const times = entryTimes([entry(1, null), entry(2, null)], none, now, 10_000)
    assert.deepEqual(
      times.map((t) => t.start),
      [now - 2 * S, now - S]
    )
  })

  it('flags a date more than the tolerance away from the previous start + duration', () => {
    const times = entryTimes([entry(1, T0), entry(2, T0 + S + 10_000), entry(3, T0 + 2 * S + 30_000)], none, 0, 10_000)
    assert.deepEqual(
      times.map((t) => t.skewed),
      [false, false, true]
    )
    const known = (seq: number): KnownEntry | undefined => (seq === 0 ? { start: T0 - S, duration: S } : undefined)
    assert.equal(entryTimes([entry(1, T0 + 500_000)], known, 0, 10_000)[0]!.skewed, true, 'against an earlier poll too')
  })
})
