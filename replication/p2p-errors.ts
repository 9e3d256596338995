/** Errors of the libp2p host and the node key. Match on `code` (or `name`), never on the message. */
import { CodedError } from '../lib/coded-error.ts'

export class P2PError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_P2P'
}

/** The node key file is unreadable, corrupt, of the wrong type or not private. */
export class NodeKeyError extends P2PError {
  override readonly code: string = 'SEGMESH_ERR_NODE_KEY'
}

/** A hello exchange did not finish within its timeout. */
export class HelloTimeoutError extends P2PError {
  override readonly code: string = 'SEGMESH_ERR_HELLO_TIMEOUT'
}

/** A hello answer was over the size limit. */
export class HelloTooLargeError extends P2PError {
  override readonly code: string = 'SEGMESH_ERR_HELLO_TOO_LARGE'
}

/** The host was stopped while the call was running, or before it. */
export class HostStoppedError extends P2PError {
  override readonly code: string = 'SEGMESH_ERR_HOST_STOPPED'
}

/** A network key or admin key file is missing, malformed, of the wrong kind, or would be overwritten. */
export class KeyFileError extends P2PError {
  override readonly code: string = 'SEGMESH_ERR_KEY_FILE'
}
