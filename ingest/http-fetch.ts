/** Small HTTP pieces of the recorder: whole-body fetches of playlists and init sections, error kinds. */
import { type Agent, type Dispatcher, request } from 'undici'
import { type ErrorLabels, abandonBody, createAgent, labelError, readWhole } from '../lib/http-client.ts'
import { HttpStatusError } from './errors.ts'

/**
 * A fresh connection pool for one worker (or one retry): a connection per download slot plus one
 * for the playlist, every phase under a timeout.
 */
export function createPool(options: { readTimeoutMs: number; maxDownloads: number }): Agent {
  const timeout = options.readTimeoutMs
  return createAgent({ connections: options.maxDownloads + 1, connectTimeoutMs: timeout, readTimeoutMs: timeout })
}

/** A Range request for `range`; answered by anything but 206, the origin ignored it. */
export function rangeHeaders(range: { offset: number; length: number } | null | undefined): Record<string, string> {
  return range == null ? {} : { range: `bytes=${range.offset}-${range.offset + range.length - 1}` }
}

/** GET a small resource whole (a playlist, an init section), refusing anything over `maxBytes`. */
export async function fetchWhole(
  url: string,
  dispatcher: Dispatcher,
  options: { signal: AbortSignal; maxBytes: number; range?: { offset: number; length: number } | null }
): Promise<Buffer> {
  const res = await request(url, { dispatcher, signal: options.signal, headers: rangeHeaders(options.range) })
  if (res.statusCode !== (options.range == null ? 200 : 206)) {
    abandonBody(res)
    throw new HttpStatusError(url, res.statusCode)
  }
  return await readWhole(res, options.maxBytes, url)
}

/** Bounded label values for download failures. */
export type DownloadErrorKind = 'gone' | 'http' | 'timeout' | 'network' | 'cut' | 'disk_full' | 'store' | 'tombstoned'
export const DOWNLOAD_ERROR_KINDS: readonly DownloadErrorKind[] = [
  'gone',
  'http',
  'timeout',
  'network',
  'cut',
  'disk_full',
  'store',
  'tombstoned'
]

/** The recorder's labels tell no failure to connect from a connection broken afterwards. */
const DOWNLOAD_LABELS: ErrorLabels<DownloadErrorKind> = {
  own: new Map([
    ['SEGMESH_ERR_INGEST_HTTP_STATUS', 'http'],
    ['SEGMESH_ERR_TOMBSTONED', 'tombstoned'],
    ['SEGMESH_ERR_DISK_FULL', 'disk_full']
  ]),
  transport: { connect: 'network', network: 'network', timeout: 'timeout', aborted: 'store', too_large: 'store' },
  otherwise: 'store'
}

export function errorKind(err: unknown): DownloadErrorKind {
  return labelError(err, DOWNLOAD_LABELS)
}
