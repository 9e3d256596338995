import './compat.ts'
import { ConfigError } from '../config/errors.ts'
import { nodeOptionsHelp } from './cli-args.ts'
import { configCommand, configHelp } from './config-command.ts'
import { demoCommand, demoHelp } from './demo-command.ts'
import { keygenCommand, keygenHelp } from './keygen-command.ts'
import { didYouMean } from './did-you-mean.ts'
import { NodeRequestError } from './errors.ts'
import { peersCommand, peersHelp } from './peers-command.ts'
import { scanCommand, scanHelp } from './scan-command.ts'
import { startCommand, startHelp } from './start-command.ts'
import { tombstoneCommand, tombstoneHelp } from './tombstone-command.ts'

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; summary: string; help: () => string }> = {
  start: { run: startCommand, summary: 'run a node: index, watch and serve the HTTP API', help: startHelp },
  scan: { run: scanCommand, summary: 'reconcile the index with the disk and print counts', help: scanHelp },
  config: {
    run: configCommand,
    summary: '`config print`: the effective config (secrets masked) and where each value came from',
    help: configHelp
  },
  tombstone: {
    run: tombstoneCommand,
    summary: "hide a segment or a time range on every node, through a node's admin API",
    help: tombstoneHelp
  },
  peers: { run: peersCommand, summary: 'list the peers a node knows, with lag and last seen', help: peersHelp },
  demo: { run: demoCommand, summary: 'three local nodes and a synthetic live stream: see replication and playback', help: demoHelp },
  keygen: {
    run: keygenCommand,
    summary: 'make a network key (--network-key) or, with --admin, the admin key pair that signs tombstones',
    help: keygenHelp
  }
}

function usage(): string {
  const lines = ['usage: segmesh <command> [options]', '', 'commands:']
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`)
  lines.push('', 'Run `segmesh <command> --help` for the options of a command.', '', ...nodeOptionsHelp())
  return lines.join('\n')
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name == null || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined
    console.log(topic != null && COMMANDS[topic] != null ? COMMANDS[topic].help() : usage())
    return 0
  }
  const command = COMMANDS[name]
  if (command == null) {
    const near = didYouMean(name, Object.keys(COMMANDS))
    console.error(
      `segmesh: unknown command '${name}'${near != null ? ` (did you mean '${near}'?)` : ''}; \`segmesh --help\` lists the commands`
    )
    return 64
  }
  try {
    return await command.run(rest)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`segmesh ${name}: bad option ${err.message}`)
      return 64
    }
    if (err instanceof NodeRequestError) {
      console.error(`segmesh ${name}: ${err.message}`)
      return 1
    }
    throw err
  }
}

process.exitCode = await main(process.argv.slice(2))
