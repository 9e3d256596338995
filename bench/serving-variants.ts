/**
 * Bench-only variants of segmesh's segment route, to find where its serving time goes. The real
 * app (buildHttpApp, metrics and CORS hooks included) is built on an existing data folder, and each
 * variant of `GET /segments/...` is mounted beside it under its own prefix:
 *
 *   /v/raw/segments/...      reply.hijack() + pipeline into the raw response (no reply.send, no onSend hooks)
 *   /v/send-1m/segments/...  as segmesh, but 1 MiB reads instead of 256 KiB
 *   /v/raw-1m/segments/...   both
 *
 * Only plain GETs of whole segments: the benchmark sends nothing else.
 *
 *   node --import tsx --import ./node/compat.ts bench/serving-variants.ts DATA_DIR
 *
 * Prints `variants listening on URL`; SIGTERM closes it.
 */
import { type FileHandle, open } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { buildHttpApp } from '../http/app.ts'
import type { HttpComponents } from '../http/components.ts'
import { notFound } from '../http/errors.ts'
import { segmentPathParams } from '../http/params.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'

interface Params {
  channel: string
  quality: string
  hour: string
  file: string
}

function variantRoutes({ index, store }: HttpComponents, mode: 'send' | 'raw', chunk: number) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Params: Params }>(
      '/segments/:channel/:quality/:hour/:file',
      async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
        // The same checks and lookups as http/segment-routes.ts.
        const { params } = request
        const ref = segmentPathParams(params)
        const segment = index.getSegment(ref)
        if (segment == null) throw notFound(`no segment ${params.file}`)
        let fh: FileHandle
        try {
          fh = await open(store.pathOf(ref), 'r')
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`segment ${params.file} is gone from disk`)
          throw err
        }
        let size: number
        try {
          size = (await fh.stat()).size
        } catch (err) {
          await fh.close()
          throw err
        }
        const headers = {
          'content-type': 'video/mp2t',
          etag: `"${ref.hash!.toString('base64url')}"`,
          'cache-control': 'public, max-age=31536000, immutable',
          'accept-ranges': 'bytes',
          'last-modified': new Date(segment.mtimeMs).toUTCString(),
          'content-length': size
        }
        const stream = fh.createReadStream({ highWaterMark: chunk })
        if (mode === 'send') {
          reply.headers(headers)
          return reply.send(stream)
        }
        reply.hijack()
        // onSend hooks do not run for a hijacked reply, so the CORS header is set here.
        reply.raw.writeHead(200, { ...headers, 'access-control-allow-origin': '*' })
        pipeline(stream, reply.raw, () => {})
        return reply
      }
    )
  }
}

const dir = process.argv[2]
if (dir == null) throw new Error('usage: serving-variants.ts DATA_DIR')
const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 256 * 1024 ** 2 })
const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
const components = { index, store, selector: new SegmentSelector(index) }
const app = await buildHttpApp(components)
await app.register(variantRoutes(components, 'raw', 256 * 1024), { prefix: '/v/raw' })
await app.register(variantRoutes(components, 'send', 1024 * 1024), { prefix: '/v/send-1m' })
await app.register(variantRoutes(components, 'raw', 1024 * 1024), { prefix: '/v/raw-1m' })
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
if (address == null || typeof address === 'string') throw new Error('no address')
console.log(`variants listening on http://127.0.0.1:${address.port}`)
process.once('SIGTERM', () => {
  void app.close().then(async () => await index.stop())
})
