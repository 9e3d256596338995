import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatInstant } from '../storage/time.ts'
import { T0 } from '../test/helpers/tree.ts'
import { adFlags, emptyAdState } from './ad-markers.ts'
import { entryTimes, parseMediaPlaylist } from './media-playlist.ts'

const S = 2_000_000

/** Five (or `n`) 2 s entries from T0, `tags[i]` written before entry i. */
function flags(tags: Record<number, string[]>, n = 5, state = emptyAdState(), first = 0): boolean[] {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:2', `#EXT-X-MEDIA-SEQUENCE:${first}`]
  for (let i = first; i < first + n; i++) {
    lines.push(...(tags[i] ?? []), `#EXT-X-PROGRAM-DATE-TIME:${formatInstant(T0 + i * S)}`, '#EXTINF:2.000,', `s${i}.ts`)
  }
  const { entries } = parseMediaPlaylist(lines.join('\n') + '\n', 'http://o.test/p.m3u8')
  const starts = entryTimes(entries, () => undefined, 0, 10_000).map((t) => t.start)
  return adFlags(entries, starts, state)
}

describe('adFlags', () => {
  it('CUE-OUT … CUE-IN', () => {
    assert.deepEqual(flags({ 1: ['#EXT-X-CUE-OUT:DURATION=4'], 3: ['#EXT-X-CUE-IN'] }), [false, true, true, false, false])
  })

  it('an entry inside a break that began before the window (CUE-OUT-CONT)', () => {
    assert.deepEqual(
      flags({
        0: ['#EXT-X-CUE-OUT-CONT:ElapsedTime=2,Duration=6'],
        1: ['#EXT-X-CUE-OUT-CONT:ElapsedTime=4,Duration=6'],
        2: ['#EXT-X-CUE-IN']
      }),
      [true, true, false, false, false]
    )
  })

  it('SCTE-35 cues in EXT-X-SCTE35 tags', () => {
    assert.deepEqual(flags({ 1: ['#EXT-X-SCTE35:CUE="/DAl",CUE-OUT=YES'], 2: ['#EXT-X-SCTE35:CUE="/DAl",CUE-IN=YES'] }), [
      false,
      true,
      false,
      false,
      false
    ])
  })

  it('an ad-class DATERANGE covers the entries starting inside it', () => {
    const tag = `#EXT-X-DATERANGE:ID="ad1",CLASS="twitch-stitched-ad",START-DATE="${formatInstant(T0 + S)}",DURATION=4.0`
    assert.deepEqual(flags({ 1: [tag] }), [false, true, true, false, false])
  })

  it('a DATERANGE with SCTE35-OUT and no end lasts until a CUE-IN', () => {
    const tag = `#EXT-X-DATERANGE:ID="s1",START-DATE="${formatInstant(T0 + S)}",SCTE35-OUT=0xFC30`
    assert.deepEqual(flags({ 1: [tag], 4: ['#EXT-X-CUE-IN'] }), [false, true, true, true, false])
  })

  it('other DATERANGEs are not ads', () => {
    const tag = `#EXT-X-DATERANGE:ID="chapter",CLASS="com.example.chapter",START-DATE="${formatInstant(T0 + S)}",DURATION=4.0`
    assert.deepEqual(flags({ 1: [tag] }), [false, false, false, false, false])
  })

  it('Twitch stitched ads titled "Amazon"', () => {
    const lines = [
      '#EXTM3U',
      '#EXT-X-TARGETDURATION:2',
      `#EXT-X-PROGRAM-DATE-TIME:${formatInstant(T0)}`,
      '#EXTINF:2.000,Amazon|123',
      'a.ts',
      '#EXTINF:2.000,live',
      'b.ts',
      ''
    ]
    const { entries } = parseMediaPlaylist(lines.join('\n'), 'http://o.test/p.m3u8')
    assert.deepEqual(adFlags(entries, [T0, T0 + S], emptyAdState()), [true, false])
  })

  it('a break stays open from one poll to the next', () => {
    const state = emptyAdState()
    assert.deepEqual(flags({ 3: ['#EXT-X-CUE-OUT:DURATION=6'] }, 4, state), [false, false, false, true])
    assert.deepEqual(flags({ 5: ['#EXT-X-CUE-IN'] }, 2, state, 4), [true, false])
  })
})
