/**
 * The two direct protocols, each one blob framed by the end of its stream (no length prefix to
 * get wrong), at most 1 MiB:
 * - `/segmesh/hello/2.0.0` (and `1.0.0`, for peers of the first version): the dialler closes its
 *   write end at once; the listener answers and closes. The dialler offers both versions, newest
 *   first; multistream-select settles on the newest both speak.
 * - `/segmesh/offer/1.0.0`: the dialler sends one announcement meant for this peer alone (what a
 *   range repair found it lacks) and closes; the listener answers nothing.
 */
import { StreamResetError } from '@libp2p/interface'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { HelloTooLargeError } from './p2p-errors.ts'

export const HELLO_PROTOCOLS = { 2: '/segmesh/hello/2.0.0', 1: '/segmesh/hello/1.0.0' } as const
export type HelloVersion = keyof typeof HELLO_PROTOCOLS
export const OFFER_PROTOCOL = '/segmesh/offer/1.0.0'
export const MAX_HELLO_BYTES = 1024 * 1024

/** Send one blob and close our write end. */
export async function sendBlob(stream: Stream, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  if (bytes.byteLength > MAX_HELLO_BYTES)
    throw new HelloTooLargeError(`message of ${bytes.byteLength} bytes is over the ${MAX_HELLO_BYTES} byte limit`)
  if (bytes.byteLength > 0 && !stream.send(bytes)) await stream.onDrain({ signal })
  await stream.close({ signal })
}

/**
 * Everything the remote writes until it closes its write end. Listeners go on before anything
 * is awaited. The answer may already be buffered with `end` already past: multistream-select
 * reads ahead and pushes the bytes back after the remote's close, so `readableEnded` can be true
 * while data is still waiting. Hence "ended and nothing buffered" is checked after every chunk.
 */
export async function readBlob(stream: Stream, signal: AbortSignal): Promise<Uint8Array> {
  return await new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let size = 0
    let settled = false
    const finish = (err?: unknown): void => {
      if (settled) return
      settled = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
      if (err != null) {
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        reject(err)
        return
      }
      resolve(concat(chunks, size))
    }
    const onMessage = (evt: StreamMessageEvent): void => {
      size += evt.data.byteLength
      if (size > MAX_HELLO_BYTES) {
        finish(new HelloTooLargeError(`message over the ${MAX_HELLO_BYTES} byte limit`))
        return
      }
      chunks.push(evt.data.subarray())
      drained()
    }
    // A reset also ends the readable side, before its 'close' carries the error: wait for that.
    const wasReset = (): boolean => stream.status === 'reset' || stream.status === 'aborted'
    const drained = (): void => {
      if (stream.readableEnded && stream.readBufferLength === 0 && !wasReset()) finish()
    }
    const onEnd = (): void => {
      if (!wasReset()) finish()
    }
    // `close` without an error after `end` changes nothing (finish is idempotent); with one, the remote reset.
    const onClose = (evt: StreamCloseEvent): void => finish(evt.error)
    const onAbort = (): void => finish(signal.reason)
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort, { once: true })
    if (signal.aborted) onAbort()
    // A remote that refused at once may have reset the stream before dialProtocol returned.
    else if (wasReset()) finish(new StreamResetError('hello stream reset by the remote'))
    // Already ended with nothing buffered: no event is coming, so check once listeners are on.
    else queueMicrotask(drained)
  })
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}
