import { CodedError } from '../lib/coded-error.ts'

/** A config value that cannot be used. `key` names the option as the user wrote it. */
export class ConfigError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_CONFIG'
  readonly key: string

  constructor(key: string, message: string) {
    super(`${key}: ${message}`)
    this.key = key
  }
}
