/**
 * Small secret files (network key, admin keys): created exclusively with mode 0600 and fsync'd,
 * read through O_NOFOLLOW with a size bound. A private file that others can read is refused
 * rather than fixed: unlike the node key, these guard the whole network.
 */
import { constants } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { KeyFileError } from './p2p-errors.ts'

const MAX_KEY_FILE_BYTES = 16 * 1024

/** Write a new file; refuses to replace an existing one (a key is never overwritten by mistake). */
export async function writeNewKeyFile(path: string, bytes: Uint8Array | string, mode: 0o600 | 0o644): Promise<void> {
  let fh: FileHandle
  try {
    fh = await open(path, 'wx', mode)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new KeyFileError(`${path} exists; refusing to overwrite a key (move it away first)`)
    throw new KeyFileError(`cannot create ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    await fh.chmod(mode) // exactly this mode whatever the umask
    await fh.writeFile(bytes)
    await fh.sync()
  } finally {
    await fh.close()
  }
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/** Read a key file; `secret` refuses one readable by group or others. */
export async function readKeyFile(path: string, what: string, options: { secret: boolean }): Promise<Buffer> {
  let fh: FileHandle
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ELOOP') throw new KeyFileError(`${what} ${path} is a symlink; refusing to use it`)
    throw new KeyFileError(`cannot open ${what} ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new KeyFileError(`${what} ${path} is not a regular file`)
    if (options.secret && (st.mode & 0o077) !== 0) {
      throw new KeyFileError(`${what} ${path} has mode ${(st.mode & 0o777).toString(8)}; it must be readable by its owner only (chmod 600)`)
    }
    if (st.size > MAX_KEY_FILE_BYTES) throw new KeyFileError(`${what} ${path} is ${st.size} bytes; not a key file`)
    return await fh.readFile()
  } finally {
    await fh.close()
  }
}
