import { CodedError } from '../lib/coded-error.ts'

/** A request the CLI made to a node failed: unreachable, or answered with an error. */
export class NodeRequestError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_NODE_REQUEST'
  /** The node's HTTP status, or null when it could not be reached (not `statusCode`: this is no answer of ours). */
  readonly answerStatus: number | null

  constructor(message: string, answerStatus: number | null, options?: { cause?: unknown }) {
    super(message, options)
    this.answerStatus = answerStatus
  }
}
