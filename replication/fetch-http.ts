/** HTTP plumbing of the backfill client: the shared Agent, peer URLs and size-limited bodies. */
import { Agent, type Dispatcher } from 'undici'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { InvalidListingError, InvalidParametersError, ResponseTooLargeError } from './fetch-errors.ts'
import { type FetcherOptions, SPARE_CONNECTIONS } from './fetch-options.ts'

/** One Agent for every peer: connections per origin bounded, every phase under a timeout. */
export function createAgent (options: FetcherOptions): Agent {
  return new Agent({
    connections: options.perPeerConcurrency + SPARE_CONNECTIONS,
    connect: { timeout: options.connectTimeoutMs },
    headersTimeout: options.readTimeoutMs,
    bodyTimeout: options.readTimeoutMs
  })
}

/** A peer's base URL without trailing slashes, or null if it is not http(s). */
export function normalizePeerUrl (peerUrl: string): string | null {
  let url: URL
  try {
    url = new URL(peerUrl)
  } catch {
    return null
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return null
  return url.origin + url.pathname.replace(/\/+$/, '')
}

export function peerBase (peerUrl: string): string {
  const base = normalizePeerUrl(peerUrl)
  if (base == null) throw new InvalidParametersError(`peer URL must be http(s) without query or credentials: ${peerUrl}`)
  return base
}

/** `/segments/C/Q/HOUR/FILE`, every component escaped (names hold `:`). */
export function segmentPath (ref: SegmentRef): string {
  return '/segments/' + segmentRelPath(ref).split('/').map(encodeURIComponent).join('/')
}

/** The declared body length, or null when absent or unparsable (then the body is counted as it comes). */
export function contentLength (headers: Dispatcher.ResponseData['headers']): number | null {
  const value = headers['content-length']
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return null
  return Number(value)
}

export interface BodyHooks {
  /** A failure of the body itself (not of whoever consumes it): tells a broken transfer from a failing disk. */
  onError?: (err: unknown) => void
  /** The last byte arrived: the peer's part of the transfer is over. */
  onEnd?: () => void
  /** Bytes of each chunk as it arrives. */
  onBytes?: (n: number) => void
}

/** Yield the body's chunks, failing once more than `max` bytes have arrived. */
export async function * limitBody (body: AsyncIterable<Uint8Array>, max: number, what: string, hooks: BodyHooks = {}): AsyncGenerator<Uint8Array> {
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

const decoder = new TextDecoder('utf-8', { fatal: true })

/** Read a whole (small, limited) body and parse it as JSON. */
export async function readJson (response: Dispatcher.ResponseData, max: number, what: string): Promise<unknown> {
  const length = contentLength(response.headers)
  if (length != null && length > max) throw new ResponseTooLargeError(`${what}: Content-Length ${length} over ${max} bytes`)
  const chunks: Uint8Array[] = []
  for await (const chunk of limitBody(response.body, max, what)) chunks.push(chunk)
  try {
    return JSON.parse(decoder.decode(Buffer.concat(chunks)))
  } catch (err) {
    throw new InvalidListingError(`${what}: not UTF-8 JSON`, { cause: err })
  }
}

/**
 * Let go of a body we will not read to its end: destroy it (undici then closes the connection).
 * undici emits an error on a body destroyed before its end; with no listener that would be an
 * uncaught exception, so one is attached first.
 */
export function abandonBody (response: Dispatcher.ResponseData | null): void {
  if (response == null || response.body.readableEnded) return
  response.body.on('error', () => {}).destroy()
}

/** Read and drop a small error body so the connection can be reused; give up on large ones. */
export async function discardBody (response: Dispatcher.ResponseData): Promise<void> {
  await response.body.dump({ limit: 64 * 1024 }).catch(() => {})
}
