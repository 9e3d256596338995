/** Errors of the backfill client. Match on `code` (or `name`), never on the message. */
import { CodedError } from '../lib/coded-error.ts'

export class FetchError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_FETCH'
}

/** A peer answered with a status other than 200. `status` is the peer's, not one we send. */
export class PeerHttpError extends FetchError {
  override readonly code: string = 'SEGMESH_ERR_PEER_HTTP'
  readonly status: number

  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** A whole transfer (headers and body) took longer than its ceiling. */
export class TransferTimeoutError extends FetchError {
  override readonly code: string = 'SEGMESH_ERR_TRANSFER_TIMEOUT'
}

/** A body arrived slower than the minimum rate and was aborted. */
export class SlowTransferError extends FetchError {
  override readonly code: string = 'SEGMESH_ERR_TRANSFER_SLOW'
}

/** A peer's JSON was not JSON, or not the shape asked for. */
export class InvalidListingError extends FetchError {
  override readonly code: string = 'SEGMESH_ERR_INVALID_LISTING'
}

/** The fetcher was stopped while the call ran, or before it. */
export class FetcherStoppedError extends FetchError {
  override readonly code: string = 'SEGMESH_ERR_FETCHER_STOPPED'
}

/** A want() was cancelled through its own signal. */
export class FetchCancelledError extends FetchError {
  override readonly code: string = 'SEGMESH_ERR_FETCH_CANCELLED'
}

/** A bad option or argument; the message names it. */
export class InvalidParametersError extends FetchError {
  override readonly code: string = 'SEGMESH_ERR_INVALID_PARAMETERS'
}
