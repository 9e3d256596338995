/**
 * The base of every error segmesh throws on purpose (undici's `UndiciError` is the model). Callers
 * match on `code`, a stable `SEGMESH_ERR_*` string, never on the message; `name` is the class's
 * own, so a subclass is one line: `class NoFrameError extends CutError { override readonly code = '…' }`.
 * HTTP statuses are not carried here: http/errors.ts maps codes to them.
 */
export class CodedError extends Error {
  readonly code: string = 'SEGMESH_ERR'

  constructor(message?: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}
