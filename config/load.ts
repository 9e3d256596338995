/**
 * Resolve the effective config: embedded defaults < config file (JSON, or YAML for .yaml/.yml) <
 * SEGMESH_* environment < CLI flags. Every value is validated here, once; errors name the key the
 * way the user wrote it.
 */
import { readFileSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ConfigError } from './errors.ts'
import { type Config, LOG_LEVELS, MASKED_SECRET, OPTIONS, type OptionSpec, envName, flagName } from './options.ts'

type ConfigOption = (typeof OPTIONS)[number]
import { type RecordChannelInput, parseRecordOption, withQualities } from './record-channels.ts'
import { MAX_KEEP_PATTERNS, keepPatternError } from '../replication/keep.ts'
import { parseDiskBudget } from '../storage/disk-budget.ts'

export interface ConfigSources {
  /** Parsed CLI flags keyed by flag name (`data`, `segments-dir`). */
  flags?: Record<string, string | boolean | string[] | undefined>
  env?: Record<string, string | undefined>
  /** Path of a JSON or YAML config file. */
  file?: string
  /** Folder relative paths are resolved against. */
  cwd?: string
}

/** Environment variables that are not options. */
const ENV_NOT_OPTIONS = new Set(['SEGMESH_CONFIG'])

/** Where an effective value came from, and exactly where (`--http-port`, `SEGMESH_DATA_DIR`, `f.yaml: dataDir`). */
export interface ValueSource {
  kind: 'default' | 'file' | 'env' | 'flag'
  where: string
}

export function resolveConfig(sources: ConfigSources = {}): Readonly<Config> {
  return explainConfig(sources).config
}

/** The effective config and, for every key, the layer its value came from. */
export function explainConfig(sources: ConfigSources = {}): { config: Readonly<Config>; sources: Record<keyof Config, ValueSource> } {
  const values = new Map<keyof Config, unknown>()
  const origin = new Map<keyof Config, ValueSource>()
  const set = (spec: ConfigOption, raw: unknown, kind: ValueSource['kind'], where: string): void => {
    if (spec.secret === true && raw === MASKED_SECRET)
      throw new ConfigError(
        where,
        'is the mask `config print` shows in place of a secret, not the secret: give the real value, or leave the key out'
      )
    values.set(spec.key, coerce(spec, raw, where))
    origin.set(spec.key, { kind, where })
  }
  const whereOf = (key: keyof Config): string => origin.get(key)?.where ?? key

  if (sources.file != null) {
    const file = readConfigFile(sources.file)
    for (const [key, raw] of Object.entries(file)) {
      const spec = OPTIONS.find((o) => o.key === key)
      if (spec == null) throw new ConfigError(`${sources.file}: ${key}`, `unknown option (known: ${OPTIONS.map((o) => o.key).join(', ')})`)
      // null is "unset" where unset is the default: `config print` writes it so, and must read back.
      if (raw === null && spec.default === null) continue
      set(spec, raw, 'file', `${sources.file}: ${key}`)
    }
  }

  const env = sources.env ?? {}
  for (const name of Object.keys(env)) {
    if (!name.startsWith('SEGMESH_') || ENV_NOT_OPTIONS.has(name)) continue
    const spec = OPTIONS.find((o) => envName(o) === name)
    if (spec == null) throw new ConfigError(name, 'unknown environment variable')
    set(spec, env[name], 'env', name)
  }

  for (const [name, raw] of Object.entries(sources.flags ?? {})) {
    if (raw === undefined) continue
    const spec = OPTIONS.find((o) => flagName(o) === name)
    if (spec == null) throw new ConfigError(`--${name}`, 'unknown option')
    set(spec, raw, 'flag', `--${name}`)
  }

  const cwd = sources.cwd ?? process.cwd()
  const loaded: Record<string, unknown> = {}
  for (const spec of OPTIONS) {
    const value = values.has(spec.key) ? values.get(spec.key) : spec.default
    loaded[spec.key] = spec.path === true && typeof value === 'string' ? resolve(cwd, value) : value
  }
  // The derived defaults (`derived` in the table), then the record list with its qualities filled in.
  loaded.segmentsDir ??= resolve(loaded.dataDir as string, 'segments')
  loaded.p2pHost ??= loaded.httpHost
  loaded.record = withQualities(loaded.record as RecordChannelInput[], loaded.qualities as string[])
  const config = loaded as Config
  if (!LOG_LEVELS.includes(config.logLevel)) {
    throw new ConfigError(whereOf('logLevel'), `must be one of ${LOG_LEVELS.join(', ')}`)
  }
  // It travels in an Authorization header: anything else could never be sent, locking admins out.
  if (config.adminToken != null && !/^[\x21-\x7e]+$/.test(config.adminToken)) {
    throw new ConfigError(whereOf('adminToken'), 'must be printable ASCII without spaces')
  }
  if (config.publicUrl != null) {
    let url: URL | null = null
    try {
      url = new URL(config.publicUrl)
    } catch {}
    if (url == null || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new ConfigError(whereOf('publicUrl'), `'${config.publicUrl}' is not an http(s) URL`)
  }
  for (const u of config.legacyPeers) {
    if (!/^https?:\/\/[^\s]+$/.test(u)) throw new ConfigError(whereOf('legacyPeers'), `'${u}' is not an http(s) URL`)
  }
  for (const b of config.bootstrap) {
    if (!/^\/.+\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/.test(b))
      throw new ConfigError(whereOf('bootstrap'), `'${b}' is not a multiaddr ending in /p2p/<peer id>`)
  }
  const explained = {} as Record<keyof Config, ValueSource>
  for (const spec of OPTIONS) explained[spec.key] = origin.get(spec.key) ?? { kind: 'default', where: 'default' }
  return { config: Object.freeze(config), sources: explained }
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${path}: ${(err as Error).message}`)
  }
  // Same keys either way; YAML for people who want comments in their config.
  const format = ['.yaml', '.yml'].includes(extname(path).toLowerCase()) ? 'YAML' : 'JSON'
  let parsed: unknown
  try {
    parsed = format === 'YAML' ? parseYaml(text) : JSON.parse(text)
  } catch (err) {
    throw new ConfigError('--config', `${path} is not valid ${format}: ${(err as Error).message}`)
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('--config', `${path} must hold a ${format} object (a mapping of option keys to values)`)
  }
  return parsed as Record<string, unknown>
}

/** `--keep`: a list of CHANNEL or CHANNEL/QUALITY patterns (replication/keep.ts). */
function keepOption(raw: unknown, where: string): string[] {
  const items = listValue(raw, where)
  if (items.length > MAX_KEEP_PATTERNS) throw new ConfigError(where, `at most ${MAX_KEEP_PATTERNS} patterns`)
  for (const item of items) {
    const why = keepPatternError(item)
    if (why != null) throw new ConfigError(where, `'${item}' ${why}`)
  }
  return items
}

/** One raw value (file JSON, env text or flag) → the option's type, or a ConfigError naming `where`. */
function coerce(spec: OptionSpec, raw: unknown, where: string): unknown {
  if (spec.key === 'record') return parseRecordOption(raw, where)
  if (spec.key === 'keep') return keepOption(raw, where)
  if (spec.key === 'maxDiskBytes') {
    const limit = typeof raw === 'string' || typeof raw === 'number' ? parseDiskBudget(String(raw)) : 'must be a size or a percentage'
    if (typeof limit === 'string') throw new ConfigError(where, `${JSON.stringify(raw)}: ${limit}`)
    return limit
  }
  switch (spec.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') throw new ConfigError(where, 'must be a non-empty string')
      return raw
    case 'bool':
      if (typeof raw === 'boolean') return raw
      if (raw === 'true' || raw === '1') return true
      if (raw === 'false' || raw === '0') return false
      throw new ConfigError(where, 'must be true or false')
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN
      if (!Number.isSafeInteger(n)) throw new ConfigError(where, `must be an integer, got ${JSON.stringify(raw)}`)
      if (spec.min != null && n < spec.min) throw new ConfigError(where, `must be at least ${spec.min}`)
      if (spec.max != null && n > spec.max) throw new ConfigError(where, `must be at most ${spec.max}`)
      return n
    }
    case 'list':
      return listValue(raw, where)
  }
}

/** Flags come as a list (repeated); each may also be comma-separated (`--qualities source,480p`). */
function listValue(raw: unknown, where: string): string[] {
  const items = Array.isArray(raw)
    ? raw.flatMap((i) => (typeof i === 'string' ? i.split(',') : [i]))
    : typeof raw === 'string'
      ? raw.split(',')
      : null
  if (items == null || !items.every((i) => typeof i === 'string' && i.trim() !== '')) {
    throw new ConfigError(where, 'must be a list of non-empty strings')
  }
  return items.map((i: string) => i.trim())
}
