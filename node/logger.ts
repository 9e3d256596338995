import pino from 'pino'
import type { Config } from '../config/options.ts'

/** One pino logger for the process, writing JSON lines to stderr (stdout is for command output). */
export function createLogger(level: Config['logLevel']): pino.Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination(2))
}
