/**
 * `segmesh demo`: three nodes in this process on 127.0.0.1, bootstrapped to the first, which records
 * a synthetic live stream (demo-stream.ts). Prints where to look, then one line of segment counts
 * every few seconds, until Ctrl-C stops the nodes (drained) and ffmpeg.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '../config/errors.ts'
import { resolveConfig } from '../config/load.ts'
import { LOG_LEVELS } from '../config/options.ts'
import { formatInstant } from '../storage/time.ts'
import { type CommandFlag, formatHelp, parseCommand } from './cli-args.ts'
import { startSyntheticStream } from './demo-stream.ts'
import { createLogger } from './logger.ts'
import { SegmeshNode } from './segmesh-node.ts'

const FLAGS: CommandFlag[] = [
  {
    name: 'dir',
    type: 'string',
    describe: "folder for the nodes' data and the stream, kept afterwards (default: a temp folder, removed on exit)"
  },
  { name: 'http-port', type: 'string', describe: 'HTTP port of node 1; nodes 2 and 3 take the next two (default: free ports)' },
  { name: 'log-level', type: 'string', describe: 'log level of the nodes, JSON lines on stderr (default: warn)' }
]

const CHANNEL = 'demo'
const QUALITY = 'source'
const NODES = 3
const REPORT_EVERY_MS = 5000
/** The launcher's absolute path: the printed example works from any folder. */
const LAUNCHER = fileURLToPath(new URL('../bin/segmesh', import.meta.url))

/** `text` as one POSIX shell word. */
function shellWord(text: string): string {
  return /^[\w./:=@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`
}

export const demoHelp = (): string =>
  formatHelp(
    'segmesh demo [--dir D] [--http-port N] [--log-level L]',
    'Start three local nodes and a synthetic live stream (ffmpeg test pattern with a UTC clock and a tone,\n' +
      'live HLS with PROGRAM-DATE-TIME) that node 1 records; nodes 2 and 3 replicate it. Prints the URLs of\n' +
      'the status pages, the web player and a cut, then segment counts per node. Ctrl-C stops everything.',
    FLAGS,
    []
  )

export async function demoCommand(argv: string[]): Promise<number> {
  const args = parseCommand(argv, FLAGS, [])
  if (args.help) {
    console.log(demoHelp())
    return 0
  }
  const level = (args.flags['log-level'] as string | undefined) ?? 'warn'
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new ConfigError('--log-level', `must be one of ${LOG_LEVELS.join(', ')}`)
  const portText = args.flags['http-port'] as string | undefined
  const firstPort = portText == null ? 0 : Number(portText)
  if (!Number.isSafeInteger(firstPort) || firstPort < 0 || firstPort > 65533)
    throw new ConfigError('--http-port', 'must be a port from 0 to 65533')
  const keep = args.flags.dir != null
  const dir = keep ? resolve(args.flags.dir as string) : await mkdtemp(join(tmpdir(), 'segmesh-demo-'))
  const log = createLogger(level as 'warn')

  let wake: () => void = () => {}
  const stopRequested = new Promise<void>((resolve) => {
    wake = resolve
  })
  let stopping = false
  const onSignal = (): void => {
    if (stopping) process.exit(130)
    stopping = true
    wake()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const started = Date.now() * 1000
  const nodes: SegmeshNode[] = []
  let stream: Awaited<ReturnType<typeof startSyntheticStream>> | null = null
  let code = 0
  try {
    stream = await startSyntheticStream(join(dir, 'stream'), (err) => {
      // Ctrl-C reaches ffmpeg too (same process group): our own handler may not have run yet.
      setTimeout(() => {
        if (stopping) return
        log.error({ err }, 'the synthetic stream stopped')
        console.error(`segmesh demo: ffmpeg stopped: ${(err as Error).message}`)
        code = 1
        stopping = true
        wake()
      }, 1000).unref()
    })
    const token = randomBytes(12).toString('hex')
    const nodeConfig = (i: number, extra: Record<string, string | string[]>): ReturnType<typeof resolveConfig> =>
      resolveConfig({
        env: {},
        flags: {
          data: join(dir, `node${i + 1}`),
          'http-host': '127.0.0.1',
          'http-port': String(firstPort === 0 ? 0 : firstPort + i),
          'p2p-host': '127.0.0.1',
          'p2p-port': '0',
          'admin-token': token,
          'digest-interval-seconds': '5',
          'log-level': level,
          ...extra
        }
      })
    const first = new SegmeshNode({ config: nodeConfig(0, { record: [`${CHANNEL}=${stream.url}`] }), log: log.child({ node: 1 }) })
    nodes.push(first)
    await first.start()
    const bootstrap = first.host!.multiaddrs()[0]!
    const others = Array.from(
      { length: NODES - 1 },
      (_, i) => new SegmeshNode({ config: nodeConfig(i + 1, { bootstrap: [bootstrap] }), log: log.child({ node: i + 2 }) })
    )
    nodes.push(...others)
    await Promise.all(others.map(async (n) => await n.start()))

    // Ten seconds of the stream's start, as an MP4 a browser plays (only full cuts make MP4).
    const cutStart = started + 10_000_000
    const cutEnd = cutStart + 10_000_000
    const lines = [
      `segmesh demo: ${NODES} nodes on 127.0.0.1; node 1 records a synthetic live stream ` +
        `(test pattern with ${stream.clock ? 'a UTC clock' : 'a frame counter'}, 440 Hz tone), nodes 2 and 3 replicate it.`,
      `  stream origin     ${stream.url}`
    ]
    for (const [i, n] of nodes.entries()) {
      lines.push(
        `  node ${i + 1}            ${n.url}/  (status page)   ` +
          `${n.url}/player?channel=${CHANNEL}&quality=${QUALITY}  (player)   peer ${n.host!.peerId}`
      )
    }
    lines.push(
      `  playlist (any node)  ${nodes[1]!.url}/playlist/${CHANNEL}/${QUALITY}.m3u8`,
      `  a cut, once recorded (about 30 s)  ${nodes[2]!.url}/cut/${CHANNEL}/${QUALITY}.mp4` +
        `?start=${formatInstant(cutStart)}&end=${formatInstant(cutEnd)}&type=full`,
      `  admin token       ${token}   e.g. SEGMESH_ADMIN_TOKEN=${token} ${shellWord(LAUNCHER)} tombstone --node ${nodes[1]!.url} ` +
        `--channel ${CHANNEL} --quality ${QUALITY} --start ${formatInstant(cutStart)} --end ${formatInstant(cutStart + 4_000_000)}`,
      `  data              ${dir}${keep ? '' : ' (removed on exit)'}`,
      'Ctrl-C stops the nodes and ffmpeg.'
    )
    console.log(lines.join('\n'))

    const report = setInterval(() => {
      const counts = nodes.map((n, i) => `node ${i + 1}: ${n.index.totals().segments}`)
      console.log(`${new Date().toISOString().slice(11, 19)} segments  ${counts.join('   ')}`)
    }, REPORT_EVERY_MS)
    await stopRequested
    clearInterval(report)
  } catch (err) {
    log.fatal({ err }, 'demo could not start')
    console.error(`segmesh demo: could not start: ${(err as Error).message}`)
    code = 1
  } finally {
    console.log('segmesh demo: stopping')
    await Promise.allSettled(nodes.map(async (n) => await n.stop(2000)))
    await stream?.stop()
    if (!keep) await rm(dir, { recursive: true, force: true })
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  return code
}
