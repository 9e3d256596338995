/**
 * Command-line parsing shared by every subcommand: the node options from config/options.ts plus
 * the command's own flags, with errors that name the flag.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { didYouMean } from './did-you-mean.ts'
import { ConfigError } from '../config/errors.ts'
import type { ConfigSources } from '../config/load.ts'
import { OPTIONS, type OptionSpec, envName, flagName } from '../config/options.ts'

export interface CommandFlag {
  name: string
  type: 'string' | 'boolean'
  describe: string
  multiple?: boolean
}

export interface ParsedCommand {
  /** Node options, keyed by flag name, ready for resolveConfig. */
  options: Record<string, string | boolean | string[] | undefined>
  /** The command's own flags. */
  flags: Record<string, string | boolean | string[] | undefined>
  configFile?: string
  help: boolean
}

export function parseCommand(argv: string[], own: readonly CommandFlag[], nodeOptions: readonly OptionSpec[] = OPTIONS): ParsedCommand {
  const spec: NonNullable<ParseArgsConfig['options']> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }
  for (const o of nodeOptions) {
    spec[flagName(o)] = { type: o.kind === 'bool' ? 'boolean' : 'string', multiple: o.kind === 'list' }
    if (o.kind === 'bool') spec[`no-${flagName(o)}`] = { type: 'boolean' }
  }
  for (const f of own) spec[f.name] = { type: f.type, multiple: f.multiple === true }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: argv, options: spec, allowPositionals: true, strict: true })
  } catch (err) {
    throw parseError(err as Error & { code?: string }, Object.keys(spec))
  }
  // Boolean options take no value: `--watch false` would otherwise leave `false` as a stray
  // word and watching on. Commands take no positional arguments.
  if (parsed.positionals.length > 0) {
    throw new ConfigError(parsed.positionals[0]!, 'unexpected argument (boolean options take no value: use --watch or --no-watch)')
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>
  const options: ParsedCommand['options'] = {}
  for (const o of nodeOptions) {
    const name = flagName(o)
    if (values[`no-${name}`] === true) options[name] = false
    else if (values[name] !== undefined) options[name] = values[name]
  }
  const flags: ParsedCommand['flags'] = {}
  for (const f of own) flags[f.name] = values[f.name]
  return {
    options,
    flags,
    configFile: values.config as string | undefined,
    help: values.help === true
  }
}

/** Where a command's node config comes from: its flags, the process environment and the --config file (or $SEGMESH_CONFIG). */
export function configSources(args: ParsedCommand): ConfigSources {
  return { flags: args.options, env: process.env, file: args.configFile ?? process.env.SEGMESH_CONFIG }
}

/** Help text for a command: its own flags, then every node option with its default and env var. */
export function formatHelp(
  usage: string,
  summary: string,
  own: readonly CommandFlag[],
  nodeOptions: readonly OptionSpec[] = OPTIONS
): string {
  const lines = [`usage: ${usage}`, '', summary, '']
  if (own.length > 0) {
    lines.push('options:')
    for (const f of own) lines.push(`  --${f.name}${f.type === 'string' ? ' VALUE' : ''}`.padEnd(34) + f.describe)
    lines.push('')
  }
  if (nodeOptions.length > 0) lines.push(...nodeOptionsHelp(nodeOptions))
  return lines.join('\n')
}

/** Every node option with its flag, default and environment variable: generated, so it cannot drift. */
export function nodeOptionsHelp(nodeOptions: readonly OptionSpec[] = OPTIONS): string[] {
  const lines = ['node options (also settable in the --config file or as SEGMESH_* environment variables):']
  lines.push(
    '  --config FILE'.padEnd(34) +
      'JSON, or YAML when it ends in .yaml/.yml, with any of the options below (camelCase keys: dataDir, ...)  (SEGMESH_CONFIG)'
  )
  for (const o of nodeOptions) {
    const value = o.kind === 'bool' ? '' : o.kind === 'list' ? ' A,B' : o.kind === 'int' ? ' N' : ' VALUE'
    const shown = o.default == null ? 'unset' : Array.isArray(o.default) ? o.default.join(',') || '(none)' : String(o.default)
    const negate = o.kind === 'bool' ? `; --no-${flagName(o)} turns it off` : ''
    // A description that names its own default (derived from another option) is not given a second one.
    const defaults = /\(default: /.test(o.describe) ? (negate === '' ? '' : ` [${negate.slice(2)}]`) : ` [default: ${shown}${negate}]`
    lines.push(`  --${flagName(o)}${value}`.padEnd(34) + `${o.describe}${defaults}  (${envName(o)}; ${o.key})`)
  }
  return lines
}

/** node:util's parser errors in one line of ours: it advises `--` and `=-XYZ`, which mean nothing to an operator. */
function parseError(err: Error & { code?: string }, known: string[]): ConfigError {
  const flag = /'(--?[^' ]+)'/.exec(err.message)?.[1] ?? 'arguments'
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = didYouMean(flag.replace(/^-+/, ''), known)
      return new ConfigError(flag, `unknown option${near != null ? ` (did you mean --${near}?)` : ''}; \`segmesh --help\` lists them`)
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(err.message)
        ? new ConfigError(flag, `takes no value (use ${flag} or --no-${flag.replace(/^-+/, '')})`)
        : new ConfigError(flag, `needs a value (one starting with '-' is written ${flag}=VALUE)`)
    default:
      return new ConfigError(flag, err.message.split('\n')[0]!)
  }
}
