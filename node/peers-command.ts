/** `segmesh peers`: a node's view of the network, from its /status. */
import { type CommandFlag, formatHelp, parseCommand } from './cli-args.ts'
import { callNode, nodeUrl } from './node-client.ts'

const FLAGS: CommandFlag[] = [
  { name: 'node', type: 'string', describe: 'HTTP base URL of the node to ask, e.g. http://127.0.0.1:8080' },
  { name: 'json', type: 'boolean', describe: 'print the peers as JSON' }
]

export const peersHelp = (): string =>
  formatHelp(
    'segmesh peers --node URL [--json]',
    'Print the peers a node knows: peer id, connected or not, replication lag, last seen, HTTP URL and\nlibp2p addresses.',
    FLAGS,
    []
  )

interface StatusPeer {
  peerId: string
  url: string
  addrs?: string[]
  connected: boolean
  lastSeen: string
  lagSeconds: number
}

export async function peersCommand(argv: string[]): Promise<number> {
  const args = parseCommand(argv, FLAGS, [])
  if (args.help) {
    console.log(peersHelp())
    return 0
  }
  const { json } = await callNode(nodeUrl(args.flags.node), '/status')
  const status = json as { peerId?: string | null; peers?: StatusPeer[] }
  const peers = status.peers ?? []
  if (args.flags.json === true) {
    console.log(JSON.stringify({ peerId: status.peerId ?? null, peers }, null, 2))
    return 0
  }
  if (status.peerId == null) {
    console.log('this node does not replicate (started with --no-replication)')
    return 0
  }
  const connected = peers.filter((p) => p.connected).length
  console.log(`node ${status.peerId}: ${peers.length} peer${peers.length === 1 ? '' : 's'} known, ${connected} connected`)
  if (peers.length === 0) return 0
  const now = Date.now()
  const rows = [['PEER ID', 'CONNECTED', 'LAG', 'LAST SEEN', 'URL', 'ADDRESSES']]
  for (const p of peers) {
    rows.push([
      p.peerId,
      p.connected ? 'yes' : 'no',
      `${p.lagSeconds} s`,
      `${Math.max(0, Math.round((now - Date.parse(p.lastSeen)) / 1000))} s ago`,
      p.url,
      (p.addrs ?? []).join(' ')
    ])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const r of rows) console.log(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
  return 0
}
