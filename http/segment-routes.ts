/**
 * `GET /segments/:channel/:quality/:hour/:file`: segment bytes, streamed from disk. Only names the
 * index knows (and that are not tombstoned) are opened, so no request can reach another file.
 * Segment files are immutable (content-addressed), hence the strong ETag and year-long caching.
 */
import { type FileHandle, open } from 'node:fs/promises'
import { PEER_HEADER, REFERRALS_HEADER } from '../replication/fetch-http.ts'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SegmentRef } from '../storage/segment-name.ts'
import type { HttpComponents } from './components.ts'
import { peerUrlOf, referralsOf } from './upload-slots.ts'
import { HttpError, notFound } from './errors.ts'
import { type BufferPool, readPooled } from '../lib/buffer-pool.ts'
import { segmentPathParams } from './params.ts'
import {
  type ByteRange,
  SEGMENT_READ_DEFAULTS,
  lendUntilSent,
  rangeHeaderValues,
  segmentAnswer,
  segmentHeaderValues
} from './segment-answer.ts'

interface Params {
  channel: string
  quality: string
  hour: string
  file: string
}

/** The 416 for a Range header outside the `size` bytes of `what`. */
export const rangeNotSatisfiable = (header: string | undefined, size: number, what: string): HttpError =>
  new HttpError(416, 'range_not_satisfiable', `range ${header} is outside the ${size} bytes of ${what}`, {
    'content-range': `bytes */${size}`
  })

/** Status and length headers for the whole body (200) or one range of it (206). */
export function rangeHeaders(reply: FastifyReply, range: ByteRange | null, size: number): void {
  const { status, headers } = rangeHeaderValues(range, size)
  reply.code(status).headers(headers)
}

/**
 * The headers of a segment's bytes, wherever they come from (this node's disk, or a peer through
 * http/read-through.ts). Returns the ETag.
 */
export function segmentHeaders(reply: FastifyReply, hash: Buffer): string {
  const headers = segmentHeaderValues(hash)
  reply.headers(headers)
  return headers.etag
}

/**
 * A peer sent here by a referral, asking for a segment this node is downloading, waits at most
 * this long for the download to end, and at most this many wait at once (past it they get the 404
 * at once). One waiter is its open request and a timer.
 */
export const DOWNLOAD_WAIT = Object.freeze({ ms: 2_000, waiters: 64 })

/** `pool`: the app's read buffers (shared with cuts). */
export function segmentRoutes({ index, store, uploads, downloads, viewers, readThrough }: HttpComponents, pool: BufferPool) {
  let waiting = 0
  /** True when a download of `ref` running here ended while `reply`'s client stayed. */
  const downloadEnded = async (ref: SegmentRef, reply: FastifyReply): Promise<boolean> => {
    if (downloads == null || waiting >= DOWNLOAD_WAIT.waiters) return false
    const gone = new AbortController()
    const leave = (): void => gone.abort()
    reply.raw.once('close', leave)
    waiting++
    try {
      return await downloads.ended(ref, DOWNLOAD_WAIT.ms, gone.signal)
    } finally {
      waiting--
      reply.raw.off('close', leave)
    }
  }
  return async (app: FastifyInstance): Promise<void> => {
    const handler = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<unknown> => {
      const { params } = request
      const ref = segmentPathParams(params)
      let segment = index.getSegment(ref)
      const what = `${ref.channel}/${ref.quality}/${params.hour}/${params.file}`
      if (segment == null && index.isTombstoned(ref)) throw notFound(`no segment ${what} (tombstoned)`)
      // A peer sent here by a referral may ask before this node's copy is indexed (it is named the
      // moment its body is sent: http/upload-slots.ts): it waits for the download, not a 404.
      if (segment == null && (referralsOf(request.headers[REFERRALS_HEADER]) ?? 0) >= 1 && (await downloadEnded(ref, reply))) {
        segment = index.getSegment(ref)
      }
      // Not held here: a peer may hold it (http/read-through.ts).
      if (segment == null && readThrough != null) {
        const result = await readThrough.serve(request, reply, ref)
        if (result.kind === 'sent') return reply
        if (result.kind === 'busy')
          throw new HttpError(503, 'busy', `${readThrough.active} segments are being read through from peers; retry`, {
            'retry-after': '1'
          })
        if (result.kind === 'missing') throw notFound(`no segment ${what} here, and ${result.why}`)
        segment = index.getSegment(ref)
      }
      if (segment == null) throw notFound(`no segment ${what}`)

      // A peer's download takes an upload slot (http/upload-slots.ts), a viewer's a viewer stream
      // (http/viewer-streams.ts: a share is kept for peers); HEAD and 304s cost nothing.
      if (request.method === 'GET' && request.headers['if-none-match'] == null) {
        // A header that is not a peer's URL is a viewer's: it cannot skip the line with one.
        if (uploads != null && peerUrlOf(request.headers[PEER_HEADER]) != null) {
          const busy = uploads.admit(request, reply, ref, segment.mtimeMs)
          if (busy != null) return reply.code(503).header('retry-after', '1').send(busy)
          if (viewers != null) reply.raw.once('close', () => viewers.wake())
        } else if (viewers != null && !(await viewers.admit(request, reply))) return reply
      }
      let fh: FileHandle
      try {
        fh = await open(store.pathOf(ref), 'r')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`segment ${params.file} is indexed but gone from disk`)
        throw err
      }
      let size: number
      try {
        size = (await fh.stat()).size
      } catch (err) {
        await fh.close()
        throw err
      }
      // Only the bytes the index vouches for: a file whose size changed since it was indexed
      // (truncated, replaced by another program) is not what was verified; a rescan re-checks it.
      if (size !== segment.size) {
        await fh.close()
        throw notFound(`segment ${params.file} changed on disk since it was indexed (${size} bytes, indexed ${segment.size})`)
      }
      const answer = segmentAnswer(
        { hash: ref.hash!, size, mtimeMs: segment.mtimeMs },
        {
          method: request.method,
          ifNoneMatch: request.headers['if-none-match'],
          ifRange: request.headers['if-range'],
          range: request.headers.range
        }
      )
      if (answer.status === 416) {
        await fh.close()
        throw rangeNotSatisfiable(request.headers.range, size, params.file)
      }
      reply.code(answer.status).headers(answer.headers)
      if (answer.status === 304 || !answer.body) {
        await fh.close()
        return reply.send()
      }
      const { range } = answer
      // Read whole into a pooled buffer and sent with one write; streamed when the pool is spent.
      let body: Buffer | null
      try {
        body = await readPooled(fh, pool, range?.start ?? 0, Number(answer.headers['content-length']))
      } catch (err) {
        await fh.close()
        throw err
      }
      if (body != null) {
        await fh.close()
        lendUntilSent(pool, body, reply.raw)
        return reply.send(body)
      }
      const chunk = SEGMENT_READ_DEFAULTS.chunk
      return reply.send(fh.createReadStream(range == null ? { highWaterMark: chunk } : { ...range, highWaterMark: chunk }))
    }
    app.route({ method: ['GET', 'HEAD'], url: '/segments/:channel/:quality/:hour/:file', handler, exposeHeadRoute: false })
  }
}
