import './compat.ts'
import { ConfigError } from '../config/errors.ts'
import { scanCommand, scanHelp } from './scan-command.ts'
import { startCommand, startHelp } from './start-command.ts'

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>, summary: string, help: () => string }> = {
  start: { run: startCommand, summary: 'run a node: index, watch and serve the HTTP API', help: startHelp },
  scan: { run: scanCommand, summary: 'reconcile the index with the disk and print counts', help: scanHelp }
}

function usage (): string {
  const lines = ['usage: segmesh <command> [options]', '', 'commands:']
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`)
  lines.push('', 'Run `segmesh <command> --help` for the options of a command.')
  return lines.join('\n')
}

async function main (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name == null || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined
    console.log(topic != null && COMMANDS[topic] != null ? COMMANDS[topic].help() : usage())
    return 0
  }
  const command = COMMANDS[name]
  if (command == null) {
    console.error(`segmesh: unknown command '${name}'\n\n${usage()}`)
    return 64
  }
  try {
    return await command.run(rest)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`segmesh ${name}: bad option ${err.message}`)
      return 64
    }
    throw err
  }
}

process.exitCode = await main(process.argv.slice(2))
