/**
 * The libp2p private network key (`--network-key`): the swarm key format of go-ipfs/@libp2p/pnet,
 * three lines `/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits. Every node of a network holds the
 * same key; a connection whose other end has a different key (or none) fails during the pnet
 * handshake, before noise, identify or gossip see a byte of it.
 */
import { generateKey } from '@libp2p/pnet'
import { readKeyFile, writeNewKeyFile } from './key-files.ts'
import { KeyFileError } from './p2p-errors.ts'

/** `/key/swarm/psk/1.0.0/\n/base16/\n` plus 32 bytes in hex. */
const NETWORK_KEY_BYTES = 95
const FORMAT = /^\/key\/swarm\/psk\/1\.0\.0\/\r?\n\/base16\/\r?\n([0-9a-fA-F]{64})\s*$/

export function newNetworkKey(): Uint8Array {
  const key = new Uint8Array(NETWORK_KEY_BYTES)
  generateKey(key)
  return key
}

/**
 * The key as preSharedKey() wants it, after a strict check: @libp2p/pnet itself reads only the
 * third line, so a file in another format would fail late, at the first connection.
 */
export function parseNetworkKey(bytes: Uint8Array, path: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1')
  if (!FORMAT.test(text))
    throw new KeyFileError(
      `network key ${path} is not a swarm key (/key/swarm/psk/1.0.0/, /base16/, 64 hex digits); make one with segmesh keygen --out FILE`
    )
  return bytes
}

export async function readNetworkKey(path: string): Promise<Uint8Array> {
  return parseNetworkKey(await readKeyFile(path, 'network key', { secret: true }), path)
}

/** A fresh network key at `path`, mode 0600; never overwrites. */
export async function writeNetworkKey(path: string): Promise<void> {
  await writeNewKeyFile(path, newNetworkKey(), 0o600)
}
