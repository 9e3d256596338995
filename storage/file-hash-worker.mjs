// The thread behind file-hash.ts: reads a file with blocking calls (cheap off the event loop) and
// answers with its sha256, length and mtime. Plain JavaScript: it starts without the TypeScript loader.
import { createHash } from 'node:crypto'
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'

const buffer = Buffer.allocUnsafe(1024 * 1024)

parentPort.on('message', ({ id, path }) => {
  let fd = null
  try {
    fd = openSync(path, 'r')
    const hash = createHash('sha256')
    let size = 0
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) {
      hash.update(buffer.subarray(0, n))
      size += n
    }
    const { mtimeMs } = fstatSync(fd)
    parentPort.postMessage({ id, digest: hash.digest(), size, mtimeMs })
  } catch (err) {
    parentPort.postMessage({ id, error: { message: String(err?.message ?? err), code: err?.code } })
  } finally {
    if (fd != null) closeSync(fd)
  }
})
