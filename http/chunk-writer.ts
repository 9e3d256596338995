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

export async function sendChunks(reply: FastifyReply, chunks: AsyncIterable<Buffer>, { budget, signal }: SendChunksOptions): Promise<void> {
  const it = chunks[Symbol.asyncIterator]()
  const res = reply.raw
  // One listener for the whole body (not one per chunk): every wait below also ends when the client goes.
  let gone: (err: Error) => void = () => {}
  const closed = new Promise<never>((_, reject) => {
    gone = reject
  })
  closed.catch(() => {})
  const onClose = (): void => gone(new ClientGone())
  res.once('close', onClose)
  let headersOut = false
  const writeHead = (): void => {
    reply.header(CORS_HEADER.name, CORS_HEADER.value)
    // Node takes numbers as header values; fastify's type allows them, Node's does not.
    res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders)
    headersOut = true
  }
  try {
    for (let next = await Promise.race([it.next(), closed]); next.done !== true; next = await Promise.race([it.next(), closed])) {
      if (!headersOut) writeHead()
      if (budget != null) await Promise.race([budget.wait(next.value.byteLength, signal), closed])
      await Promise.race([written(res, next.value), closed])
    }
    if (!headersOut) writeHead()
    res.end()
  } catch (err) {
    if (!headersOut && !res.destroyed) throw err
    if (!(err instanceof ClientGone) && !signal.aborted) reply.log.warn({ err }, 'body ended early')
    res.destroy()
  } finally {
    res.off('close', onClose)
    // Gives the lent buffer back and closes the file; a read still running finishes first.
    void it.return?.()?.catch(() => {})
  }
}
