/**
 * `segmesh tombstone`: hide one segment, or every segment of a time range, through a node's admin API;
 * with `--signing-key`, signed here with the admin key, so the key never has to live on a node.
 */
import type { KeyObject } from 'node:crypto'
import { ConfigError } from '../config/errors.ts'
import { timeParam } from '../http/params.ts'
import { type TombstoneTarget, claimReason, readAdminSigningKey, signTombstone } from '../replication/tombstone-signature.ts'
import { type CommandFlag, formatHelp, parseCommand } from './cli-args.ts'
import { callNode, nodeUrl } from './node-client.ts'

const FLAGS: CommandFlag[] = [
  { name: 'node', type: 'string', describe: 'HTTP base URL of any node of the network, e.g. http://127.0.0.1:8080' },
  { name: 'token', type: 'string', describe: "the node's admin token (default: $SEGMESH_ADMIN_TOKEN; prefer it: flags show in ps)" },
  { name: 'segment', type: 'string', describe: 'one segment: CHANNEL/QUALITY/HOUR/FILE.ts as listed by /files' },
  { name: 'channel', type: 'string', describe: 'with --quality, --start and --end: every segment overlapping the range' },
  { name: 'quality', type: 'string', describe: 'quality of the range' },
  { name: 'start', type: 'string', describe: 'start of the range, ISO 8601 UTC (2026-11-23T02:00:00Z)' },
  { name: 'end', type: 'string', describe: 'end of the range, at most 24 h after --start' },
  { name: 'reason', type: 'string', describe: "why, for the node's log (who asked, ticket, ...) and, signed, in the proof" },
  {
    name: 'signing-key',
    type: 'string',
    describe: 'admin Ed25519 private key file (segmesh keygen --admin): sign the tombstone here, for networks with --admin-public-key'
  },
  { name: 'json', type: 'boolean', describe: "print the node's answer as JSON" }
]

const RANGE = ['channel', 'quality', 'start', 'end'] as const

export const tombstoneHelp = (): string =>
  formatHelp(
    'segmesh tombstone --node URL [--token T] (--segment C/Q/HOUR/FILE | --channel C --quality Q --start ISO --end ISO) ' +
      '[--reason TEXT] [--signing-key FILE]',
    'Tombstone a segment, or every segment of a channel/quality overlapping [start, end), on one node; the\n' +
      'tombstones reach every node by gossip and the segments are hidden everywhere, for good. Idempotent.\n' +
      'Exit 0 on success, 1 when the node refuses or cannot be reached, 64 for bad arguments.',
    FLAGS,
    []
  )

export async function tombstoneCommand(argv: string[]): Promise<number> {
  const args = parseCommand(argv, FLAGS, [])
  if (args.help) {
    console.log(tombstoneHelp())
    return 0
  }
  const f = args.flags
  const base = nodeUrl(f.node)
  const token = (f.token as string | undefined) ?? process.env.SEGMESH_ADMIN_TOKEN
  if (token == null || token === '') throw new ConfigError('--token', 'missing: give --token or set SEGMESH_ADMIN_TOKEN')
  const given = RANGE.filter((k) => f[k] !== undefined)
  let body: Record<string, string>
  if (f.segment !== undefined) {
    if (given.length > 0) throw new ConfigError(`--${given[0]}`, 'give either --segment or --channel/--quality/--start/--end, not both')
    body = { segment: f.segment as string }
  } else {
    const missing = RANGE.filter((k) => f[k] === undefined)
    if (missing.length === RANGE.length)
      throw new ConfigError('--segment', 'missing: give --segment, or --channel, --quality, --start and --end')
    if (missing.length > 0) throw new ConfigError(`--${missing[0]}`, 'missing: a range needs --channel, --quality, --start and --end')
    body = Object.fromEntries(RANGE.map((k) => [k, f[k] as string]))
  }
  if (f.reason !== undefined) body.reason = f.reason as string
  if (f['signing-key'] !== undefined) body.proof = await sign(f['signing-key'] as string, body)
  const { json } = await callNode(base, '/admin/tombstone', { method: 'POST', token, body })
  const result = json as { tombstoned: string[]; alreadyTombstoned: string[] }
  if (f.json === true) {
    console.log(JSON.stringify(result, null, 2))
    return 0
  }
  for (const path of result.tombstoned) console.log(`tombstoned  ${path}`)
  for (const path of result.alreadyTombstoned) console.log(`already     ${path}`)
  const nothing = result.tombstoned.length + result.alreadyTombstoned.length === 0 ? ' (nothing in that range on this node)' : ''
  console.log(`${result.tombstoned.length} tombstoned, ${result.alreadyTombstoned.length} already tombstoned${nothing}`)
  return 0
}

/** The proof the node stores and gossips with the tombstones: this request's claim, signed. */
async function sign(keyFile: string, body: Record<string, string>): Promise<string> {
  let key: KeyObject
  try {
    key = await readAdminSigningKey(keyFile)
  } catch (err) {
    if ((err as Error).name === 'KeyFileError') throw new ConfigError('--signing-key', (err as Error).message)
    throw err
  }
  let channel: string
  let quality: string
  let target: TombstoneTarget
  if (body.segment != null) {
    const parts = body.segment.split('/')
    if (parts.length !== 4) throw new ConfigError('--segment', `'${body.segment}' is not CHANNEL/QUALITY/HOUR/FILE`)
    channel = parts[0]!
    quality = parts[1]!
    target = { hour: parts[2]!, segment: parts[3]! }
  } else {
    channel = body.channel!
    quality = body.quality!
    target = { from: instant('start', body.start!), to: instant('end', body.end!) }
  }
  // One line of text in the signed payload, as the node would sign it; the log still gets it whole.
  const reason = claimReason(body.reason ?? '')
  try {
    return signTombstone({ channel, quality, target, created: Date.now() * 1000, reason }, key)
  } catch (err) {
    // The claim names a bad channel, quality, file or range.
    throw new ConfigError(`--${body.segment != null ? 'segment' : 'channel'}`, (err as Error).message)
  }
}

/** ISO 8601 UTC → µs, read as the node reads it. */
function instant(flag: string, value: string): number {
  try {
    return timeParam(flag, value)!
  } catch (err) {
    throw new ConfigError(`--${flag}`, (err as Error).message)
  }
}
