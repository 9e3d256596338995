import { CodedError } from '../lib/coded-error.ts'

/** A request the CLI made to a node failed: unreachable, or answered with an error. */
export class NodeRequestError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_NODE_REQUEST'
  /** HTTP status, or null when the node could not be reached. */
  readonly statusCode: number | null

  constructor(message: string, statusCode: number | null, options?: { cause?: unknown }) {
    super(message, options)
    this.statusCode = statusCode
  }
}
