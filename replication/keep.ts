/**
 * What a node keeps on its disk: `--keep CHANNEL` or `--keep CHANNEL/QUALITY`, repeatable;
 * everything when none is given. Replication backfills, walks and fetches only what is kept; the
 * rest is served read-through without being stored (http/read-through.ts). A node tells its peers
 * its patterns in its hello, so they neither walk nor offer it what it would drop.
 */
import { isValidPathName } from '../storage/segment-name.ts'

/** Patterns a node may give (and a hello may carry). */
export const MAX_KEEP_PATTERNS = 64

/** Why `pattern` is not CHANNEL or CHANNEL/QUALITY, or null when it is. */
export function keepPatternError(pattern: string): string | null {
  const parts = pattern.split('/')
  if (parts.length > 2) return 'must be CHANNEL or CHANNEL/QUALITY'
  if (!parts.every((p) => p.length <= 64 && isValidPathName(p))) return 'names a channel or quality outside the name grammar'
  return null
}

export class KeepFilter {
  /** Keeps everything. */
  static readonly ALL = new KeepFilter([])
  readonly patterns: readonly string[]
  readonly #channels: ReadonlySet<string>
  readonly #keys: ReadonlySet<string>
  /** Channels named by any pattern. */
  readonly #named: ReadonlySet<string>

  /** `patterns` must be valid (keepPatternError): config and hello decoding check them. */
  constructor(patterns: readonly string[]) {
    this.patterns = [...new Set(patterns)]
    this.#channels = new Set(this.patterns.filter((p) => !p.includes('/')))
    this.#keys = new Set(this.patterns.filter((p) => p.includes('/')))
    this.#named = new Set(this.patterns.map((p) => p.split('/')[0]!))
  }

  get everything(): boolean {
    return this.patterns.length === 0
  }

  keeps(channel: string, quality: string): boolean {
    return this.everything || this.#channels.has(channel) || this.#keys.has(`${channel}/${quality}`)
  }

  /** The channels its patterns name (all of a channel's qualities, or some). */
  channels(): string[] {
    return [...this.#named]
  }

  /** Whether some quality of `channel` is kept. */
  keepsChannel(channel: string): boolean {
    return this.everything || this.#named.has(channel)
  }

  /** Whether some channel/quality is kept by both. */
  overlaps(other: KeepFilter): boolean {
    if (this.everything || other.everything) return true
    return this.patterns.some((p) => {
      const [channel, quality] = p.split('/') as [string, string | undefined]
      if (quality != null) return other.keeps(channel, quality)
      return other.keepsChannel(channel)
    })
  }

  /** The same for a `channel/quality` key. */
  keepsKey(key: string): boolean {
    const slash = key.indexOf('/')
    return this.keeps(key.slice(0, slash), key.slice(slash + 1))
  }
}
