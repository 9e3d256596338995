/**
 * Why a node could not start, in one line that names the flag to change, with a sysexits code:
 * 64 for a bad value, 73 for a port or folder it could not take, 74 for another I/O error, 70 for
 * anything else (a defect). A stack trace (and libp2p's advice about its own `transportManager`
 * settings) reads as a crash; it goes to the debug log only.
 */
import type { Config } from '../config/options.ts'

export interface StartFailure {
  line: string
  exitCode: 64 | 70 | 73 | 74
}

interface SystemError {
  code?: string
  port?: number
  address?: string
  path?: string
  message?: string
  cause?: unknown
  errors?: unknown[]
}

/** The first system error (one with a code like EADDRINUSE) in an error, its causes or aggregated errors. */
function systemError(err: unknown, depth = 0): SystemError | null {
  if (err == null || typeof err !== 'object' || depth > 5) return null
  const e = err as SystemError
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e
  for (const inner of [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])]) {
    const found = systemError(inner, depth + 1)
    if (found != null) return found
  }
  // libp2p keeps only the message of the listener's error.
  const code = /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(e.message ?? '')?.[1]
  if (code == null) return null
  const port = new RegExp(`${code}[^\\n]* [\\d.:a-f]+:(\\d+)`).exec(e.message ?? '')?.[1]
  return { code, ...(port != null ? { port: Number(port) } : {}) }
}

export function explainStartFailure(err: unknown, config: Config): StartFailure {
  const e = systemError(err)
  if (e == null) return { line: `could not start: ${(err as Error)?.message ?? String(err)} (--log-level debug shows where)`, exitCode: 70 }
  const portFlag = (): string => {
    if (e.port === config.httpPort) return '--http-port'
    if (e.port === config.p2pPort) return '--p2p-port'
    if (config.adminHost != null && e.port === config.adminPort) return '--admin-port'
    return '--http-port, --p2p-port or --admin-port'
  }
  switch (e.code) {
    case 'EADDRINUSE':
      return { line: `port ${e.port ?? '?'} is already in use (another node or program): change ${portFlag()}`, exitCode: 73 }
    case 'EADDRNOTAVAIL':
      return {
        line: `address ${e.address ?? ''} is not one of this machine's: change --http-host, --p2p-host or --admin-host`,
        exitCode: 64
      }
    case 'EACCES':
    case 'EPERM':
      if (e.path == null)
        return {
          line: `not allowed to listen on port ${e.port ?? '?'} (ports below 1024 need privileges): change ${portFlag()}`,
          exitCode: 73
        }
      return { line: `cannot write ${e.path} (permission denied): fix its permissions or choose another --data`, exitCode: 73 }
    case 'EROFS':
      return { line: `cannot write ${e.path ?? config.dataDir} (read-only file system): choose another --data`, exitCode: 73 }
    case 'ENOTDIR':
    case 'EEXIST':
      return { line: `--data ${config.dataDir}: a file is in the way of ${e.path ?? 'a folder'}; --data must be a folder`, exitCode: 64 }
    case 'ENOSPC':
      return { line: `no space left for ${e.path ?? config.dataDir}: free some, or choose another --data`, exitCode: 73 }
    case 'EMFILE':
    case 'ENFILE':
      return { line: `too many open files (${e.code}): raise the limit (ulimit -n; systemd LimitNOFILE=)`, exitCode: 74 }
    default:
      return { line: `${e.message ?? e.code}: an I/O error under --data ${config.dataDir}; check that disk`, exitCode: 74 }
  }
}
