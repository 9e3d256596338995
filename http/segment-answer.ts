/**
 * How a request for a segment's bytes is answered, from the segment's hash, size and mtime and the
 * request's validators alone: status, headers and which bytes. One decision for the node's segment
 * route (segment-routes.ts) and the HTTP workers (segment-worker.ts), which serve the same files.
 * No fastify here: a worker loads only this and the storage grammar.
 */

import type { ServerResponse } from 'node:http'
import type { BufferPool } from '../lib/buffer-pool.ts'
import { etagMatches } from './etag.ts'

export const SEGMENT_READ_DEFAULTS = Object.freeze({
  /** Streamed reads of segment files: larger than the 64 KiB default, measured ~30 % more throughput. */
  chunk: 256 * 1024,
  /** Segments up to this size are read whole into a pooled buffer (lib/buffer-pool.ts) and written with one call. */
  bufferBytes: 2 * 1024 * 1024,
  /** Pooled buffers out and kept, per process; past it answers are streamed in `chunk` reads. */
  poolBytes: 64 * 1024 * 1024
})

export interface ByteRange {
  start: number
  end: number
}

/**
 * One `bytes=` range against a body of `size` bytes: null to serve everything (no header, or a
 * multi-range we choose not to serve), a range, or 'unsatisfiable'.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  if (header == null) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m == null) return null
  const [, a, b] = m as unknown as [string, string, string]
  if (a === '' && b === '') return null
  if (a === '') {
    const n = Number(b)
    if (n === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
  if (start >= size || end < start) return 'unsatisfiable'
  return { start, end }
}

/** Status and length headers for the whole body (200) or one range of it (206). */
export function rangeHeaderValues(range: ByteRange | null, size: number): { status: 200 | 206; headers: Record<string, string> } {
  if (range == null) return { status: 200, headers: { 'content-length': String(size) } }
  return {
    status: 206,
    headers: { 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': String(range.end - range.start + 1) }
  }
}

/** A segment's own headers: the name's hash is the strong ETag, and the bytes never change. */
export function segmentHeaderValues(hash: Buffer): { 'content-type': string; etag: string; 'cache-control': string } {
  return {
    'content-type': 'video/mp2t',
    etag: `"${hash.toString('base64url')}"`,
    'cache-control': 'public, max-age=31536000, immutable'
  }
}

export interface SegmentRequest {
  method: string
  ifNoneMatch?: string | undefined
  ifRange?: string | string[] | undefined
  range?: string | undefined
}

export type SegmentAnswer =
  | { status: 304; headers: Record<string, string> }
  | { status: 416 }
  | { status: 200 | 206; headers: Record<string, string>; range: ByteRange | null; body: boolean }

export function segmentAnswer(file: { hash: Buffer; size: number; mtimeMs: number }, request: SegmentRequest): SegmentAnswer {
  const headers = {
    ...segmentHeaderValues(file.hash),
    'accept-ranges': 'bytes',
    'last-modified': new Date(file.mtimeMs).toUTCString()
  }
  const etag = headers.etag
  if (etagMatches(request.ifNoneMatch, etag)) return { status: 304, headers }
  // A Range whose If-Range validator does not match gets the whole body (RFC 9110 §13.1.5).
  const range = request.ifRange != null && request.ifRange !== etag ? null : parseRange(request.range, file.size)
  if (range === 'unsatisfiable') return { status: 416 }
  const length = rangeHeaderValues(range, file.size)
  return { status: length.status, headers: { ...headers, ...length.headers }, range, body: request.method !== 'HEAD' }
}

/**
 * `body` (lent by `pool`) goes back once the response no longer holds it: sent, or the client
 * gone, whichever comes first, and at once if the client left while it was being read.
 */
export function lendUntilSent(pool: BufferPool, body: Buffer, res: ServerResponse): void {
  const socket = res.socket
  if (res.destroyed || socket == null || socket.destroyed) {
    pool.give(body)
    return
  }
  // The socket's own 'close' too: an answer queued behind a pipelined one never closes if the
  // socket dies first. Both listeners go with the first to fire (a keep-alive socket serves many).
  const give = (): void => {
    res.off('close', give)
    socket.off('close', give)
    pool.give(body)
  }
  res.once('close', give)
  socket.once('close', give)
}
