/**
 * Read-through over real sockets: a fastify app with a real store and index in front of peers that
 * are node:http servers serving chosen bytes (right, wrong, slow). The client of a lying peer sees
 * its connection cut and nothing is stored; the next request is served from an honest peer's copy.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type TestContext, describe, it } from 'node:test'
import { type Dispatcher, request } from 'undici'
import { SegmentSelector } from '../storage/best-segments.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { until } from '../test/helpers/network.ts'
import { T0, namedBytes, openStore } from '../test/helpers/tree.ts'
import { buildHttpApp } from './app.ts'
import { READ_THROUGH_HEADER, ReadThrough, type ReadThroughInit } from './read-through.ts'

const SIZE = 2 * 1024 * 1024

const segment = (i: number): { ref: SegmentRef; body: Buffer } => namedBytes(`read-through-${i}`, SIZE, { start: T0 + i * 2_000_000 })

/** A peer serving fixed bytes per segment path (after `delayMs`), counting requests and their peer header. */
class Peer {
  readonly requests: string[] = []
  readonly peerHeaders: Array<string | undefined> = []
  readonly methods: string[] = []
  readonly #bodies = new Map<string, Buffer>()
  readonly #server: Server
  delayMs = 0
  url = ''

  constructor() {
    this.#server = createServer((req, res) => this.#handle(req, res))
  }

  serve(ref: SegmentRef, body: Buffer): this {
    this.#bodies.set(`/segments/${segmentRelPath(ref)}`, body)
    return this
  }

  async listen(t: TestContext): Promise<this> {
    this.#server.listen(0, '127.0.0.1')
    await once(this.#server, 'listening')
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    t.after(async () => {
      this.#server.closeAllConnections()
      await new Promise((resolve) => this.#server.close(resolve))
    })
    return this
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    this.requests.push(path)
    this.peerHeaders.push(req.headers['x-segmesh-peer'] as string | undefined)
    this.methods.push(req.method ?? '')
    const body = this.#bodies.get(path)
    if (body == null) {
      res.writeHead(404).end()
      return
    }
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': body.byteLength })
      // In two halves, so a client is mid-body while the rest is on its way.
      res.write(body.subarray(0, body.byteLength >> 1))
      setTimeout(() => res.end(body.subarray(body.byteLength >> 1)), 20)
    }, this.delayMs)
  }
}

async function setup(t: TestContext, candidates: () => string[], init: Partial<ReadThroughInit> = {}) {
  const { index, store } = await openStore(t)
  const readThrough = new ReadThrough({ store, candidates, ownUrl: () => 'http://me.example:8080', ...init })
  await readThrough.start()
  const app = await buildHttpApp({ index, store, selector: new SegmentSelector(index), readThrough }, { metrics: false })
  t.after(async () => {
    app.server.closeAllConnections()
    await app.close()
    await readThrough.stop()
  })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const get = async (ref: SegmentRef, headers: Record<string, string> = {}, method: Dispatcher.HttpMethod = 'GET') =>
    await request(`${base}/segments/${segmentRelPath(ref)}`, { method, headers })
  return { index, store, readThrough, get }
}

async function bytesOf(res: Dispatcher.ResponseData): Promise<Buffer> {
  return Buffer.from(await res.body.arrayBuffer())
}

describe('read-through segments', () => {
  it('streams a segment a peer holds, stores it on the way, then serves it from disk', async (t) => {
    const { ref, body } = segment(1)
    const holder = (await new Peer().listen(t)).serve(ref, body)
    const { get, index } = await setup(t, () => [holder.url])

    const first = await get(ref)
    assert.equal(first.statusCode, 200)
    assert.equal(first.headers[READ_THROUGH_HEADER], 'peer')
    assert.equal(first.headers['content-length'], String(SIZE))
    assert.ok((await bytesOf(first)).equals(body))
    // The client has the bytes before the store's fsync, rename and index are done.
    await until('the segment to be stored through the write path', () => index.getSegment(ref) != null, 5000)
    assert.deepEqual(holder.peerHeaders, ['http://me.example:8080'], 'the holder counts it against its upload slots')

    const again = await get(ref)
    assert.equal(again.statusCode, 200)
    assert.equal(again.headers[READ_THROUGH_HEADER], undefined)
    assert.ok((await bytesOf(again)).equals(body))
    assert.equal(holder.requests.length, 1)
  })

  it('cuts the client of a lying peer, stores nothing of its bytes, and serves the next request from an honest one', async (t) => {
    const { ref, body } = segment(2)
    const wrong = Buffer.from(body)
    wrong[SIZE - 1] = wrong[SIZE - 1]! ^ 0xff
    const liar = (await new Peer().listen(t)).serve(ref, wrong)
    const honest = (await new Peer().listen(t)).serve(ref, body)
    const { get, index, readThrough } = await setup(t, () => [liar.url, honest.url])

    const cut = await get(ref)
    assert.equal(cut.statusCode, 200, 'the response starts as the bytes arrive')
    await assert.rejects(bytesOf(cut), 'the body is cut before its last byte: the client never gets wrong bytes whole')
    // The same fetch goes on to the honest peer; the next request is served from that copy.
    const next = await get(ref)
    assert.equal(next.statusCode, 200)
    assert.ok((await bytesOf(next)).equals(body))
    assert.ok(index.getSegment(ref) != null)
    assert.equal(readThrough.stats.mismatches, 1)
    assert.deepEqual([liar.requests.length, honest.requests.length], [1, 1])
  })

  it('answers a HEAD on its own from a peer that holds the name, asking it with HEAD and storing nothing', async (t) => {
    const { ref, body } = segment(5)
    const empty = await new Peer().listen(t)
    const holder = (await new Peer().listen(t)).serve(ref, body)
    const { get, index } = await setup(t, () => [empty.url, holder.url])
    const head = await get(ref, {}, 'HEAD')
    assert.equal(head.statusCode, 200)
    assert.equal(head.headers['content-length'], String(SIZE))
    assert.equal(head.headers[READ_THROUGH_HEADER], 'peer')
    assert.equal(head.headers.etag, `"${ref.hash!.toString('base64url')}"`)
    await head.body.dump()
    assert.deepEqual([empty.methods, holder.methods], [['HEAD'], ['HEAD']])
    assert.equal(index.getSegment(ref), null, 'a HEAD fetches nothing')
    const missing = await get(segment(6).ref, {}, 'HEAD')
    assert.equal(missing.statusCode, 404)
    await missing.body.dump()
  })

  it('never reads through a tombstoned name, for another node, or with only-if-cached', async (t) => {
    const { ref, body } = segment(3)
    const holder = (await new Peer().listen(t)).serve(ref, body)
    const { get, store } = await setup(t, () => [holder.url])

    const asPeer = await get(ref, { 'x-segmesh-peer': 'http://other.example' })
    assert.equal(asPeer.statusCode, 404, 'a miss must not cascade from node to node')
    await asPeer.body.dump()
    const local = await get(ref, { 'cache-control': 'max-age=0, only-if-cached' }, 'HEAD')
    assert.equal(local.statusCode, 404, 'only what this node holds')
    await local.body.dump()
    await store.writeTombstone(ref)
    const res = await get(ref)
    assert.equal(res.statusCode, 404)
    assert.match(((await res.body.json()) as { message: string }).message, /tombstoned/)
    assert.equal(holder.requests.length, 0)
  })

  it('shares one upstream fetch between clients asking at once; a HEAD or Range meanwhile waits for it and is served from disk', async (t) => {
    const { ref, body } = segment(4)
    const holder = (await new Peer().listen(t)).serve(ref, body)
    holder.delayMs = 200
    const { get, readThrough } = await setup(t, () => [holder.url])

    // The first GET starts the fetch; the others come while it runs (or, on a slow box, after it
    // stored the segment: served from disk all the same).
    const first = get(ref)
    await until('the fetch to start', () => holder.requests.length === 1 || readThrough.stats.stored === 1, 5000)
    const [a, b, head, range] = await Promise.all([first, get(ref), get(ref, {}, 'HEAD'), get(ref, { range: 'bytes=10-19' })])
    assert.ok((await bytesOf(a)).equals(body))
    assert.ok((await bytesOf(b)).equals(body))
    assert.equal(head.statusCode, 200)
    assert.equal(head.headers['content-length'], String(SIZE))
    await head.body.dump()
    assert.equal(range.statusCode, 206)
    assert.ok((await bytesOf(range)).equals(body.subarray(10, 20)))
    assert.equal(holder.requests.length, 1)
  })

  it('a flood of made-up names asks each peer once per name, holds at most maxActive fetches, and remembers the misses', async (t) => {
    const empty = await new Peer().listen(t)
    // Misses remembered longer than a loaded box could take for the whole test.
    const { get, readThrough } = await setup(t, () => [empty.url], { maxActive: 4, missMemory: 1000, missMs: 120_000 })
    const names = Array.from({ length: 300 }, (_, i) => segment(100 + i).ref)
    let peak = 0
    const statuses = await Promise.all(
      names.map(async (ref) => {
        const res = await get(ref)
        peak = Math.max(peak, readThrough.active)
        await res.body.dump()
        return res.statusCode
      })
    )
    assert.ok(statuses.every((s) => s === 404 || s === 503))
    assert.ok(readThrough.active === 0)
    assert.ok(peak <= 4, `peak ${peak}`)
    const asked = empty.requests.length
    assert.ok(asked <= 300, `${asked} upstream requests`)
    // Asked again: the names that missed are remembered, so no new upstream request for them.
    for (const ref of names.slice(0, 50)) await (await get(ref)).body.dump()
    const missed = statuses.slice(0, 50).filter((s) => s === 404).length
    assert.equal(empty.requests.length - asked, 50 - missed)
  })
})
