/**
 * HTTP errors. Every 4xx/5xx body is JSON `{ error, message }`: `error` is a stable code clients
 * may match on, `message` says what was wrong (naming the parameter).
 */
import type { SegmentIndex } from '../storage/segment-index.ts'

export class HttpError extends Error {
  static override name = 'HttpError'
  override name = 'HttpError'
  readonly statusCode: number
  readonly code: string
  readonly headers: Record<string, string>

  constructor (statusCode: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.statusCode = statusCode
    this.code = code
    this.headers = headers
  }
}

export const badParameter = (name: string, why: string): HttpError => new HttpError(400, 'bad_parameter', `${name}: ${why}`)
export const notFound = (message: string): HttpError => new HttpError(404, 'not_found', message)
export const noContent = (message: string): HttpError => new HttpError(404, 'no_segments', message)

/** 404 for a channel/quality the index holds nothing of, saying which of the two is unknown. */
export const unknownQuality = (index: Pick<SegmentIndex, 'qualities'>, channel: string, quality: string): HttpError =>
  notFound(index.qualities(channel).length === 0 ? `unknown channel '${channel}'` : `unknown quality '${quality}' of channel '${channel}'`)
