/**
 * Sends a long body (a rough cut, a spooled full cut) whose chunks are lent: each is written to
 * the response, and the next asked for only once Node has handed it to the kernel (the write's
 * callback), so one reused buffer carries the whole body (lib/buffer-pool.ts `fileChunks`).
 * Piping a stream of fresh buffers allocated the body's whole size as new memory, 64 MiB a second
 * at the default `--cut-max-mib-per-second`: V8 then ran a full garbage collection about every
 * second, and viewers' segment requests waited behind its steps (bench/floods.ts, century).
 *
 * The headers go out with the first chunk, written past fastify (its onSend hooks do not run, so
 * the CORS header is set here); an error before them is thrown to the route, after them it ends
 * the response early (the client sees a cut-short body, as with a failing stream).
 */
import type { FastifyReply } from 'fastify'
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { ByteBudget } from './bulk-rate.ts'
import { CORS_HEADER } from './cors.ts'

export interface SendChunksOptions {
  /** Paces the body's bytes (every cut shares one). */
  budget?: ByteBudget | undefined
  /** The request's: the client went away. */
  signal: AbortSignal
}

/** Resolves once `chunk` is with the kernel; a failed write is the connection gone (reset, closed), never ours to log. */
const written = async (res: ServerResponse, chunk: Buffer): Promise<void> =>
  await new Promise((resolve, reject) => {
    res.write(chunk, (err) => (err == null ? resolve() : reject(new ClientGone(err))))
  })

class ClientGone extends Error {
  constructor(cause?: Error) {
    super('the client closed the connection', cause == null ? {} : { cause })
  }
}

/**
 * `work`, or ClientGone once the response closes, whichever comes first. The close listener is
 * added for this wait and removed after it: racing one promise that lives as long as the body would
 * leave a reaction on it per chunk until the end (thousands on a long cut).
 */
async function unlessGone<T>(res: ServerResponse, work: Promise<T>): Promise<T> {
  if (res.closed) {
    work.catch(() => {})
    throw new ClientGone()
  }
  let onClose: () => void = () => {}
  const gone = new Promise<never>((_, reject) => {
    onClose = () => reject(new ClientGone())
  })
  res.once('close', onClose)
  try {
    return await Promise.race([work, gone])
  } finally {
    res.off('close', onClose)
  }
}

export async function sendChunks(reply: FastifyReply, chunks: AsyncIterable<Buffer>, { budget, signal }: SendChunksOptions): Promise<void> {
  const it = chunks[Symbol.asyncIterator]()
  const res = reply.raw
  const writeHead = (): void => {
    reply.header(CORS_HEADER.name, CORS_HEADER.value)
    // Node takes numbers as header values; fastify's type allows them, Node's does not.
    res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders)
  }
  try {
    for (let next = await unlessGone(res, it.next()); next.done !== true; next = await unlessGone(res, it.next())) {
      if (!res.headersSent) writeHead()
      // Rejects when the request's signal aborts (the client went away) while it waits.
      if (budget != null) await budget.wait(next.value.byteLength, signal)
      await unlessGone(res, written(res, next.value))
    }
    if (!res.headersSent) writeHead()
    res.end()
  } catch (err) {
    if (!res.headersSent && !res.destroyed) throw err
    if (!(err instanceof ClientGone) && !signal.aborted) reply.log.warn({ err }, 'body ended early')
    res.destroy()
  } finally {
    // Gives the lent buffer back and closes the file; a read still running finishes first.
    void it.return?.()?.catch(() => {})
  }
}
