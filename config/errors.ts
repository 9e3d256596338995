/** A config value that cannot be used. `key` names the option as the user wrote it. */
export class ConfigError extends Error {
  static override name = 'ConfigError'
  override name = 'ConfigError'
  code = 'SEGMESH_ERR_CONFIG'
  readonly key: string

  constructor (key: string, message: string) {
    super(`${key}: ${message}`)
    this.key = key
  }
}
