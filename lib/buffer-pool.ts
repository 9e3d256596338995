/**
 * Reusable buffers of one size under a byte budget. A segment answered from one of these is read
 * with one system call and written with one, into memory that is already mapped: a fresh large
 * buffer per answer costs a page fault per 4 KiB and a kernel-zeroed page each time, which was
 * most of the CPU of serving a segment. Buffers out and kept together never exceed the budget;
 * past it `take` says no and the caller streams in small chunks instead.
 */
import { type FileHandle, open } from 'node:fs/promises'

export interface BufferPoolInit {
  /** Size of each buffer; larger bodies are not pooled. */
  bufferBytes: number
  /** Buffers out and kept, in bytes, at most. */
  maxBytes: number
}

export class BufferPool {
  readonly bufferBytes: number
  readonly #max: number
  readonly #free: Buffer[] = []
  #out = 0

  constructor(init: BufferPoolInit) {
    this.bufferBytes = init.bufferBytes
    this.#max = Math.max(1, Math.floor(init.maxBytes / init.bufferBytes))
  }

  /** Buffers handed out now. */
  get out(): number {
    return this.#out
  }

  /** A buffer of bufferBytes, or null when `size` is larger or the budget is used up. */
  take(size: number): Buffer | null {
    if (size > this.bufferBytes || this.#out >= this.#max) return null
    this.#out++
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes)
  }

  /** Back once nothing reads it any more (a view of it is taken back whole). */
  give(buffer: Buffer): void {
    this.#out--
    const whole = buffer.byteLength === this.bufferBytes ? buffer : Buffer.from(buffer.buffer, buffer.byteOffset, this.bufferBytes)
    if (this.#free.length + this.#out < this.#max) this.#free.push(whole)
  }
}

/**
 * `length` bytes of a file from `position`, read whole into a buffer of the pool (a view of it);
 * null when the pool cannot lend one. `pool.give(result.buffer)` once the bytes are sent.
 */
export async function readPooled(fh: FileHandle, pool: BufferPool, position: number, length: number): Promise<Buffer | null> {
  const buffer = pool.take(length)
  if (buffer == null) return null
  try {
    const { bytesRead } = await fh.read(buffer, 0, length, position)
    if (bytesRead !== length) throw new Error(`read ${bytesRead} of ${length} bytes`)
  } catch (err) {
    pool.give(buffer)
    throw err
  }
  return buffer.subarray(0, length)
}

/** Chunk size of fileChunks() without a pooled buffer. */
const UNPOOLED_CHUNK_BYTES = 256 * 1024

/**
 * A file's bytes (`start` to `end` inclusive, as createReadStream counts) read into one buffer
 * that every chunk reuses: a chunk is valid only until the next is asked for, so the consumer must
 * be done with it (written, the write's callback called) before it asks. The buffer is lent by
 * `pool` (one of its size, or the file's if smaller), or allocated once for the file when there is
 * no pool or it is spent. Reading a long body into fresh buffers allocates its whole size: at tens
 * of MB a second that made V8 run a full garbage collection about every second.
 */
export async function* fileChunks(path: string, options: { pool?: BufferPool; start?: number; end?: number } = {}): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r')
  let lent: Buffer | null = null
  try {
    const end = options.end != null ? options.end + 1 : (await fh.stat()).size
    let position = options.start ?? 0
    if (position >= end) return
    const wanted = end - position
    lent = options.pool?.take(Math.min(wanted, options.pool.bufferBytes)) ?? null
    const buffer = lent ?? Buffer.allocUnsafeSlow(Math.min(wanted, UNPOOLED_CHUNK_BYTES))
    while (position < end) {
      const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.byteLength, end - position), position)
      if (bytesRead === 0) throw new Error(`${path} ended at byte ${position}, before ${end}`)
      position += bytesRead
      yield buffer.subarray(0, bytesRead)
    }
  } finally {
    if (lent != null) options.pool!.give(lent)
    await fh.close()
  }
}
