/**
 * Validation of path and query parameters, once, at the edge. Path parameters must match the
 * segment grammar, so nothing a client sends can name a file outside the segments folder.
 */
import { type SegmentFileName, type SegmentRef, isValidPathName, parseSegmentFileName } from '../storage/segment-name.ts'
import { parseHour, utcMillis } from '../storage/time.ts'
import type { FastifyRequest } from 'fastify'
import { badParameter, notFound } from './errors.ts'

export function channelParam(value: string): string {
  if (!isValidPathName(value))
    throw badParameter(
      'channel',
      `'${printable(value)}' is not a channel name (letters, digits, _ - . ; not starting with . or -; at most 64)`
    )
  return value
}

export function qualityParam(value: string): string {
  if (!isValidPathName(value))
    throw badParameter(
      'quality',
      `'${printable(value)}' is not a quality name (letters, digits, _ - . ; not starting with . or -; at most 64)`
    )
  return value
}

/** An hour folder name → its first µs. */
export function hourParam(value: string): number {
  const start = parseHour(value)
  if (start == null) throw badParameter('hour', `'${printable(value)}' is not an hour (YYYY-MM-DDTHH)`)
  return start
}

export function segmentFileParam(value: string): SegmentFileName {
  const parsed = parseSegmentFileName(value)
  if (!parsed.ok) throw badParameter('file', `'${printable(value)}' is not a segment file name: ${parsed.reason}`)
  return parsed.value
}

/** The segment a `/segments/:channel/:quality/:hour/:file` path names (a `temp` name is never served: 404). */
export function segmentPathParams(params: { channel: string; quality: string; hour: string; file: string }): SegmentRef {
  const channel = channelParam(params.channel)
  const quality = qualityParam(params.quality)
  const hourStart = hourParam(params.hour)
  const name = segmentFileParam(params.file)
  if (name.type === 'temp') throw notFound(`${params.file} is still being written`)
  return { ...name, channel, quality, hour: params.hour, start: hourStart + name.offset }
}

export function boolParam(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value == null) return fallback
  const v = value.toLowerCase()
  if (v === 'true') return true
  if (v === 'false') return false
  throw badParameter(name, 'must be one of: true, false')
}

/** A whole number in [min, max], written in plain digits. */
export function countParam(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value == null) return fallback
  const n = /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= min && n <= max)) throw badParameter(name, `must be a whole number from ${min} to ${max}`)
  return n
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+ -]\d{2}:?\d{2})?$/

/**
 * ISO 8601 UTC → µs since the epoch, read from the digits (never through a float). Fractions
 * beyond µs are truncated. `Z` or a zero offset is accepted; so is no suffix at all, which is what
 * wubloader's clients send and which it reads as UTC. A `+` written raw in a query string arrives
 * as a space, so ` 00:00` is taken for `+00:00`; that zero offset only: any other offset is refused
 * rather than silently misread.
 */
export function timeParam(name: string, value: string | undefined): number | undefined {
  if (value == null) return undefined
  const m = TIME.exec(value)
  if (m == null) throw badParameter(name, `'${printable(value)}' is not an ISO 8601 UTC time like 2019-11-13T02:45:51.608Z`)
  const offset = m[8]
  if (offset != null && offset !== 'Z' && !/^[+ -]00:?00$/.test(offset)) {
    const decoded = offset.startsWith(' ') ? " (a '+' in a URL reads as a space: write %2B for it, or better, Z)" : ''
    throw badParameter(name, `only UTC times are accepted (Z or +00:00), got offset '${offset}'${decoded}`)
  }
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number]
  const ms = utcMillis(y, mo, d, h, mi, s)
  if (ms == null) throw badParameter(name, `'${printable(value)}' is not a real date and time between the years 1685 and 2255`)
  const micros = Number((m[7] ?? '').slice(0, 6).padEnd(6, '0'))
  return ms * 1000 + micros
}

/**
 * An onRequest hook: every query parameter is a single value, but those the route lists in its
 * `config.repeatable`. Repeated, fastify hands a route an array where it expects a string (a
 * TypeError, 500); here it is a 400 naming the parameter, once for every route.
 */
export async function singleValuedQuery(request: FastifyRequest): Promise<void> {
  const repeatable = request.routeOptions.config.repeatable ?? []
  for (const [name, value] of Object.entries(request.query as Record<string, unknown>)) {
    if (Array.isArray(value) && !repeatable.includes(name)) throw badParameter(printable(name), 'given more than once; give it once')
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Query parameters this route takes more than once (the rest are refused when repeated). */
    repeatable?: readonly string[]
  }
}

/** For messages: control characters and overlong values are not echoed back raw. */
function printable(value: string): string {
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '?')
  return clean.length > 80 ? `${clean.slice(0, 80)}…` : clean
}
