/**
 * `segmesh keygen --out FILE`: a new network key (libp2p private network), mode 0600.
 * `segmesh keygen --admin --out FILE`: a new admin Ed25519 key pair: FILE (private, 0600) and
 * FILE.pub (public, printed too). Neither ever overwrites an existing file.
 */
import { ConfigError } from '../config/errors.ts'
import { writeNetworkKey } from '../replication/pnet.ts'
import { writeAdminKeyPair } from '../replication/tombstone-signature.ts'
import { type CommandFlag, formatHelp, parseCommand } from './cli-args.ts'

const FLAGS: CommandFlag[] = [
  { name: 'out', type: 'string', describe: 'file to create (refused if it exists)' },
  {
    name: 'admin',
    type: 'boolean',
    describe: 'make the admin Ed25519 key pair that signs tombstones (FILE and FILE.pub) instead of a network key'
  }
]

export const keygenHelp = (): string =>
  formatHelp(
    'segmesh keygen --out FILE [--admin]',
    'Make a network key for --network-key (every node of a network holds the same one), or with --admin\n' +
      'the admin key pair: FILE for --admin-signing-key (keep it off the nodes if you sign client-side),\n' +
      'FILE.pub for --admin-public-key on every node.',
    FLAGS,
    []
  )

export async function keygenCommand(argv: string[]): Promise<number> {
  const args = parseCommand(argv, FLAGS, [])
  if (args.help) {
    console.log(keygenHelp())
    return 0
  }
  const out = args.flags.out
  if (typeof out !== 'string' || out === '') throw new ConfigError('--out', 'required: the file to write the key to')
  try {
    if (args.flags.admin === true) {
      const { publicKeyPath, publicKeyPem } = await writeAdminKeyPair(out)
      console.log(
        `admin signing key written to ${out} (mode 0600): give it to --admin-signing-key, or keep it to sign with segmesh tombstone`
      )
      console.log(`admin public key written to ${publicKeyPath}: give it to --admin-public-key on every node\n${publicKeyPem.trimEnd()}`)
    } else {
      await writeNetworkKey(out)
      console.log(`network key written to ${out} (mode 0600): copy it to every node and start each with --network-key ${out}`)
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'SEGMESH_ERR_KEY_FILE') throw err
    console.error(`segmesh keygen: ${(err as Error).message}`)
    return 1
  }
  return 0
}
