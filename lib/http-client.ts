/**
 * The client side of HTTP, shared by the recorder (origins) and the backfill client (peers): pools
 * under timeouts, bodies under size limits, bodies let go of without leaking a connection or an
 * error event, and the code that names a transport failure.
 */
import { Agent, type Dispatcher } from 'undici'
import { CodedError } from './coded-error.ts'

/** A response's Content-Length or body was over the limit for its kind. */
export class ResponseTooLargeError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_RESPONSE_TOO_LARGE'
}

/**
 * How long an idle socket of these pools stays open at most, whatever the server's `Keep-Alive`
 * hint says (fastify's is 72 s). A node fetches from many peers now and then: pools that kept a
 * socket per peer for 72 s held one on both ends for every peer used in the last minute and more
 * (at 100 nodes, a median of 129–196 sockets per node; simulations/ measures it).
 */
export const IDLE_SOCKET_MS = 5_000

/** A pool of `connections` per origin, every phase under a timeout; idle sockets closed within IDLE_SOCKET_MS. */
export function createAgent(options: { connections: number; connectTimeoutMs: number; readTimeoutMs: number }): Agent {
  return new Agent({
    connections: options.connections,
    keepAliveTimeout: IDLE_SOCKET_MS,
    keepAliveMaxTimeout: IDLE_SOCKET_MS,
    connect: { timeout: options.connectTimeoutMs },
    headersTimeout: options.readTimeoutMs,
    bodyTimeout: options.readTimeoutMs
  })
}

/** Sockets a pool to peers keeps open between requests, all origins together (twice the fetcher's download slots). */
export const KEPT_SOCKETS = 16

/**
 * Keep at most `max` of `agent`'s sockets open between requests, across all origins: a request to
 * an origin with no open socket, made while `max` are open, asks for its connection to be closed
 * after the answer (`reset`: `Connection: close`). A node fetches a few segments at a time from
 * many peers in turn; a socket kept for each one until its idle time ran out made the pool hold one
 * per peer fetched from in the last seconds (56 on the busiest of 100 nodes). Sockets are counted
 * once connected, so requests to new peers dispatched while others are still connecting can go a
 * few past `max`; sockets of requests in flight are bounded by the caller's own concurrency, on top
 * of these. Returns the interceptor to compose onto the agent.
 */
export function capKeptSockets(agent: Agent, max: number = KEPT_SOCKETS): Dispatcher.DispatcherComposeInterceptor {
  const byOrigin = new Map<string, number>()
  let open = 0
  agent.on('connect', (origin: URL) => {
    open++
    byOrigin.set(origin.origin, (byOrigin.get(origin.origin) ?? 0) + 1)
  })
  agent.on('disconnect', (origin: URL) => {
    open--
    const left = (byOrigin.get(origin.origin) ?? 1) - 1
    if (left > 0) byOrigin.set(origin.origin, left)
    else byOrigin.delete(origin.origin)
  })
  return (dispatch) => (options, handler) => {
    if (open < max || options.origin == null) return dispatch(options, handler)
    const origin = typeof options.origin === 'string' ? new URL(options.origin).origin : options.origin.origin
    return dispatch(byOrigin.has(origin) ? options : { ...options, reset: true }, handler)
  }
}

/** How requests to peers go out through `agent`: at most KEPT_SOCKETS kept, then the caller's interceptors. */
export function peerDispatcher(agent: Agent, interceptors: readonly Dispatcher.DispatcherComposeInterceptor[] = []): Dispatcher {
  return agent.compose(capKeptSockets(agent), ...interceptors)
}

/** The declared body length, or null when absent or unparsable (then the body is counted as it comes). */
function contentLength(headers: Dispatcher.ResponseData['headers']): number | null {
  const value = headers['content-length']
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return null
  return Number(value)
}

export interface BodyHooks {
  /** A failure of the body itself (not of whoever consumes it): tells a broken transfer from a failing disk. */
  onError?: (err: unknown) => void
  /** The last byte arrived: the sender's part of the transfer is over. */
  onEnd?: () => void
  /** Bytes of each chunk as it arrives. */
  onBytes?: (n: number) => void
}

/** Yield the body's chunks, failing once more than `max` bytes have arrived. */
export async function* limitBody(
  body: AsyncIterable<Uint8Array>,
  max: number,
  what: string,
  hooks: BodyHooks = {}
): AsyncGenerator<Uint8Array> {
  let total = 0
  try {
    for await (const chunk of body) {
      total += chunk.byteLength
      hooks.onBytes?.(chunk.byteLength)
      if (total > max) throw new ResponseTooLargeError(`${what}: body over ${max} bytes`)
      yield chunk
    }
  } catch (err) {
    hooks.onError?.(err)
    throw err
  }
  hooks.onEnd?.()
}

/** Refuse a declared length over `max` before any byte is read. */
export function checkLength(response: Dispatcher.ResponseData, max: number, what: string): void {
  const length = contentLength(response.headers)
  if (length != null && length > max) throw new ResponseTooLargeError(`${what}: Content-Length ${length} over ${max} bytes`)
}

/** Read a whole (small) body, refusing one over `max` bytes; the body is let go of either way. */
export async function readWhole(response: Dispatcher.ResponseData, max: number, what: string): Promise<Buffer> {
  try {
    checkLength(response, max, what)
    const chunks: Uint8Array[] = []
    for await (const chunk of limitBody(response.body, max, what)) chunks.push(chunk)
    return Buffer.concat(chunks)
  } finally {
    abandonBody(response)
  }
}

/**
 * Let go of a body we will not read to its end: destroy it (undici then closes the connection).
 * undici emits an error on a body destroyed before its end; with no listener that would be an
 * uncaught exception, so one is attached first.
 */
export function abandonBody(response: Dispatcher.ResponseData | null): void {
  if (response == null || response.body.readableEnded || response.body.destroyed) return
  response.body.on('error', () => {}).destroy()
}

/** Read and drop a small error body so the connection can be reused; give up on large ones. */
export async function discardBody(response: Dispatcher.ResponseData): Promise<void> {
  await response.body.dump({ limit: 64 * 1024 }).catch(() => {})
}

/**
 * The code of a failure: its own `code`, that of the first part of an AggregateError (a
 * happy-eyeballs connect fails with one), or for an uncoded AbortError/TimeoutError its name.
 */
export function errorCode(err: unknown): string | undefined {
  if (err == null || typeof err !== 'object') return undefined
  const e = err as { code?: unknown; errors?: unknown; name?: unknown }
  if (typeof e.code === 'string') return e.code
  if (Array.isArray(e.errors)) return errorCode(e.errors[0])
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return e.name
  return undefined
}

/**
 * What a transport failure was, for callers to map onto their own metric labels. A connect timeout
 * is a failure to connect (the server is unreachable); `timeout` is a server that accepted the
 * connection and then went silent; `network` is a connection that broke afterwards.
 */
export type TransportFailure = 'connect' | 'timeout' | 'network' | 'aborted' | 'too_large'

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT'
])
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'TimeoutError'])
const ABORT_CODES = new Set(['UND_ERR_ABORTED', 'ABORT_ERR', 'AbortError'])

/** The kind of transport failure `err` is, or undefined when it is none (a disk, the caller's own errors). */
export function transportFailure(err: unknown): TransportFailure | undefined {
  const code = errorCode(err)
  if (code == null) return undefined
  if (CONNECT_CODES.has(code)) return 'connect'
  if (TIMEOUT_CODES.has(code)) return 'timeout'
  if (ABORT_CODES.has(code)) return 'aborted'
  if (code === 'SEGMESH_ERR_RESPONSE_TOO_LARGE') return 'too_large'
  if (code.startsWith('UND_ERR') || code.startsWith('EC') || code === 'EPIPE') return 'network'
  return undefined
}

/** How a caller names failures for its metric labels. */
export interface ErrorLabels<K extends string> {
  /** The caller's own failures by code, matched before any transport failure. */
  own: ReadonlyMap<string, K>
  transport: Readonly<Record<TransportFailure, K>>
  /** Neither of the above. */
  otherwise: K
}

/** The caller's label of `err`. */
export function labelError<K extends string>(err: unknown, labels: ErrorLabels<K>): K {
  const own = labels.own.get(errorCode(err) ?? '')
  if (own != null) return own
  const failure = transportFailure(err)
  return failure == null ? labels.otherwise : labels.transport[failure]
}
