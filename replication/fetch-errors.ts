/** Errors of the backfill client. Match on `code` (or `name`), never on the message. */

export class FetchError extends Error {
  static override name = 'FetchError'
  override name = 'FetchError'
  code = 'SEGMESH_ERR_FETCH'
}

/** A peer answered with a status other than 200. `status` is the peer's, not one we send. */
export class PeerHttpError extends FetchError {
  static override name = 'PeerHttpError'
  override name = 'PeerHttpError'
  override code = 'SEGMESH_ERR_PEER_HTTP'
  readonly status: number

  constructor (status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** A response's Content-Length or body was over the limit for its kind. */
export class ResponseTooLargeError extends FetchError {
  static override name = 'ResponseTooLargeError'
  override name = 'ResponseTooLargeError'
  override code = 'SEGMESH_ERR_RESPONSE_TOO_LARGE'
}

/** A whole transfer (headers and body) took longer than its ceiling. */
export class TransferTimeoutError extends FetchError {
  static override name = 'TransferTimeoutError'
  override name = 'TransferTimeoutError'
  override code = 'SEGMESH_ERR_TRANSFER_TIMEOUT'
}

/** A body arrived slower than the minimum rate and was aborted. */
export class SlowTransferError extends FetchError {
  static override name = 'SlowTransferError'
  override name = 'SlowTransferError'
  override code = 'SEGMESH_ERR_TRANSFER_SLOW'
}

/** A peer's JSON was not JSON, or not the shape asked for. */
export class InvalidListingError extends FetchError {
  static override name = 'InvalidListingError'
  override name = 'InvalidListingError'
  override code = 'SEGMESH_ERR_INVALID_LISTING'
}

/** The fetcher was stopped while the call ran, or before it. */
export class FetcherStoppedError extends FetchError {
  static override name = 'FetcherStoppedError'
  override name = 'FetcherStoppedError'
  override code = 'SEGMESH_ERR_FETCHER_STOPPED'
}

/** A want() was cancelled through its own signal. */
export class FetchCancelledError extends FetchError {
  static override name = 'FetchCancelledError'
  override name = 'FetchCancelledError'
  override code = 'SEGMESH_ERR_FETCH_CANCELLED'
}

/** A bad option or argument; the message names it. */
export class InvalidParametersError extends FetchError {
  static override name = 'InvalidParametersError'
  override name = 'InvalidParametersError'
  override code = 'SEGMESH_ERR_INVALID_PARAMETERS'
}
