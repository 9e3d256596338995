/**
 * sha256 of a file, computed on a worker thread. Hashing is the largest CPU cost of storing a
 * segment (about 1 s per 2 GB); off the event loop it no longer competes with serving, gossip and
 * the index. The worker reads the file back, so what is checked is what is on disk. One worker per
 * process, started on first use, holding the process open only while a request is pending.
 */
import { Worker } from 'node:worker_threads'

export interface FileHash {
  digest: Buffer
  size: number
  /** The file's mtime; a rename keeps it, so it is the stored segment's. */
  mtimeMs: number
}

interface Pending {
  resolve: (result: FileHash) => void
  reject: (err: Error) => void
}

type Reply = { id: number; digest: Uint8Array; size: number; mtimeMs: number } | { id: number; error: { message: string; code?: string } }

const WORKER_URL = new URL('./file-hash-worker.mjs', import.meta.url)

class HashWorker {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #nextId = 0
  dead = false

  constructor() {
    // No execArgv: on Node 20 the parent's --import of the TypeScript loader fails inside workers.
    this.#worker = new Worker(WORKER_URL, { execArgv: [] })
    this.#worker.on('message', (reply: Reply) => this.#answer(reply))
    this.#worker.on('error', (err) => this.#fail(err))
    this.#worker.on('exit', (code) => this.#fail(new Error(`file hash worker exited with code ${code}`)))
    this.#worker.unref()
  }

  async hash(path: string): Promise<FileHash> {
    const id = this.#nextId++
    const result = new Promise<FileHash>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    if (this.#pending.size === 1) this.#worker.ref()
    this.#worker.postMessage({ id, path })
    return await result
  }

  #answer(reply: Reply): void {
    const p = this.#pending.get(reply.id)
    if (p == null) return
    this.#pending.delete(reply.id)
    if (this.#pending.size === 0) this.#worker.unref()
    if ('error' in reply) {
      p.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }))
      return
    }
    const { digest, size, mtimeMs } = reply
    p.resolve({ digest: Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength), size, mtimeMs })
  }

  /** A dead worker fails what it held; the next call starts a new one. */
  #fail(err: Error): void {
    this.dead = true
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
  }
}

let current: HashWorker | null = null

/** The sha256, length and mtime of the file at `path`, read back from the disk. */
export async function hashFile(path: string): Promise<FileHash> {
  if (current == null || current.dead) current = new HashWorker()
  return await current.hash(path)
}
