/** `segmesh config print`: the effective config, secrets masked, with the layer each value came from. */
import { Document, isCollection } from 'yaml'
import { ConfigError } from '../config/errors.ts'
import { type ValueSource, explainConfig } from '../config/load.ts'
import { type Config, MASKED_SECRET, OPTIONS } from '../config/options.ts'
import { type CommandFlag, configSources, formatHelp, parseCommand } from './cli-args.ts'

const FLAGS: CommandFlag[] = [
  { name: 'yaml', type: 'boolean', describe: 'print YAML (each value with a comment naming its source) instead of JSON' }
]

export const configHelp = (): string =>
  formatHelp(
    'segmesh config print [--yaml] [--config FILE] [options]',
    'Print the effective config: embedded defaults, then the --config file, then SEGMESH_* environment\n' +
      'variables, then flags, validated as `start` would. Secrets (the admin token, key material) are masked.\n' +
      'JSON: {"config": {...}, "sources": {key: "default" | "file F" | "env NAME" | "flag --name"}}.',
    FLAGS
  )

export async function configCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub == null) {
    console.error(configHelp())
    return 64
  }
  if (sub === '--help' || sub === '-h') {
    console.log(configHelp())
    return 0
  }
  if (sub !== 'print') throw new ConfigError(sub, 'unknown config subcommand (known: print)')
  const args = parseCommand(rest, FLAGS)
  if (args.help) {
    console.log(configHelp())
    return 0
  }
  const explained = explainConfig(configSources(args))
  const { config, sources } = maskedConfig(explained.config, explained.sources)
  if (args.flags.yaml === true) {
    // YAML output is a config file that loads as it is: a secret that is set prints as null (unset)
    // with a comment saying so, never as the mask, which would be taken for the secret.
    const secrets = new Set(OPTIONS.filter((o) => o.secret === true && config[o.key] === MASKED_SECRET).map((o) => o.key))
    const doc = new Document(Object.fromEntries(Object.entries(config).map(([k, v]) => [k, secrets.has(k as keyof Config) ? null : v])))
    for (const pair of (doc.contents as { items: Array<{ key: { value: string; comment?: string }; value: { comment?: string } | null }> })
      .items) {
      const key = pair.key.value as keyof Config
      const comment = ` ${sources[key]}${secrets.has(key) ? ' (set; not printed: give it again there)' : ''}`
      // On the key for lists and maps (`bootstrap: # flag --bootstrap`), after the value otherwise.
      if (isCollection(pair.value)) pair.key.comment = comment
      else if (pair.value != null) pair.value.comment = comment
    }
    process.stdout.write(doc.toString())
  } else {
    console.log(JSON.stringify({ config, sources }, null, 2))
  }
  return 0
}

/** The config with secret values masked, and each source as one readable phrase. */
function maskedConfig(
  config: Readonly<Config>,
  sources: Record<keyof Config, ValueSource>
): { config: Record<string, unknown>; sources: Record<keyof Config, string> } {
  const out: Record<string, unknown> = {}
  const from = {} as Record<keyof Config, string>
  for (const spec of OPTIONS) {
    const value = config[spec.key]
    out[spec.key] = spec.secret === true && value != null ? MASKED_SECRET : value
    const s = sources[spec.key]
    from[spec.key] =
      s.kind === 'default' ? 'default' : s.kind === 'file' ? `file ${s.where.replace(/: [^:]*$/, '')}` : `${s.kind} ${s.where}`
  }
  return { config: out, sources: from }
}
