/** Integer-microsecond time helpers. Nothing here goes through a float of seconds. */

export const MICROS_PER_SECOND = 1_000_000
export const MICROS_PER_HOUR = 3_600_000_000

const HOUR_TEXT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})$/

function pad (n: number, width: number): string {
  return String(n).padStart(width, '0')
}

/** Start of a `YYYY-MM-DDTHH` hour folder in µs since the epoch, or null when it is not a real hour. */
export function parseHour (hour: string): number | null {
  const m = HOUR_TEXT.exec(hour)
  if (m == null) return null
  const [y, mo, d, h] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]
  if (mo < 1 || mo > 12 || d < 1 || h > 23) return null
  const ms = Date.UTC(y, mo - 1, d, h)
  // Date.UTC rolls 02-30 over into March; a real date survives the round trip.
  if (new Date(ms).getUTCDate() !== d) return null
  return ms * 1000
}

/** The `YYYY-MM-DDTHH` folder name of the hour containing `us`. */
export function formatHour (us: number): string {
  const d = new Date(Math.floor(us / 1000))
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}`
}

/** The first µs of the hour containing `us`. */
export function hourStart (us: number): number {
  return us - mod(us, MICROS_PER_HOUR)
}

function mod (a: number, b: number): number {
  return ((a % b) + b) % b
}

/** ISO 8601 UTC with all six fractional digits: `2019-11-13T02:45:51.608000Z`. */
export function formatInstant (us: number): string {
  const ms = Math.floor(us / 1000)
  const d = new Date(ms)
  const iso = d.toISOString() // …T02:45:51.608Z
  return `${iso.slice(0, 19)}.${pad(mod(us, MICROS_PER_SECOND), 6)}Z`
}

/** µs → decimal seconds text for ffmpeg and playlists, never in exponent form (`0.000010`, not `1e-5`). */
export function formatSeconds (us: number): string {
  const sign = us < 0 ? '-' : ''
  const abs = Math.abs(us)
  const whole = Math.floor(abs / MICROS_PER_SECOND)
  const frac = abs % MICROS_PER_SECOND
  return `${sign}${whole}.${pad(frac, 6)}`
}
