/**
 * Viewer streams over a real socket: with no peer downloading, viewers stream up to the maximum
 * and the next ones wait in line, a flood past the line's bound is answered 503 at once; while a
 * peer downloads, viewers are held to the share left to them; a viewer that leaves the line is
 * dropped from it; a header that is not a peer's URL does not skip the line.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Dispatcher, request } from 'undici'
import { SegmentSelector } from '../storage/best-segments.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { until } from '../test/helpers/network.ts'
import { T0, namedBytes, openStore } from '../test/helpers/tree.ts'
import { buildHttpApp } from './app.ts'
import { UploadSlots } from './upload-slots.ts'
import { ViewerStreams, type ViewerStreamsInit } from './viewer-streams.ts'

const PEER = 'x-segmesh-peer'
/** An unread body this large cannot fit in the sockets' buffers: its stream stays open. */
const BIG = 32 * 1024 * 1024

async function setup(t: Parameters<typeof openStore>[0], init: Omit<ViewerStreamsInit, 'peerUploads'>) {
  const { index, store } = await openStore(t)
  const { ref, body } = namedBytes('viewer-streams', BIG, { start: T0 })
  await store.writeSegment(ref, body)
  const uploads = new UploadSlots({ slots: 4 })
  const viewers = new ViewerStreams({ ...init, peerUploads: () => uploads.active })
  const app = await buildHttpApp({ index, store, selector: new SegmentSelector(index), uploads, viewers }, { metrics: false })
  t.after(async () => {
    app.server.closeAllConnections()
    await app.close()
  })
  return { base: await app.listen({ host: '127.0.0.1', port: 0 }), ref, viewers, uploads }
}

/** A GET whose body is left unread (it holds its stream) with a way to end it. */
async function hold(
  base: string,
  ref: SegmentRef,
  headers: Record<string, string> = {}
): Promise<{ res: Promise<Dispatcher.ResponseData>; abort: () => void }> {
  const controller = new AbortController()
  const res = request(`${base}/segments/${segmentRelPath(ref)}`, { headers, signal: controller.signal })
  res.catch(() => {})
  return { res, abort: () => controller.abort() }
}

describe('viewer streams', () => {
  it('streams up to the maximum, queues the next, and answers a flood past the line 503 at once', async (t) => {
    const { base, ref, viewers } = await setup(t, { share: 50, minViewers: 1, maxViewers: 3, maxWaiting: 4, waitMs: 30_000 })
    const held = await Promise.all(Array.from({ length: 3 }, async () => await hold(base, ref)))
    await until('three streams', () => viewers.active === 3)
    const waiting = await Promise.all(Array.from({ length: 4 }, async () => await hold(base, ref)))
    await until('four waiting', () => viewers.waiting === 4)
    // A flood past the line: answered at once, nothing more held.
    const flood = await Promise.all(
      Array.from({ length: 20 }, async () => await request(`${base}/segments/${segmentRelPath(ref)}`, { headersTimeout: 5000 }))
    )
    for (const res of flood) {
      assert.equal(res.statusCode, 503)
      assert.equal(res.headers['retry-after'], '1')
      assert.equal(((await res.body.json()) as { error: string }).error, 'busy')
    }
    assert.equal(viewers.active, 3)
    assert.equal(viewers.waiting, 4)
    // One that leaves the line is dropped from it; one that ends its stream lets the next in.
    waiting[0]!.abort()
    await until('three waiting', () => viewers.waiting === 3)
    held[0]!.abort()
    await until('the next in line streams', () => viewers.waiting === 2 && viewers.active === 3)
    for (const h of [...held, ...waiting]) h.abort()
    await until('all closed', () => viewers.active === 0 && viewers.waiting === 0)
  })

  it('keeps a share for peers while they download; a header that is not a peer URL is a viewer', async (t) => {
    const { base, ref, viewers, uploads } = await setup(t, { share: 50, minViewers: 1, maxViewers: 8, maxWaiting: 16, waitMs: 30_000 })
    assert.equal(viewers.limit(), 8)
    const peers = await Promise.all([
      hold(base, ref, { [PEER]: 'http://127.0.0.1:9/' }),
      hold(base, ref, { [PEER]: 'http://127.0.0.1:10/' })
    ])
    await until('two peer uploads', () => uploads.active === 2)
    // Two peers at 50 %: viewers get two streams.
    assert.equal(viewers.limit(), 2)
    const seen = await Promise.all(Array.from({ length: 3 }, async () => await hold(base, ref, { [PEER]: 'not a url' })))
    await until('two streaming, one waiting', () => viewers.active === 2 && viewers.waiting === 1)
    assert.equal(uploads.active, 2, 'a bogus peer header took no upload slot')
    // The peers finish: the viewer limit goes back up and the one waiting is let in as streams end.
    for (const p of peers) p.abort()
    await until('peers gone', () => uploads.active === 0)
    seen[0]!.abort()
    await until('the waiting viewer streams', () => viewers.waiting === 0 && viewers.active === 2)
    for (const h of seen) h.abort()
    await until('all closed', () => viewers.active === 0)
  })
})
