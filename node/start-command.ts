/** `segmesh start`: run a node until SIGTERM or SIGINT, then drain and exit 0. */
import { resolveConfig } from '../config/load.ts'
import { configSources, formatHelp, parseCommand } from './cli-args.ts'
import { createLogger } from './logger.ts'
import { SegmeshNode } from './segmesh-node.ts'
import { explainStartFailure } from './start-failure.ts'

export const startHelp = (): string =>
  formatHelp(
    'segmesh start [--data DIR] [--http-host H] [--http-port N] [--p2p-host H] [--p2p-port N] [--public-url URL] ' +
      '[--bootstrap MULTIADDR ...] [options]',
    'Run a node: reconcile the index with the disk, watch the segment folder, serve the HTTP API, join the\n' +
      'network (through --bootstrap, or as the first node without it) and replicate. Prints its HTTP URL, peer id\n' +
      'and multiaddrs. SIGTERM or SIGINT drains in-flight responses, then exits 0.',
    []
  )

export async function startCommand(argv: string[]): Promise<number> {
  const args = parseCommand(argv, [])
  if (args.help) {
    console.log(startHelp())
    return 0
  }
  const config = resolveConfig(configSources(args))
  const log = createLogger(config.logLevel)
  // Signals are caught before anything starts, so one that arrives mid-start is never lost.
  let signalled: NodeJS.Signals | null = null
  let wake: () => void = () => {}
  const stopRequested = new Promise<void>((resolve) => {
    wake = resolve
  })
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled != null) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(130)
    }
    signalled = signal
    wake()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)

  const node = new SegmeshNode({ config, log })
  try {
    await node.start()
  } catch (err) {
    await node.stop(0).catch(() => {})
    const failure = explainStartFailure(err, config)
    log.debug({ err }, 'could not start')
    console.error(`segmesh start: ${failure.line}`)
    return failure.exitCode
  }
  console.log(`segmesh listening on ${node.url}`)
  if (node.host != null) {
    console.log(`segmesh peer id ${node.host.peerId}`)
    for (const addr of node.host.multiaddrs()) console.log(`segmesh multiaddr ${addr}`)
    console.log(`segmesh public url ${node.publicUrl}`)
  }
  await stopRequested
  log.info({ signal: signalled }, 'shutting down')
  await node.stop()
  log.info('stopped')
  return 0
}
