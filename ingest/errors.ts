/** Errors of the recorder. Match on `code` (or `name`), never on the message. */
import { CodedError } from '../lib/coded-error.ts'

export class IngestError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_INGEST'
}

/** A playlist that cannot be used: unparsable, the wrong kind, or entries we cannot place in time. */
export class PlaylistError extends IngestError {
  override readonly code: string = 'SEGMESH_ERR_INGEST_PLAYLIST'
}

/** The master playlist offers no variant for a configured quality. */
export class VariantNotFoundError extends IngestError {
  override readonly code: string = 'SEGMESH_ERR_INGEST_NO_VARIANT'
}

/**
 * An origin answered with a status we cannot use (403/404 on a segment are "gone", not this).
 * Not `statusCode`: http/errors.ts would take that for the status of our own answer.
 */
export class HttpStatusError extends IngestError {
  override readonly code: string = 'SEGMESH_ERR_INGEST_HTTP_STATUS'
  readonly upstreamStatus: number

  constructor(url: string, upstreamStatus: number) {
    super(`${url} answered ${upstreamStatus}`)
    this.upstreamStatus = upstreamStatus
  }
}
