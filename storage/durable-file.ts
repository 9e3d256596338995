/**
 * Small durable-write primitives shared by the store and the key files: a rename or create only
 * survives a power cut once its folder is fsync'd, and a replaced file must never be seen half-written.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, open, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** Open a folder and fsync it, so a rename or create inside it survives a power cut. */
export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * `mkdir -p` whose new folders survive a power cut: each created folder's entry is fsync'd in its
 * parent (a file fsync'd and renamed into a folder whose own entry was lost is lost with it).
 */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true })
  if (first == null) return
  for (let d = dir; ; d = dirname(d)) {
    await fsyncDir(dirname(d))
    if (d === first || dirname(d) === d) break
  }
}

/**
 * Replace `path` with `bytes`: a dot-named temp file beside it (reconcile skips dot files), fsync,
 * rename over `path`, fsync the folder. `mode` is set exactly, whatever the umask.
 */
export async function replaceFile(path: string, bytes: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, `.${randomUUID()}.tmp`)
  const mode = options.mode ?? 0o644
  try {
    const fh = await open(temp, 'wx', mode)
    try {
      await fh.chmod(mode)
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(temp, path)
  } catch (err) {
    await unlink(temp).catch(() => {})
    throw err
  }
  await fsyncDir(dir)
}
