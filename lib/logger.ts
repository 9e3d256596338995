/** The slice of pino every storage component logs through (fastify's logger satisfies it). */
export interface Logger {
  error: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  info: (obj: object, msg?: string) => void
  debug: (obj: object, msg?: string) => void
}

const noop = (): void => {}
export const silentLogger: Logger = { error: noop, warn: noop, info: noop, debug: noop }
