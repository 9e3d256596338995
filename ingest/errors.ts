/** Errors of the recorder. Match on `code` (or `name`), never on the message. */

export class IngestError extends Error {
  static override name = 'IngestError'
  override name = 'IngestError'
  code = 'SEGMESH_ERR_INGEST'
}

/** A playlist that cannot be used: unparsable, the wrong kind, or entries we cannot place in time. */
export class PlaylistError extends IngestError {
  static override name = 'PlaylistError'
  override name = 'PlaylistError'
  override code = 'SEGMESH_ERR_INGEST_PLAYLIST'
}

/** The master playlist offers no variant for a configured quality. */
export class VariantNotFoundError extends IngestError {
  static override name = 'VariantNotFoundError'
  override name = 'VariantNotFoundError'
  override code = 'SEGMESH_ERR_INGEST_NO_VARIANT'
}

/** An origin answered with a status we cannot use (403/404 on a segment are "gone", not this). */
export class HttpStatusError extends IngestError {
  static override name = 'HttpStatusError'
  override name = 'HttpStatusError'
  override code = 'SEGMESH_ERR_INGEST_HTTP_STATUS'
  readonly statusCode: number

  constructor (url: string, statusCode: number) {
    super(`${url} answered ${statusCode}`)
    this.statusCode = statusCode
  }
}

/** A body larger than we accept for its kind (playlists, init sections). */
export class ResponseTooLargeError extends IngestError {
  static override name = 'ResponseTooLargeError'
  override name = 'ResponseTooLargeError'
  override code = 'SEGMESH_ERR_INGEST_TOO_LARGE'
}
