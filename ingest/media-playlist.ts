/**
 * A live media playlist → the entries a recorder needs, and when each one starts.
 * hls-parser reads the structure (URIs, sequence numbers, init sections, markers); EXTINF and
 * EXT-X-PROGRAM-DATE-TIME are re-read from their text, because hls-parser turns them into a float
 * and a millisecond Date, and segment names need exact microseconds.
 */
import { parseDuration } from '../storage/segment-name.ts'
import { utcMillis } from '../storage/time.ts'
import { PlaylistError } from './errors.ts'
import { type HlsSegment, type MediaPlaylist, parsePlaylist, resolveUri } from './hls.ts'

/** Bytes [offset, offset + length) of a resource (EXT-X-BYTERANGE, or BYTERANGE of EXT-X-MAP). */
export interface ByteRange {
  offset: number
  length: number
}

export interface InitSection {
  uri: string
  byterange: ByteRange | null
}

export interface MediaEntry {
  uri: string
  /** Only these bytes of `uri` are the segment. */
  byterange: ByteRange | null
  sequence: number
  /** EXTINF, µs. */
  duration: number
  /** The entry's own EXT-X-PROGRAM-DATE-TIME, µs since the epoch; null when it carries none. */
  date: number | null
  /** EXT-X-MAP in force for this entry: its bytes are prepended to the segment's. */
  init: InitSection | null
  /** hls-parser's view of the entry, for ad detection. */
  segment: HlsSegment
}

export interface ParsedMediaPlaylist {
  entries: MediaEntry[]
  endlist: boolean
  playlist: MediaPlaylist
}

const PDT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}(?::?\d{2})?)$/i

/**
 * An EXT-X-PROGRAM-DATE-TIME value (ISO 8601 with any offset) → µs since the epoch, from the
 * digits. Null when it is not a real instant.
 */
export function parseProgramDateTime(text: string): number | null {
  const m = PDT.exec(text.trim())
  if (m == null) return null
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number]
  if (s > 60) return null
  // A leap second (:60) is the next minute's :00.
  const base = utcMillis(y, mo, d, h, mi, Math.min(s, 59))
  if (base == null) return null
  const ms = base + (s === 60 ? 1000 : 0)
  const fraction = Number((m[7] ?? '').slice(0, 6).padEnd(6, '0'))
  let offsetMinutes = 0
  const zone = m[8]!.toUpperCase()
  if (zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '')
    const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0')
    offsetMinutes = zone.startsWith('-') ? -minutes : minutes
  }
  return (ms - offsetMinutes * 60_000) * 1000 + fraction
}

/** EXTINF text (`2.002,title`) → µs, or null. */
function extinfMicros(value: string): number | null {
  const text = value.split(',', 1)[0]!.trim()
  const parsed = parseDuration(text)
  return parsed.ok ? parsed.value : null
}

/** Per entry, the exact text of its EXTINF and PROGRAM-DATE-TIME tags, in playlist order. */
function rawTimes(text: string): Array<{ extinf: string | null; pdt: string | null }> {
  const out: Array<{ extinf: string | null; pdt: string | null }> = []
  let extinf: string | null = null
  let pdt: string | null = null
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '') continue
    if (line.startsWith('#')) {
      if (line.startsWith('#EXTINF:')) extinf = line.slice('#EXTINF:'.length)
      else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length)
      continue
    }
    out.push({ extinf, pdt })
    extinf = null
    pdt = null
  }
  return out
}

/** hls-parser's byte range (offset optional, meaning 0) → ours. */
function byteRange(range: { offset?: number; length: number } | undefined): ByteRange | null {
  return range == null ? null : { offset: range.offset ?? 0, length: range.length }
}

export function parseMediaPlaylist(text: string, url: string): ParsedMediaPlaylist {
  const playlist = parsePlaylist(text, url)
  if (playlist.isMasterPlaylist) throw new PlaylistError(`${url} is a master playlist, expected a media playlist`)
  const times = rawTimes(text)
  // A low-latency playlist ends with the parts of a segment still being made: no URI yet, not ours.
  const segments = playlist.segments.filter((s) => s.uri != null && s.uri !== '')
  if (times.length !== segments.length) {
    throw new PlaylistError(`${url}: ${times.length} URI lines but ${segments.length} segments parsed`)
  }
  const entries = segments.map((segment, i): MediaEntry => {
    const { extinf, pdt } = times[i]!
    const duration = extinf == null ? null : extinfMicros(extinf)
    if (duration == null)
      throw new PlaylistError(`${url}: segment ${segment.mediaSequenceNumber} has no usable EXTINF (${JSON.stringify(extinf)})`)
    const date = pdt == null ? null : parseProgramDateTime(pdt)
    if (pdt != null && date == null)
      throw new PlaylistError(`${url}: segment ${segment.mediaSequenceNumber} has a bad PROGRAM-DATE-TIME '${pdt}'`)
    // Stored bytes must play on their own: encrypted ones would replicate everywhere, unplayable.
    if (segment.key != null && segment.key.method !== 'NONE')
      throw new PlaylistError(
        `${url}: segment ${segment.mediaSequenceNumber} is encrypted (METHOD=${segment.key.method}), which the recorder does not support`
      )
    const map = segment.map
    return {
      uri: resolveUri(segment.uri, url),
      byterange: byteRange(segment.byterange),
      sequence: segment.mediaSequenceNumber,
      duration,
      date,
      init: map == null ? null : { uri: resolveUri(map.uri, url), byterange: byteRange(map.byterange) },
      segment
    }
  })
  return { entries, endlist: playlist.endlist, playlist }
}

/** What is known of an earlier entry, so a later poll can continue its timeline. */
export interface KnownEntry {
  start: number
  duration: number
}

export interface EntryTime {
  start: number
  /** Its own date disagrees with the previous entry's start + duration by more than the tolerance. */
  skewed: boolean
}

/**
 * Start of every entry: its own PROGRAM-DATE-TIME; else where an earlier poll placed it; else the
 * previous entry's start + duration (the previous entry may come from an earlier poll, by
 * sequence number). Entries before the first known start are counted back from it. With no date
 * anywhere and nothing known, the newest entry is taken to end at `nowUs` (what a live origin
 * publishes has just finished).
 */
export function entryTimes(
  entries: readonly MediaEntry[],
  known: (sequence: number) => KnownEntry | undefined,
  nowUs: number,
  skewToleranceUs: number
): EntryTime[] {
  const out: Array<EntryTime | null> = []
  for (const [i, entry] of entries.entries()) {
    const prev =
      i > 0
        ? out[i - 1] == null
          ? undefined
          : { start: out[i - 1]!.start, duration: entries[i - 1]!.duration }
        : known(entry.sequence - 1)
    const expected = prev == null ? null : prev.start + prev.duration
    const placed = known(entry.sequence)
    if (entry.date != null) {
      out.push({ start: entry.date, skewed: expected != null && Math.abs(entry.date - expected) > skewToleranceUs })
    } else if (placed != null) {
      // Placed by an earlier poll: an undated timeline must not move between polls.
      out.push({ start: placed.start, skewed: false })
    } else {
      out.push(expected == null ? null : { start: expected, skewed: false })
    }
  }
  let anchor = out.findIndex((t) => t != null)
  if (anchor < 0) {
    if (entries.length === 0) return []
    anchor = entries.length - 1
    out[anchor] = { start: nowUs - entries[anchor]!.duration, skewed: false }
  }
  for (let i = anchor - 1; i >= 0; i--) out[i] = { start: out[i + 1]!.start - entries[i]!.duration, skewed: false }
  return out as EntryTime[]
}
