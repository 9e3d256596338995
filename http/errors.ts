/**
 * HTTP errors. Every 4xx/5xx body is JSON `{ error, message }`: `error` is a stable code clients
 * may match on, `message` says what was wrong (naming the parameter).
 */
import { CodedError } from '../lib/coded-error.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'

export class HttpError extends CodedError {
  readonly statusCode: number
  override readonly code: string
  readonly headers: Record<string, string>

  constructor(statusCode: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.statusCode = statusCode
    this.code = code
    this.headers = headers
  }
}

/**
 * The HTTP status of an error another layer threw (storage and cutter errors carry only a code;
 * this is the one place codes meet statuses), or of fastify's own errors; 500 for anything else.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = Object.freeze({
  SEGMESH_ERR_HASH_MISMATCH: 422,
  SEGMESH_ERR_TOMBSTONED: 410,
  SEGMESH_ERR_CONTAINS_HOLES: 406,
  SEGMESH_ERR_DISK_FULL: 507,
  SEGMESH_ERR_STREAM_MISMATCH: 409,
  SEGMESH_ERR_CUTTER_BUSY: 503,
  SEGMESH_ERR_NO_FRAME: 404
})

export function statusOf(err: { code?: string; statusCode?: number }): number {
  const mapped = err.code == null ? undefined : STATUS_BY_CODE[err.code]
  if (mapped != null) return mapped
  return err.statusCode != null && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
}

export const badParameter = (name: string, why: string): HttpError => new HttpError(400, 'bad_parameter', `${name}: ${why}`)
export const notFound = (message: string): HttpError => new HttpError(404, 'not_found', message)
export const noContent = (message: string): HttpError => new HttpError(404, 'no_segments', message)

/** 404 for a channel/quality the index holds nothing of, saying which of the two is unknown. */
export const unknownQuality = (index: Pick<SegmentIndex, 'qualities'>, channel: string, quality: string): HttpError =>
  notFound(index.qualities(channel).length === 0 ? `unknown channel '${channel}'` : `unknown quality '${quality}' of channel '${channel}'`)
