/**
 * The wubloader segment path grammar:
 * `CHANNEL/QUALITY/YYYY-MM-DDTHH/MM:SS.ffffff-DURATION-TYPE-HASH.ts`, and `<stem>.tombstone`.
 *
 * Parsing never throws: anything that is not a segment comes back as `{ ok: false, reason }`.
 * Times and durations are integer microseconds read from the digits, never through a float.
 */
import { decodeHash, encodeHash } from './segment-hash.ts'
import { MICROS_PER_HOUR, MICROS_PER_SECOND, formatHour, hourStart, parseHour } from './time.ts'

export type SegmentType = 'full' | 'suspect' | 'partial' | 'temp'
export const SEGMENT_TYPES: readonly SegmentType[] = ['full', 'suspect', 'partial', 'temp']
/** The types a finished segment has. Their positions are stored as type codes (index, packed hours): append only. */
export const STORED_TYPES: ReadonlyArray<Exclude<SegmentType, 'temp'>> = ['full', 'suspect', 'partial']

export const SEGMENT_EXT = '.ts'
export const TOMBSTONE_EXT = '.tombstone'

/** Longest segment we accept. The grammar allows any number; nothing real is a day long. */
export const MAX_DURATION = 24 * MICROS_PER_HOUR
/** Longest file name we accept (a canonical name is about 70 characters). */
const MAX_FILE_NAME = 200

/** What a segment file name alone says. */
export interface SegmentFileName {
  /** The exact file name, kept as written: peers copy files by exact name. */
  file: string
  /** Offset of the start within its hour, µs. */
  offset: number
  duration: number
  type: SegmentType
  /** The 32 sha256 bytes; null for `temp`, whose last field is a UUID. */
  hash: Buffer | null
}

/** A segment located in the tree: channel, quality and hour known. */
export interface SegmentRef extends SegmentFileName {
  channel: string
  quality: string
  hour: string
  /** Start instant, µs since the epoch. */
  start: number
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string }

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason }
}

const TIME_TEXT = /^(\d{2}):(\d{2})(?:\.(\d*))?$/
const DURATION_TEXT = /^(\d{1,5})(?:\.(\d{0,17}))?$/
const PATH_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/
/** A temp's last field: a UUID in practice; never a separator or dot (`x-temp-../../f.ts`). */
const TEMP_ID = /^[A-Za-z0-9_-]{0,64}$/

/**
 * Whether a channel or quality name is safe to use as one path component: letters, digits,
 * `_ - .`, not starting with `.` or `-`, at most 64 characters.
 */
export function isValidPathName(name: string): boolean {
  return PATH_NAME.test(name)
}

/** `MM:SS.ffffff` → µs within the hour. The fraction is right-padded (`5` is 500 000 µs). */
function parseTime(text: string): Parsed<number> {
  const m = TIME_TEXT.exec(text)
  if (m == null) return fail(`bad time '${text}': expected MM:SS.ffffff`)
  const minute = Number(m[1])
  const second = Number(m[2])
  const fraction = m[3] ?? ''
  if (minute > 59) return fail(`bad time '${text}': minute must be 0..59`)
  if (second > 59) return fail(`bad time '${text}': second must be 0..59`)
  if (fraction.length > 6) return fail(`bad time '${text}': more than 6 fractional digits`)
  const micros = fraction === '' ? 0 : Number(fraction.padEnd(6, '0'))
  return { ok: true, value: (minute * 60 + second) * MICROS_PER_SECOND + micros }
}

/**
 * Decimal seconds → µs, rounding to the nearest µs (ties to even) on the digits themselves.
 * Only plain digits with an optional fraction are read: exponent forms, `inf`, `nan`, signs,
 * underscores and spaces are rejected (see the bad names in segment-name.test.ts).
 */
export function parseDuration(text: string): Parsed<number> {
  const m = DURATION_TEXT.exec(text)
  if (m == null) return fail(`bad duration '${text}': expected decimal seconds`)
  const whole = Number(m[1])
  const fraction = m[2] ?? ''
  let micros = Number(fraction.slice(0, 6).padEnd(6, '0'))
  const rest = fraction.slice(6)
  if (rest !== '') {
    const half = '5'.padEnd(rest.length, '0')
    if (rest > half || (rest === half && micros % 2 === 1)) micros += 1
  }
  const value = whole * MICROS_PER_SECOND + micros
  if (value > MAX_DURATION) return fail(`bad duration '${text}': longer than ${MAX_DURATION / MICROS_PER_SECOND} s`)
  return { ok: true, value }
}

/** µs → the duration text the original writes: shortest decimal, integral values keep `.0`. */
export function formatDuration(us: number): string {
  if (!Number.isSafeInteger(us) || us < 0) throw new RangeError(`duration must be a non-negative integer of µs, got ${us}`)
  const whole = Math.floor(us / MICROS_PER_SECOND)
  const fraction = String(us % MICROS_PER_SECOND)
    .padStart(6, '0')
    .replace(/0+$/, '')
  return `${whole}.${fraction === '' ? '0' : fraction}`
}

/** Parse a bare segment file name (`MM:SS.ffffff-DURATION-TYPE-HASH.ts`). */
export function parseSegmentFileName(file: string): Parsed<SegmentFileName> {
  if (file.length > MAX_FILE_NAME) return fail('name too long')
  if (!file.endsWith(SEGMENT_EXT)) return fail('does not end in .ts')
  const fields = splitFields(file.slice(0, -SEGMENT_EXT.length))
  if (fields == null) return fail('not enough dashes')
  const [timeText, durationText, type, hashText] = fields
  if (!(SEGMENT_TYPES as readonly string[]).includes(type)) return fail(`unknown type '${type}'`)
  const offset = parseTime(timeText)
  if (!offset.ok) return offset
  const duration = parseDuration(durationText)
  if (!duration.ok) return duration
  let hash: Buffer | null = null
  if (type === 'temp') {
    if (!TEMP_ID.test(hashText)) return fail(`bad temp id '${hashText}': expected letters, digits, _ and -`)
  } else {
    hash = decodeHash(hashText)
    if (hash == null) return fail(`bad hash '${hashText}': expected 43 url-safe base64 characters (32 bytes)`)
  }
  return { ok: true, value: { file, offset: offset.value, duration: duration.value, type: type as SegmentType, hash } }
}

/** Split on the first three dashes only: the hash (or a temp's UUID) may itself contain dashes. */
function splitFields(stem: string): [string, string, string, string] | null {
  const a = stem.indexOf('-')
  const b = a < 0 ? -1 : stem.indexOf('-', a + 1)
  const c = b < 0 ? -1 : stem.indexOf('-', b + 1)
  if (c < 0) return null
  return [stem.slice(0, a), stem.slice(a + 1, b), stem.slice(b + 1, c), stem.slice(c + 1)]
}

/** A segment file in a known channel/quality/hour. */
export function parseSegmentRef(channel: string, quality: string, hour: string, file: string): Parsed<SegmentRef> {
  if (!isValidPathName(channel)) return fail(`bad channel '${channel}'`)
  if (!isValidPathName(quality)) return fail(`bad quality '${quality}'`)
  const hourUs = parseHour(hour)
  if (hourUs == null) return fail(`bad hour '${hour}': expected a real YYYY-MM-DDTHH`)
  const parsed = parseSegmentFileName(file)
  if (!parsed.ok) return parsed
  return { ok: true, value: { ...parsed.value, channel, quality, hour, start: hourUs + parsed.value.offset } }
}

/** What `parseSegmentPath` returns: a path shorter than CHANNEL/QUALITY/HOUR/FILE leaves the fields it lacks null. */
export interface ParsedSegmentPath extends SegmentFileName {
  channel: string | null
  quality: string | null
  hour: string | null
  start: number | null
}

/**
 * Parse a path whose last four components are CHANNEL/QUALITY/HOUR/FILE; shorter paths (a bare
 * file name, or HOUR/FILE) leave the missing fields null.
 */
export function parseSegmentPath(path: string): Parsed<ParsedSegmentPath> {
  const parts = path.split('/')
  const file = parts.at(-1) ?? ''
  const hour = parts.length >= 2 ? (parts.at(-2) ?? null) : null
  const quality = parts.length >= 3 ? (parts.at(-3) ?? null) : null
  const channel = parts.length >= 4 ? (parts.at(-4) ?? null) : null
  if (channel != null && !isValidPathName(channel)) return fail(`bad channel '${channel}'`)
  if (quality != null && !isValidPathName(quality)) return fail(`bad quality '${quality}'`)
  let hourUs: number | null = null
  if (hour != null) {
    hourUs = parseHour(hour)
    if (hourUs == null) return fail(`bad hour '${hour}': expected a real YYYY-MM-DDTHH`)
  }
  const parsed = parseSegmentFileName(file)
  if (!parsed.ok) return parsed
  const start = hourUs == null ? null : hourUs + parsed.value.offset
  return { ok: true, value: { ...parsed.value, channel, quality, hour, start } }
}

/** The stem of a tombstone file: the segment file name it hides. */
export function parseTombstoneFileName(file: string): Parsed<SegmentFileName> {
  if (!file.endsWith(TOMBSTONE_EXT)) return fail('does not end in .tombstone')
  const segment = parseSegmentFileName(segmentFileNameOfTombstone(file))
  if (!segment.ok) return fail(`tombstone for a bad name: ${segment.reason}`)
  return segment
}

export function tombstoneFileName(segmentFile: string): string {
  return segmentFile.slice(0, -SEGMENT_EXT.length) + TOMBSTONE_EXT
}

export function segmentFileNameOfTombstone(tombstoneFile: string): string {
  return tombstoneFile.slice(0, -TOMBSTONE_EXT.length) + SEGMENT_EXT
}

/** `MM:SS.ffffff` for an offset within the hour, always with six fractional digits. */
function formatTime(offset: number): string {
  const seconds = Math.floor(offset / MICROS_PER_SECOND)
  const micros = offset % MICROS_PER_SECOND
  const mm = String(Math.floor(seconds / 60)).padStart(2, '0')
  const ss = String(seconds % 60).padStart(2, '0')
  return `${mm}:${ss}.${String(micros).padStart(6, '0')}`
}

export interface NewSegment {
  channel: string
  quality: string
  start: number
  duration: number
  type: Exclude<SegmentType, 'temp'>
  hash: Uint8Array
}

/** The canonical name of a finished segment, as the original's writers produce it. */
export function formatSegmentRef(segment: NewSegment): SegmentRef {
  const hour = formatHour(segment.start)
  const offset = segment.start - hourStart(segment.start)
  const file = `${formatTime(offset)}-${formatDuration(segment.duration)}-${segment.type}-${encodeHash(segment.hash)}${SEGMENT_EXT}`
  return {
    channel: segment.channel,
    quality: segment.quality,
    hour,
    file,
    start: segment.start,
    offset,
    duration: segment.duration,
    type: segment.type,
    hash: Buffer.from(segment.hash)
  }
}

/**
 * The in-progress name for bytes that will become a segment starting at `start`: type `temp`, and a
 * UUID where the hash goes, as the name must exist before the bytes are checked (see "Write" in
 * docs/ARCHITECTURE.md).
 */
export function formatTempFileName(start: number, duration: number, uuid: string): string {
  return `${formatTime(start - hourStart(start))}-${formatDuration(duration)}-temp-${uuid}${SEGMENT_EXT}`
}

/** Path of a segment relative to the segments folder. */
export function segmentRelPath(ref: { channel: string; quality: string; hour: string; file: string }): string {
  return `${ref.channel}/${ref.quality}/${ref.hour}/${ref.file}`
}
