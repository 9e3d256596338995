/** Integer-microsecond time helpers. Nothing here goes through a float of seconds. */

export const MICROS_PER_SECOND = 1_000_000
export const MICROS_PER_HOUR = 3_600_000_000

const HOUR_TEXT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})$/

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

/** Instants whose µs since the epoch, plus an hour, are still exact integers (years 1685 to 2255). */
const MAX_INSTANT_MS = Math.floor((Number.MAX_SAFE_INTEGER - MICROS_PER_HOUR) / 1000)

/**
 * A UTC calendar time → ms since the epoch, or null when a field is out of range, the date does
 * not exist (02-30), or its µs would not be exact integers. Date.UTC would read years 0–99 as
 * 1900–1999; setUTCFullYear does not.
 */
export function utcMillis(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number | null {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null
  const date = new Date(0)
  date.setUTCFullYear(y, mo - 1, d)
  date.setUTCHours(h, mi, s, 0)
  const ms = date.getTime()
  if (date.getUTCDate() !== d || !(Math.abs(ms) <= MAX_INSTANT_MS)) return null
  return ms
}

/** Start of a `YYYY-MM-DDTHH` hour folder in µs since the epoch, or null when it is not a real hour. */
export function parseHour(hour: string): number | null {
  const m = HOUR_TEXT.exec(hour)
  if (m == null) return null
  const ms = utcMillis(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]))
  return ms == null ? null : ms * 1000
}

/** The `YYYY-MM-DDTHH` folder name of the hour containing `us`. */
export function formatHour(us: number): string {
  const d = new Date(Math.floor(us / 1000))
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}`
}

/** The first µs of the hour containing `us`. */
export function hourStart(us: number): number {
  return us - mod(us, MICROS_PER_HOUR)
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b
}

/** ISO 8601 UTC with all six fractional digits: `2019-11-13T02:45:51.608000Z`. */
export function formatInstant(us: number): string {
  const ms = Math.floor(us / 1000)
  const d = new Date(ms)
  const iso = d.toISOString() // …T02:45:51.608Z
  return `${iso.slice(0, 19)}.${pad(mod(us, MICROS_PER_SECOND), 6)}Z`
}

/** µs → decimal seconds text for ffmpeg and playlists, never in exponent form (`0.000010`, not `1e-5`). */
export function formatSeconds(us: number): string {
  const sign = us < 0 ? '-' : ''
  const abs = Math.abs(us)
  const whole = Math.floor(abs / MICROS_PER_SECOND)
  const frac = abs % MICROS_PER_SECOND
  return `${sign}${whole}.${pad(frac, 6)}`
}
