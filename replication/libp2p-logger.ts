/**
 * libp2p's logging, routed into ours and kept quiet: its errors (mostly routine dial failures)
 * become `debug` lines; its debug and trace output is dropped. `enabled: false` spares libp2p
 * from formatting trace arguments at all.
 */
import type { ComponentLogger, Logger as Libp2pLogger } from '@libp2p/interface'
import type { Logger } from '../lib/logger.ts'

const noop = (): void => {}

function show(arg: unknown): string {
  if (arg instanceof Error) return arg.message
  if (arg instanceof Uint8Array) return `<${arg.byteLength} bytes>`
  if (typeof arg === 'object' && arg != null && !Array.isArray(arg) && arg.toString === Object.prototype.toString) {
    try {
      return JSON.stringify(arg)
    } catch {
      return '[object]'
    }
  }
  return String(arg)
}

/** printf-style as libp2p writes it: %p peer, %a multiaddr, %e error, %s, %d, %o ... */
function format(formatter: unknown, args: unknown[]): string {
  if (typeof formatter !== 'string') return [formatter, ...args].map(show).join(' ')
  let i = 0
  return formatter.replace(/%([a-zA-Z%])/g, (match, c: string) => {
    if (c === '%') return '%'
    return i < args.length ? show(args[i++]) : match
  })
}

function componentLog(log: Logger, component: string): Libp2pLogger {
  const logger = Object.assign(noop.bind(null), {
    error: (formatter: unknown, ...args: unknown[]): void => {
      const err = args.find((a) => a instanceof Error)
      // `libp2p`, not `component`: the host's logger already carries component=p2p, and pino would
      // write the key twice.
      log.debug(err != null ? { libp2p: component, err } : { libp2p: component }, format(formatter, args))
    },
    trace: noop,
    enabled: false,
    newScope: (name: string): Libp2pLogger => componentLog(log, `${component}:${name}`)
  })
  return logger
}

export function libp2pLogger(log: Logger): ComponentLogger {
  return { forComponent: (name: string) => componentLog(log, name) }
}
