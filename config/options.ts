/**
 * Every option a node understands: its config-file key, CLI flag, environment variable, type,
 * default and help text. The loader, `--help` and the docs all read this one table.
 */

export type OptionKind = 'string' | 'int' | 'bool' | 'list'

export interface OptionSpec {
  /** Key in the config file and in the resolved config. */
  key: keyof Config
  kind: OptionKind
  /** null means "derived from other options" (explained in `describe`). */
  default: string | number | boolean | string[] | null
  describe: string
  min?: number
  max?: number
  /** Masked when the effective config is printed. */
  secret?: boolean
  /** CLI flag without dashes, when it is not the kebab-case key. */
  flag?: string
}

export interface Config {
  /** Node state: the index, keys. */
  dataDir: string
  /** Segment tree (wubloader layout). */
  segmentsDir: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Leftover `temp` files older than this are recovered as `partial` by reconcile. */
  tempGraceSeconds: number
  /** Full rescan of the tree as a safety net behind the watcher; 0 turns it off. */
  rescanIntervalSeconds: number
  /** Watch the live hours for files other programs write. */
  watch: boolean
  /** Maximum size of the LMDB map, in MiB. */
  indexMapSizeMb: number
  httpHost: string
  /** 0 picks a free port. */
  httpPort: number
  /** Serve /metrics and record request metrics. */
  metrics: boolean
  /** On SIGTERM/SIGINT, in-flight responses get this long to finish before sockets are closed. */
  shutdownGraceSeconds: number
  /** Bearer token for the /admin routes; null leaves them disabled (404). */
  adminToken: string | null
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'dataDir', flag: 'data', kind: 'string', default: './data', describe: 'folder for the node\'s own state (index, keys)' },
  { key: 'segmentsDir', kind: 'string', default: null, describe: 'segment tree CHANNEL/QUALITY/HOUR/FILE (default: <data-dir>/segments; may be an existing wubloader folder)' },
  { key: 'logLevel', kind: 'string', default: 'info', describe: 'fatal, error, warn, info, debug, trace or silent' },
  { key: 'tempGraceSeconds', kind: 'int', default: 600, min: 0, describe: 'age after which a leftover temp file is recovered as partial' },
  { key: 'rescanIntervalSeconds', kind: 'int', default: 300, min: 0, describe: 'full rescan of the segment tree behind the watcher (0 = never)' },
  { key: 'watch', kind: 'bool', default: true, describe: 'watch the live hours for segments written by other programs' },
  { key: 'indexMapSizeMb', kind: 'int', default: 16384, min: 16, describe: 'upper bound of the LMDB index size, MiB (sparse; costs nothing until used)' },
  { key: 'httpHost', kind: 'string', default: '0.0.0.0', describe: 'address the HTTP API listens on' },
  { key: 'httpPort', kind: 'int', default: 8080, min: 0, max: 65535, describe: 'HTTP API port (0 = any free port)' },
  { key: 'metrics', kind: 'bool', default: true, describe: 'serve Prometheus metrics at /metrics' },
  { key: 'shutdownGraceSeconds', kind: 'int', default: 20, min: 0, describe: 'on SIGTERM/SIGINT, time in-flight responses get to finish' },
  { key: 'adminToken', kind: 'string', default: null, secret: true, describe: 'bearer token for the /admin HTTP routes (tombstone, purge); unset disables them. Prefer the environment variable: flags show in ps' }
]

export const LOG_LEVELS: ReadonlyArray<Config['logLevel']> = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function kebab (key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** The CLI flag without dashes: `segmentsDir` → `segments-dir`. */
export function flagName (spec: OptionSpec): string {
  return spec.flag ?? kebab(spec.key)
}

/** `dataDir` → `SEGMESH_DATA_DIR`. */
export function envName (spec: OptionSpec): string {
  return `SEGMESH_${kebab(spec.key).replace(/-/g, '_').toUpperCase()}`
}
