/**
 * HLS playlists from best-segment selections.
 *
 * The master playlist is built with hls-parser. Media playlists are written here: hls-parser's
 * stringify checks every tag against all previous lines (`Array.includes` per line), which is
 * quadratic in practice — measured 0.5 s for 4,000 segments and over a minute for a 24 h
 * playlist — so it is used to *read* every playlist we emit in the tests instead.
 */
import HLS from 'hls-parser'
import { HOLE, type Selection } from '../storage/best-segments.ts'
import type { IndexedSegment } from '../storage/segment-index.ts'
import { formatDuration } from '../storage/segment-name.ts'
import { MICROS_PER_SECOND, hourStart } from '../storage/time.ts'

/** A hole this close to `now` may still be filled (an out-of-order download): a live playlist stops before it. */
export const LIVE_EDGE = 30 * MICROS_PER_SECOND

export interface MediaPlan {
  /** Segments, with HOLE where a discontinuity goes. Never starts or ends with HOLE. */
  entries: Selection
  /** True when the range is fully covered and entirely in the past: the playlist will not change. */
  endlist: boolean
  targetDuration: number
  segments: number
}

/**
 * Decide what a media playlist for [start, end) shows: a leading hole is dropped, a trailing one
 * makes the playlist open (no ENDLIST), interior holes become discontinuities. For a live range
 * the list stops before a hole near the live edge, so a later reload only ever appends.
 */
export function planMediaPlaylist(selection: Selection, end: number, now: number): MediaPlan {
  const entries = selection.slice()
  if (entries[0] === HOLE) entries.shift()
  let complete = true
  if (entries.length > 0 && entries.at(-1) === HOLE) {
    entries.pop()
    complete = false
  }
  if (end > now) {
    let lastEnd = 0
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]
      if (e === HOLE) {
        if (lastEnd >= now - LIVE_EDGE) {
          entries.length = i
          complete = false
          break
        }
      } else if (e != null) {
        lastEnd = e.start + e.duration
      }
    }
  }
  let maxDuration = 0
  let segments = 0
  for (const e of entries) {
    if (e === HOLE) continue
    segments++
    if (e.duration > maxDuration) maxDuration = e.duration
  }
  return {
    entries,
    endlist: complete && end <= now && segments > 0,
    targetDuration: Math.max(1, Math.ceil(maxDuration / MICROS_PER_SECOND)),
    segments
  }
}

export function segmentUri(s: IndexedSegment): string {
  return `/segments/${encodeURIComponent(s.channel)}/${encodeURIComponent(s.quality)}/${s.hour}/${encodeURIComponent(s.file)}`
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'))
/** File names that need only `:` escaped (what encodeURIComponent would do to them). */
const URL_SAFE_BUT_COLON = /^[0-9A-Za-z_.:~!*'()-]+$/
/** `MM:SS.ffffff-` then nothing encodeURIComponent would change. */
const CANONICAL = /^\d\d:\d\d\.\d{6}-[0-9A-Za-z_.~!*'()-]+$/

/** Segments written as playlist lines; entry i's three lines are `text[offsets[i], offsets[i + 1])`. */
export interface RenderedLines {
  text: Buffer
  offsets: Uint32Array
}

const PERCENT_3A = [37, 51, 65]
const NEWLINE = 10

/**
 * The PROGRAM-DATE-TIME, EXTINF and URI lines of each segment, in order, copied byte by byte into
 * one buffer: no string per segment (a Date and toISOString per segment made 24 h cost ~70 ms),
 * and next to no garbage, which matters because a cold playlist writes while the selection's tens
 * of thousands of segment objects are alive, and every scavenge would copy them. A name in the
 * canonical form `MM:SS.ffffff-…` already holds the instant's text within the hour, so the date is
 * the hour folder name plus those 12 characters, and the URI the hour's prefix plus the name with
 * its one `:` escaped; other names (fewer fractional digits) are written through a string. Every
 * character is ASCII (names follow the segment grammar, the rest is percent-encoded).
 */
export function renderLines(segments: readonly IndexedSegment[]): RenderedLines {
  const offsets = new Uint32Array(segments.length + 1)
  let text = Buffer.allocUnsafe(segments.length * 200 + 256)
  let o = 0
  let hour = ''
  let channel = ''
  let quality = ''
  let hourUs = 0
  let prefix = ''
  let pdt = Buffer.alloc(0)
  let duration = -1
  let durationText = ''
  let extinf = Buffer.alloc(0)
  for (let i = 0; i < segments.length; i++) {
    const e = segments[i]!
    offsets[i] = o
    if (e.hour !== hour || e.channel !== channel || e.quality !== quality) {
      hour = e.hour
      channel = e.channel
      quality = e.quality
      hourUs = hourStart(e.start)
      prefix = `/segments/${encodeURIComponent(channel)}/${encodeURIComponent(quality)}/${hour}/`
      pdt = Buffer.from(`#EXT-X-PROGRAM-DATE-TIME:${hour}:`, 'latin1')
      duration = -1
    }
    if (e.duration !== duration) {
      duration = e.duration
      durationText = formatDuration(duration)
      extinf = Buffer.from(`Z\n#EXTINF:${durationText},\n${prefix}`, 'latin1')
    }
    const f = e.file
    const n = f.length
    // The most this entry can take: percent-encoding triples a character at worst.
    const most = pdt.length + 16 + extinf.length + 3 * n + 1
    if (o + most > text.length) {
      const larger = Buffer.allocUnsafe(2 * (o + most))
      text.copy(larger, 0, 0, o)
      text = larger
    }
    text.set(pdt, o)
    o += pdt.length
    if (CANONICAL.test(f)) {
      for (let k = 0; k < 12; k++) text[o + k] = f.charCodeAt(k)
      o += 12
      text.set(extinf, o)
      o += extinf.length
      text[o] = f.charCodeAt(0)
      text[o + 1] = f.charCodeAt(1)
      text.set(PERCENT_3A, o + 2)
      o += 5
      for (let k = 3; k < n; k++) text[o + k - 3] = f.charCodeAt(k)
      o += n - 3
    } else {
      const offset = e.start - hourUs
      const micros = offset % MICROS_PER_SECOND
      const seconds = (offset - micros) / MICROS_PER_SECOND
      o += text.write(`${TWO_DIGITS[Math.floor(seconds / 60)]}:${TWO_DIGITS[seconds % 60]}.${String(micros).padStart(6, '0')}`, o, 'latin1')
      text.set(extinf, o)
      o += extinf.length
      o += text.write(URL_SAFE_BUT_COLON.test(f) ? f.replaceAll(':', '%3A') : encodeURIComponent(f), o, 'latin1')
    }
    text[o++] = NEWLINE
  }
  offsets[segments.length] = o
  return { text: text.subarray(0, o), offsets }
}

export const playlistHeader = (plan: MediaPlan): string =>
  `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:${plan.targetDuration}\n#EXT-X-MEDIA-SEQUENCE:0\n`
export const DISCONTINUITY = '#EXT-X-DISCONTINUITY\n'
export const ENDLIST = '#EXT-X-ENDLIST\n'

/** hls.js shows a level's NAME; players pick by BANDWIDTH. Guesses by conventional quality names. */
const BANDWIDTH: Record<string, number> = { '1080p': 6_846_146, '720p': 2_373_000, '480p': 1_427_999, '360p': 630_000, '160p': 230_000 }

function bandwidthGuess(quality: string): number {
  const m = /^(\d+p)/.exec(quality)
  return BANDWIDTH[m?.[1] ?? ''] ?? BANDWIDTH['1080p']!
}

/** A master playlist with one variant per quality; `query` (start/end) is passed on to each. */
export function masterPlaylist(channel: string, qualities: readonly string[], query: string): string {
  const variants = qualities.map(
    (q) =>
      new HLS.types.Variant({
        uri: `/playlist/${encodeURIComponent(channel)}/${encodeURIComponent(q)}.m3u8${query}`,
        bandwidth: bandwidthGuess(q),
        video: [new HLS.types.Rendition({ type: 'VIDEO', groupId: q, name: q, isDefault: true, autoselect: true, forced: false })]
      })
  )
  return `${HLS.stringify(new HLS.types.MasterPlaylist({ variants }))}\n`
}
