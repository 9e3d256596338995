/**
 * The node's persistent Ed25519 identity: `<dataDir>/node-key`, libp2p protobuf, mode 0600.
 * The same key means the same peer id across restarts, so peers' KEEP_ALIVE tags stay valid.
 */
import { constants } from 'node:fs'
import { type FileHandle, mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { replaceFile } from '../storage/durable-file.ts'
import type { Logger } from '../lib/logger.ts'
import { NodeKeyError } from './p2p-errors.ts'

export const NODE_KEY_FILE = 'node-key'
const KEY_MODE = 0o600
/** An Ed25519 key is 68 bytes as protobuf; anything much larger is not one. */
const MAX_KEY_BYTES = 4096

export interface NodeKeyOptions {
  /** Told when a key file's permissions had to be tightened. */
  log?: Logger
}

/**
 * Load the node key, or create it on first start.
 *
 * A key file readable by group or others is tightened to 0600 (with a warning) rather than
 * refused: loose bits come from copies and restores under a default umask, and the key is the
 * node's identity, not what guards the network (the pre-shared key does that). If the mode
 * cannot be changed (someone else owns the file) it is refused. Symlinks and non-files are refused.
 */
export async function loadOrCreateNodeKey(dataDir: string, options: NodeKeyOptions = {}): Promise<PrivateKey> {
  const path = join(dataDir, NODE_KEY_FILE)
  const existing = await readKeyFile(path, options)
  if (existing != null) return existing
  const key = await generateKeyPair('Ed25519')
  await mkdir(dataDir, { recursive: true })
  try {
    await replaceFile(path, privateKeyToProtobuf(key), { mode: KEY_MODE })
  } catch (err) {
    throw new NodeKeyError(`cannot write node key ${path}: ${(err as Error).message}`, { cause: err })
  }
  return key
}

async function readKeyFile(path: string, options: NodeKeyOptions): Promise<PrivateKey | null> {
  let fh: FileHandle
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null
    if (code === 'ELOOP') throw new NodeKeyError(`node key ${path} is a symlink; refusing to use it`)
    throw new NodeKeyError(`cannot open node key ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new NodeKeyError(`node key ${path} is not a regular file`)
    if ((st.mode & 0o077) !== 0) {
      try {
        await fh.chmod(KEY_MODE)
      } catch (err) {
        throw new NodeKeyError(
          `node key ${path} has mode ${(st.mode & 0o777).toString(8)} and cannot be made 0600: ${(err as Error).message}`,
          { cause: err }
        )
      }
      options.log?.warn({ path, mode: (st.mode & 0o777).toString(8) }, 'node key was readable by others; tightened to 0600')
    }
    if (st.size > MAX_KEY_BYTES) throw new NodeKeyError(`node key ${path} is ${st.size} bytes, not a libp2p Ed25519 key`)
    const bytes = await fh.readFile()
    let key: PrivateKey
    try {
      key = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new NodeKeyError(`node key ${path} is corrupt (${(err as Error).message}); move it away to create a new identity`, {
        cause: err
      })
    }
    if (key.type !== 'Ed25519') throw new NodeKeyError(`node key ${path} is ${key.type}, expected Ed25519`)
    return key
  } finally {
    await fh.close()
  }
}
