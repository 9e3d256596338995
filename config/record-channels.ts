/**
 * The `record` option: channels a node records itself. On the command line and in the environment,
 * `NAME=URL` (repeat the flag, or comma-separate); in a config file also a list of objects or an
 * object keyed by channel, each `{ url, qualities?, important? }`.
 */
import { ConfigError } from './errors.ts'
import type { RecordChannel } from './options.ts'

/** One channel as written; `qualities: null` takes the `qualities` option. */
export interface RecordChannelInput extends Omit<RecordChannel, 'qualities'> {
  qualities: string[] | null
}

const FIELDS = new Set(['channel', 'url', 'qualities', 'important'])

function checkUrl(url: unknown, where: string): string {
  if (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url))
    throw new ConfigError(where, `${JSON.stringify(url)} is not an http(s) playlist URL`)
  return url
}

function fromText(item: string, where: string): RecordChannelInput {
  const eq = item.indexOf('=')
  if (eq <= 0) throw new ConfigError(where, `'${item}' is not NAME=URL`)
  return { channel: item.slice(0, eq).trim(), url: checkUrl(item.slice(eq + 1).trim(), where), qualities: null, important: false }
}

function fromObject(channel: unknown, value: Record<string, unknown>, where: string): RecordChannelInput {
  for (const key of Object.keys(value))
    if (!FIELDS.has(key)) throw new ConfigError(where, `unknown field '${key}' (known: url, qualities, important)`)
  if (typeof channel !== 'string' || channel === '') throw new ConfigError(where, 'each channel needs a name')
  let qualities: string[] | null = null
  if (value.qualities != null) {
    const raw = typeof value.qualities === 'string' ? value.qualities.split(',') : value.qualities
    if (!Array.isArray(raw) || raw.length === 0 || !raw.every((q) => typeof q === 'string' && q.trim() !== '')) {
      throw new ConfigError(where, `qualities of '${channel}' must be a non-empty list of names`)
    }
    qualities = raw.map((q: string) => q.trim())
  }
  if (value.important != null && typeof value.important !== 'boolean')
    throw new ConfigError(where, `important of '${channel}' must be true or false`)
  return { channel, url: checkUrl(value.url, where), qualities, important: value.important === true }
}

/** A raw `record` value from any layer → channels, or a ConfigError naming `where`. */
export function parseRecordOption(raw: unknown, where: string): RecordChannelInput[] {
  if (typeof raw === 'string')
    return raw
      .split(/,(?=\s*[A-Za-z0-9_.-]+=https?:)/)
      .filter((s) => s.trim() !== '')
      .map((s) => fromText(s.trim(), where))
  if (Array.isArray(raw)) {
    return raw.map((item) => {
      if (typeof item === 'string') return fromText(item, where)
      if (item != null && typeof item === 'object' && !Array.isArray(item)) {
        const { channel, ...rest } = item as Record<string, unknown>
        return fromObject(channel, rest, where)
      }
      throw new ConfigError(where, 'each entry must be NAME=URL or { channel, url, qualities?, important? }')
    })
  }
  if (raw != null && typeof raw === 'object') {
    return Object.entries(raw as Record<string, unknown>).map(([channel, value]) => {
      if (typeof value === 'string') return { channel, url: checkUrl(value, where), qualities: null, important: false }
      if (value != null && typeof value === 'object' && !Array.isArray(value))
        return fromObject(channel, value as Record<string, unknown>, where)
      throw new ConfigError(where, `'${channel}' must be a URL or { url, qualities?, important? }`)
    })
  }
  throw new ConfigError(where, 'must be NAME=URL entries or channel objects')
}

/** Channels with their qualities filled in from the `qualities` option. */
export function withQualities(channels: readonly RecordChannelInput[], qualities: readonly string[]): RecordChannel[] {
  return channels.map((c) => ({ ...c, qualities: [...(c.qualities ?? qualities)] }))
}
