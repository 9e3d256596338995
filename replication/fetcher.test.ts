/**
 * The backfill client against real HTTP peers on 127.0.0.1:0 (node:http servers that serve chosen
 * bytes, wrong bytes, errors, hang, trickle or cut the body) and a real LMDB index and store.
 * Waits are bounded condition polls or events, never fixed sleeps.
 */
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TestContext, describe, it } from 'node:test'
import { silentLogger } from '../lib/logger.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { type SegmentRef, segmentRelPath, tombstoneFileName } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { refuseOrigins } from '../simulations/probe.ts'
import { bytesFor, ref as refOf } from '../test/helpers/tree.ts'
import { REFERRAL_DEPTH } from './fetch-http.ts'
import { type FetcherInit, MAX_ITEM_CANDIDATES } from './fetch-options.ts'
import { Fetcher } from './fetcher.ts'

type Behaviour =
  | { kind: 'bytes'; body: Uint8Array; delayMs?: number; chunked?: boolean }
  | { kind: 'status'; status: number }
  | { kind: 'hang' }
  | { kind: 'trickle'; body: Uint8Array; chunk: number; everyMs: number }
  | { kind: 'close-mid'; body: Uint8Array; after: number }
  | { kind: 'json'; value: unknown }
  /** 503 as a segmesh node with its upload slots full answers. */
  | { kind: 'busy'; holders: string[]; retryMs: number }

/** Requests in flight, now and at most, over one server or several. */
class Gauge {
  now = 0
  max = 0
  enter(): void {
    this.now++
    this.max = Math.max(this.max, this.now)
  }

  leave(): void {
    this.now--
  }
}

class PeerServer {
  readonly requests: string[] = []
  /** The x-segmesh-peer header of each request (undefined when absent). */
  readonly peerHeaders: Array<string | undefined> = []
  /** The x-segmesh-referrals header of each request. */
  readonly referralHeaders: Array<string | undefined> = []
  readonly events = new EventEmitter()
  readonly gauge = new Gauge()
  readonly #routes = new Map<string, Behaviour>()
  readonly #server: Server
  readonly #shared: Gauge | undefined
  url = ''

  constructor(shared?: Gauge) {
    this.#shared = shared
    this.#server = createServer((req, res) => this.#handle(req, res))
  }

  async listen(): Promise<this> {
    this.#server.listen(0, '127.0.0.1')
    await once(this.#server, 'listening')
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  serve(ref: SegmentRef, behaviour: Behaviour): this {
    this.#routes.set(`/segments/${segmentRelPath(ref)}`, behaviour)
    return this
  }

  route(path: string, behaviour: Behaviour): this {
    this.#routes.set(path, behaviour)
    return this
  }

  /** Requests seen for a segment. */
  seen(ref: SegmentRef): number {
    return this.requests.filter((p) => p === `/segments/${segmentRelPath(ref)}`).length
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise((resolve) => this.#server.close(resolve))
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    this.requests.push(path)
    this.peerHeaders.push(req.headers['x-segmesh-peer'] as string | undefined)
    this.referralHeaders.push(req.headers['x-segmesh-referrals'] as string | undefined)
    this.gauge.enter()
    this.#shared?.enter()
    res.on('close', () => {
      this.gauge.leave()
      this.#shared?.leave()
    })
    res.on('error', () => {})
    this.events.emit('request', path)
    const b = this.#routes.get(path) ?? { kind: 'status', status: 404 }
    switch (b.kind) {
      case 'status':
        res.writeHead(b.status, { 'content-type': 'text/plain' }).end(`status ${b.status}`)
        return
      case 'json':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(b.value))
        return
      case 'busy':
        res
          .writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' })
          .end(JSON.stringify({ error: 'busy', message: 'slots full', holders: b.holders, retryMs: b.retryMs }))
        return
      case 'hang':
        return
      case 'bytes': {
        const send = (): void => {
          if (b.chunked === true) res.writeHead(200).end(b.body)
          else res.writeHead(200, { 'content-length': b.body.byteLength }).end(b.body)
        }
        if (b.delayMs == null) send()
        else setTimeout(send, b.delayMs)
        return
      }
      case 'trickle': {
        res.writeHead(200, { 'content-length': b.body.byteLength })
        let sent = 0
        const timer = setInterval(() => {
          res.write(b.body.subarray(sent, sent + b.chunk))
          sent += b.chunk
          if (sent >= b.body.byteLength) {
            clearInterval(timer)
            res.end()
          }
        }, b.everyMs)
        res.on('close', () => clearInterval(timer))
        return
      }
      case 'close-mid':
        res.writeHead(200, { 'content-length': b.body.byteLength })
        res.write(b.body.subarray(0, b.after), () => res.socket?.destroy())
    }
  }
}

interface Harness {
  fetcher: Fetcher
  index: SegmentIndex
  store: SegmentStore
  peer: (shared?: Gauge) => Promise<PeerServer>
  /** A URL where nothing listens (connection refused). */
  deadUrl: () => Promise<string>
}

/** Store, index and fetcher in a temp folder; torn down in order: fetcher, peers, index, folder. */
async function setup(t: TestContext, init: Omit<FetcherInit, 'store'> = {}): Promise<Harness> {
  const cleanups: Array<() => Promise<unknown>> = []
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })
  const dir = await mkdtemp(join(tmpdir(), 'segmesh-fetcher-'))
  cleanups.push(async () => await rm(dir, { recursive: true, force: true }))
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 64 * 1024 ** 2 })
  cleanups.push(async () => await index.stop())
  const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
  const peers: PeerServer[] = []
  cleanups.push(async () => await Promise.all(peers.map(async (p) => await p.close())))
  const fetcher = new Fetcher({ store, readTimeoutMs: 2000, transferTimeoutMs: 5000, retryBaseMs: 50, ...init })
  cleanups.push(async () => await fetcher.stop())
  fetcher.start()
  const peer = async (shared?: Gauge): Promise<PeerServer> => {
    const p = await new PeerServer(shared).listen()
    peers.push(p)
    return p
  }
  const deadUrl = async (): Promise<string> => {
    const p = await new PeerServer().listen()
    await p.close()
    return p.url
  }
  return { fetcher, index, store, peer, deadUrl }
}

/** A segment whose name matches `body` (seeded by `n`). */
function segment(n: number, size = 4096): { ref: SegmentRef; body: Buffer } {
  const body = bytesFor(`segment-${n}`, size)
  return { ref: refOf({ at: n * 2000, dur: 2000, hash: sha256(body) }), body }
}

async function tempFiles(store: SegmentStore, ref: SegmentRef): Promise<string[]> {
  const names = await readdir(store.hourDir(ref)).catch(() => [])
  return names.filter((n) => n.includes('-temp-'))
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const start = Date.now()
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('Fetcher downloads', () => {
  it('stores a correct segment under its name and indexes it', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(1)
    const a = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const outcome = await h.fetcher.want(ref, [`${a.url}/`])
    assert.deepEqual(outcome, { status: 'stored', peer: a.url, bytes: body.byteLength })
    assert.equal(h.index.getSegment(ref)?.size, body.byteLength)
    assert.deepEqual(await readdir(h.store.hourDir(ref)), [ref.file])
    const stats = h.fetcher.stats()
    assert.equal(stats.segmentsFetched, 1)
    assert.equal(stats.bytesFetched, body.byteLength)
    assert.equal(stats.peers[a.url]?.segmentsFetched, 1)
    assert.equal(stats.queued, 0)
    assert.equal(stats.active, 0)
  })

  it('takes correct bytes from B after wrong bytes from A, and does not ask A again', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(2)
    const a = (await h.peer()).serve(ref, { kind: 'bytes', body: bytesFor('not it', body.byteLength) })
    const b = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const outcome = await h.fetcher.want(ref, [a.url, b.url])
    assert.deepEqual(outcome, { status: 'stored', peer: b.url, bytes: body.byteLength })
    assert.equal(a.seen(ref), 1)
    assert.equal(b.seen(ref), 1)
    const stats = h.fetcher.stats()
    assert.equal(stats.hashMismatches, 1)
    assert.equal(stats.peers[a.url]?.hashMismatches, 1)
    assert.equal(stats.peers[b.url]?.hashMismatches, 0)
    assert.deepEqual(await readdir(h.store.hourDir(ref)), [ref.file], 'only the final name, no temp file')
    assert.deepEqual(
      h.index.hourSegments(ref.channel, ref.quality, ref.start - ref.offset).map((s) => s.file),
      [ref.file]
    )
  })

  it('fails an item when its only peer sends wrong bytes, leaving nothing behind', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(3)
    const a = (await h.peer()).serve(ref, { kind: 'bytes', body: bytesFor('wrong', body.byteLength) })
    const outcome = await h.fetcher.want(ref, [a.url])
    assert.equal(outcome.status, 'failed')
    assert.match((outcome as { lastError: string }).lastError, /SEGMESH_ERR_HASH_MISMATCH/)
    assert.equal(h.index.getSegment(ref, { hidden: true }), null)
    assert.deepEqual(await tempFiles(h.store, ref), [])
  })

  it('moves on from 404 and 500, and backs off the failing peer', async (t) => {
    const h = await setup(t, { retryBaseMs: 10_000 })
    const { ref, body } = segment(4)
    const missing = await h.peer()
    const broken = (await h.peer()).serve(ref, { kind: 'status', status: 500 })
    const good = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const outcome = await h.fetcher.want(ref, [missing.url, broken.url, good.url])
    assert.deepEqual(outcome, { status: 'stored', peer: good.url, bytes: body.byteLength })
    const stats = h.fetcher.stats()
    assert.equal(stats.notFound, 1)
    assert.equal(stats.fetchErrors.http_4xx, 1)
    assert.equal(stats.fetchErrors.http_5xx, 1)
    assert.ok((stats.peers[broken.url]?.backoffUntil ?? 0) > Date.now(), 'the 500 peer is backing off')
    assert.equal(stats.peers[missing.url]?.backoffUntil, 0, 'a 404 is an answer, not a failure')
  })

  it('gives up after maxAttempts on a peer that keeps failing', async (t) => {
    const h = await setup(t, { retryBaseMs: 5, maxAttempts: 3 })
    const { ref } = segment(5)
    const a = (await h.peer()).serve(ref, { kind: 'status', status: 503 })
    const outcome = await h.fetcher.want(ref, [a.url])
    assert.equal(outcome.status, 'failed')
    assert.equal((outcome as { attempts: number }).attempts, 3)
    assert.equal(a.seen(ref), 3)
    assert.equal(h.fetcher.stats().itemsFailed, 1)
  })

  it('asks the holders a busy peer names (its upload slots are full), says who it is, and does not back the busy peer off', async (t) => {
    const h = await setup(t, { ownUrl: 'http://me.example:9' })
    const { ref, body } = segment(30)
    const holder = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const busy = (await h.peer()).serve(ref, { kind: 'busy', holders: [holder.url, 'not a url', 'ftp://x'], retryMs: 100 })
    const outcome = await h.fetcher.want(ref, [busy.url])
    assert.deepEqual(outcome, { status: 'stored', peer: holder.url, bytes: body.byteLength })
    assert.equal(busy.seen(ref), 1)
    assert.deepEqual([...busy.peerHeaders, ...holder.peerHeaders], ['http://me.example:9', 'http://me.example:9'])
    const stats = h.fetcher.stats()
    assert.equal(stats.busy, 1)
    assert.equal(stats.fetchErrors.http_5xx, 0, 'busy is not an error')
    assert.equal(stats.peers[busy.url]!.backoffUntil, 0, 'the busy peer is fine, only full')
    assert.equal(stats.itemsFailed, 0)
  })

  it('gives up on a peer that stays busy and names nobody new after its first answer and maxAttempts more', async (t) => {
    const h = await setup(t, { maxAttempts: 3 })
    const { ref } = segment(31)
    const busy = (await h.peer()).serve(ref, { kind: 'busy', holders: [], retryMs: 60 })
    const outcome = await h.fetcher.want(ref, [busy.url])
    assert.equal(outcome.status, 'failed')
    assert.equal(busy.seen(ref), 4)
    assert.deepEqual(busy.peerHeaders, [undefined, undefined, undefined, undefined], 'no ownUrl, no peer header')
  })

  it("a referral back to a peer already asked is free: each peer's first busy answer costs no attempt", async (t) => {
    const h = await setup(t, { maxAttempts: 1 })
    const { ref, body } = segment(32)
    const [p1, p2] = [await h.peer(), await h.peer()]
    // p1 refers the asker to p2, p2 back to p1 (who has served it since: the second ask gets it).
    p1.serve(ref, { kind: 'busy', holders: [p2.url], retryMs: 50 })
    p2.serve(ref, { kind: 'busy', holders: [p1.url], retryMs: 50 })
    let asked = 0
    p1.events.on('request', () => {
      if (++asked === 2) p1.serve(ref, { kind: 'bytes', body })
    })
    const outcome = await h.fetcher.want(ref, [p1.url])
    assert.equal(outcome.status, 'stored')
    assert.deepEqual([p1.seen(ref), p2.seen(ref)], [2, 1])
    // p1 is asked again as one that referred the asker: with the full depth, so it serves.
    assert.deepEqual([p1.referralHeaders, p2.referralHeaders], [['0', String(REFERRAL_DEPTH)], ['1']])
  })

  it('takes at most MAX_ITEM_CANDIDATES peers for one segment, however far busy answers refer it', async (t) => {
    const h = await setup(t)
    const { ref } = segment(33)
    // A chain of peers, each busy and naming the next few: more than the bound in all.
    const chain = await Promise.all(Array.from({ length: MAX_ITEM_CANDIDATES + 8 }, async () => await h.peer()))
    for (const [i, p] of chain.entries()) p.serve(ref, { kind: 'busy', holders: chain.slice(i + 1, i + 5).map((q) => q.url), retryMs: 20 })
    const outcome = await h.fetcher.want(ref, [chain[0]!.url])
    assert.equal(outcome.status, 'failed')
    const asked = chain.filter((p) => p.seen(ref) > 0).length
    assert.equal(asked, MAX_ITEM_CANDIDATES)
    // Each is told how many referrals led to it (the first asked, none).
    assert.deepEqual(
      [chain[0]!, chain[1]!, chain[5]!].map((p) => p.referralHeaders[0]),
      ['0', '1', '2']
    )
  })

  it('keeps state for at most maxPeersTracked peer URLs, forgetting idle ones', async (t) => {
    const h = await setup(t, { maxPeersTracked: 4 })
    const server = await h.peer()
    // Twelve peers (one server under twelve base paths), each asked for its own segment: 404s.
    for (let i = 0; i < 12; i++) {
      const outcome = await h.fetcher.want(segment(40 + i).ref, [`${server.url}/peer-${i}`])
      assert.equal(outcome.status, 'failed')
    }
    const tracked = Object.keys(h.fetcher.stats().peers)
    assert.ok(tracked.length <= 4, `${tracked.length} tracked`)
    assert.ok(tracked.includes(`${server.url}/peer-11`), 'the newest is kept')
  })

  it('fails at once when no candidate can be used', async (t) => {
    const h = await setup(t)
    const { ref } = segment(6)
    assert.deepEqual(await h.fetcher.want(ref, []), { status: 'failed', attempts: 0, lastError: 'no candidate peer' })
    assert.deepEqual(await h.fetcher.want(ref, ['ftp://x', 'not a url']), { status: 'failed', attempts: 0, lastError: 'no candidate peer' })
    const a = await h.peer()
    const outcome = await h.fetcher.want(ref, [a.url])
    assert.equal(outcome.status, 'failed')
    assert.equal((outcome as { attempts: number }).attempts, 1, 'a lone 404 is not retried')
  })

  it('remembers a peer that sent wrong bytes for a name, reports it once, and does not offer it again for badHashForgetMs', async (t) => {
    const reports: Array<[string, string]> = []
    const h = await setup(t, { onHashMismatch: (peer, ref) => reports.push([peer, ref.file]) })
    const { ref, body } = segment(8)
    const liar = (await h.peer()).serve(ref, { kind: 'bytes', body: bytesFor('lies', body.byteLength) })
    assert.equal((await h.fetcher.want(ref, [liar.url])).status, 'failed')
    assert.deepEqual(reports, [[liar.url, ref.file]])
    assert.deepEqual(await h.fetcher.want(ref, [liar.url]), { status: 'failed', attempts: 0, lastError: 'no candidate peer' })
    const honest = (await h.peer()).serve(ref, { kind: 'bytes', body })
    assert.deepEqual(await h.fetcher.want(ref, [liar.url, honest.url]), { status: 'stored', peer: honest.url, bytes: body.byteLength })
    assert.equal(liar.seen(ref), 1, 'the liar was asked once in all')
    assert.equal(h.fetcher.stats().skippedBadHash, 2)
    assert.equal(reports.length, 1)
  })

  it('asks a peer that once sent wrong bytes again once badHashForgetMs has passed: it may hold the only copy', async (t) => {
    const h = await setup(t, { badHashForgetMs: 300 })
    const { ref, body } = segment(13)
    const peer = (await h.peer()).serve(ref, { kind: 'bytes', body: bytesFor('damaged on the way', body.byteLength) })
    assert.equal((await h.fetcher.want(ref, [peer.url])).status, 'failed')
    assert.deepEqual(await h.fetcher.want(ref, [peer.url]), { status: 'failed', attempts: 0, lastError: 'no candidate peer' })
    // The peer now sends the right bytes (its proxy was mended); the name is the proof.
    peer.serve(ref, { kind: 'bytes', body })
    await new Promise((resolve) => setTimeout(resolve, 350))
    assert.deepEqual(await h.fetcher.want(ref, [peer.url]), { status: 'stored', peer: peer.url, bytes: body.byteLength })
    assert.equal(peer.seen(ref), 2)
  })

  it('does not let peers that lack a name use up its attempts', async (t) => {
    const h = await setup(t, { maxAttempts: 2 })
    const { ref, body } = segment(9)
    const missing = await Promise.all([h.peer(), h.peer(), h.peer()])
    const good = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const outcome = await h.fetcher.want(ref, [...missing.map((p) => p.url), good.url])
    assert.deepEqual(outcome, { status: 'stored', peer: good.url, bytes: body.byteLength })
    assert.equal(h.fetcher.stats().notFound, 3)
  })

  it('spreads downloads over the peers that have them, though the first has free slots', async (t) => {
    const h = await setup(t, { concurrency: 2, perPeerConcurrency: 3 })
    const a = await h.peer()
    const b = await h.peer()
    const segments = Array.from({ length: 8 }, (_, i) => segment(90 + i))
    for (const s of segments) {
      a.serve(s.ref, { kind: 'bytes', body: s.body, delayMs: 20 })
      b.serve(s.ref, { kind: 'bytes', body: s.body, delayMs: 20 })
    }
    const outcomes = await Promise.all(segments.map(async (s) => await h.fetcher.want(s.ref, [a.url, b.url])))
    assert.ok(outcomes.every((o) => o.status === 'stored'))
    assert.equal(a.requests.length + b.requests.length, 8)
    assert.ok(a.requests.length >= 2 && b.requests.length >= 2, `a ${a.requests.length}, b ${b.requests.length}`)
  })

  it('shares one download between wants of the same name, adding their peers', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(7)
    const a = await h.peer()
    const b = (await h.peer()).serve(ref, { kind: 'bytes', body, delayMs: 50 })
    const first = h.fetcher.want(ref, [a.url])
    const second = h.fetcher.want(ref, [b.url, a.url])
    const third = h.fetcher.want(ref, [b.url])
    const expected = { status: 'stored', peer: b.url, bytes: body.byteLength }
    assert.deepEqual(await Promise.all([first, second, third]), [expected, expected, expected])
    assert.equal(a.seen(ref), 1)
    assert.equal(b.seen(ref), 1)
  })
})

describe('Fetcher skips', () => {
  it('never requests a tombstoned name', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(10)
    const a = (await h.peer()).serve(ref, { kind: 'bytes', body })
    await h.store.writeTombstone(ref)
    assert.deepEqual(await h.fetcher.want(ref, [a.url]), { status: 'tombstoned' })
    assert.deepEqual(a.requests, [])
    assert.equal(h.fetcher.stats().skippedTombstoned, 1)
  })

  it('rechecks tombstones before the attempt, not only when queued', async (t) => {
    const h = await setup(t)
    await h.fetcher.stop()
    const fetcher = new Fetcher({ store: h.store })
    t.after(async () => await fetcher.stop())
    const { ref, body } = segment(11)
    const a = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const outcome = fetcher.want(ref, [a.url])
    assert.equal(fetcher.stats().queued, 1, 'waits for start()')
    await h.store.writeTombstone(ref)
    fetcher.start()
    assert.deepEqual(await outcome, { status: 'tombstoned' })
    assert.deepEqual(a.requests, [])
    assert.ok(await readdir(h.store.hourDir(ref)).then((n) => n.includes(tombstoneFileName(ref.file))))
  })

  it('never requests a name the index already has', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(12)
    const a = (await h.peer()).serve(ref, { kind: 'bytes', body })
    await h.store.writeSegment(ref, body)
    assert.deepEqual(await h.fetcher.want(ref, [a.url]), { status: 'present' })
    assert.deepEqual(a.requests, [])
    assert.equal(h.fetcher.stats().skippedPresent, 1)
  })
})

describe('Fetcher limits and timeouts', () => {
  it('times out a peer that hangs before headers and moves on', async (t) => {
    const h = await setup(t, { readTimeoutMs: 300 })
    const { ref, body } = segment(20)
    const slow = (await h.peer()).serve(ref, { kind: 'hang' })
    const good = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const outcome = await h.fetcher.want(ref, [slow.url, good.url])
    assert.deepEqual(outcome, { status: 'stored', peer: good.url, bytes: body.byteLength })
    assert.equal(h.fetcher.stats().fetchErrors.timeout, 1)
    assert.equal(h.fetcher.stats().peers[slow.url]?.fetchErrors.timeout, 1)
  })

  it('cuts a trickling transfer at the ceiling, though every read is quick', async (t) => {
    const lines: Array<{ error?: string }> = []
    const log = {
      ...silentLogger,
      debug: (obj: object) => {
        lines.push(obj)
      }
    }
    const h = await setup(t, { readTimeoutMs: 1000, transferTimeoutMs: 600, log })
    const { ref, body } = segment(21)
    const slow = (await h.peer()).serve(ref, { kind: 'trickle', body, chunk: 64, everyMs: 50 })
    const good = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const started = Date.now()
    const outcome = await h.fetcher.want(ref, [slow.url, good.url])
    assert.deepEqual(outcome, { status: 'stored', peer: good.url, bytes: body.byteLength })
    assert.ok(Date.now() - started < 3000)
    assert.equal(h.fetcher.stats().fetchErrors.timeout, 1)
    assert.match(lines.find((l) => l.error != null)?.error ?? '', /SEGMESH_ERR_TRANSFER_TIMEOUT/, 'the ceiling fired, not a read timeout')
    assert.deepEqual(await tempFiles(h.store, ref), [])
  })

  it('survives a peer that closes the connection mid-body', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(22)
    const cut = (await h.peer()).serve(ref, { kind: 'close-mid', body, after: 1000 })
    const good = (await h.peer()).serve(ref, { kind: 'bytes', body })
    const outcome = await h.fetcher.want(ref, [cut.url, good.url])
    assert.deepEqual(outcome, { status: 'stored', peer: good.url, bytes: body.byteLength })
    assert.equal(h.fetcher.stats().fetchErrors.other, 1)
    assert.deepEqual(await tempFiles(h.store, ref), [])
  })

  it('aborts an oversized Content-Length and an oversized chunked body', async (t) => {
    const h = await setup(t, { maxSegmentBytes: 1000 })
    const declared = segment(23, 2000)
    const chunked = segment(24, 2000)
    const a = (await h.peer())
      .serve(declared.ref, { kind: 'bytes', body: declared.body })
      .serve(chunked.ref, { kind: 'bytes', body: chunked.body, chunked: true })
    const [one, two] = await Promise.all([h.fetcher.want(declared.ref, [a.url]), h.fetcher.want(chunked.ref, [a.url])])
    assert.equal(one.status, 'failed')
    assert.equal(two.status, 'failed')
    assert.match((one as { lastError: string }).lastError, /SEGMESH_ERR_RESPONSE_TOO_LARGE/)
    assert.equal(h.fetcher.stats().fetchErrors.too_large, 2)
    assert.equal(h.index.getSegment(chunked.ref, { hidden: true }), null)
    assert.deepEqual(await tempFiles(h.store, chunked.ref), [])
  })

  it('does not let a dead peer delay items a healthy peer serves', async (t) => {
    // A long backoff: any item that waited on the dead peer's backoff would blow the time limit.
    const h = await setup(t, { retryBaseMs: 30_000 })
    const dead = await h.deadUrl()
    const good = await h.peer()
    const segments = Array.from({ length: 12 }, (_, i) => segment(30 + i))
    for (const s of segments) good.serve(s.ref, { kind: 'bytes', body: s.body })
    const started = Date.now()
    const outcomes = await Promise.all(
      segments.map(async (s, i) => await h.fetcher.want(s.ref, i % 2 === 0 ? [dead, good.url] : [good.url]))
    )
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
    assert.ok(outcomes.every((o) => o.status === 'stored' && o.peer === good.url))
    const stats = h.fetcher.stats()
    assert.ok(stats.fetchErrors.connect >= 1)
    assert.ok((stats.peers[dead]?.backoffUntil ?? 0) > Date.now())
  })

  it('keeps a hanging peer to its own slots while a healthy peer serves the rest', async (t) => {
    const h = await setup(t, { concurrency: 4, perPeerConcurrency: 2, readTimeoutMs: 20_000, transferTimeoutMs: 30_000 })
    const stuck = await h.peer()
    const good = await h.peer()
    const stuckItems = Array.from({ length: 4 }, (_, i) => segment(50 + i))
    const goodItems = Array.from({ length: 8 }, (_, i) => segment(60 + i))
    for (const s of stuckItems) stuck.serve(s.ref, { kind: 'hang' })
    for (const s of goodItems) good.serve(s.ref, { kind: 'bytes', body: s.body, delayMs: 20 })
    // The stuck peer's items are queued first, so they get the first slots.
    const stuckOutcomes = stuckItems.map(async (s) => await h.fetcher.want(s.ref, [stuck.url]))
    const goodOutcomes = await Promise.all(goodItems.map(async (s) => await h.fetcher.want(s.ref, [good.url])))
    assert.ok(goodOutcomes.every((o) => o.status === 'stored'))
    assert.equal(stuck.gauge.now, 2, 'two requests still hanging')
    assert.equal(stuck.gauge.max, 2)
    assert.equal(good.gauge.max, 2)
    await h.fetcher.stop()
    for (const o of await Promise.all(stuckOutcomes)) assert.equal((o as { lastError: string }).lastError, 'stopped')
  })

  it('respects total and per-peer concurrency', async (t) => {
    const h = await setup(t, { concurrency: 3, perPeerConcurrency: 2 })
    const all = new Gauge()
    const a = await h.peer(all)
    const b = await h.peer(all)
    const segments = Array.from({ length: 16 }, (_, i) => segment(70 + i))
    for (const s of segments) {
      a.serve(s.ref, { kind: 'bytes', body: s.body, delayMs: 30 })
      b.serve(s.ref, { kind: 'bytes', body: s.body, delayMs: 30 })
    }
    const outcomes = await Promise.all(segments.map(async (s) => await h.fetcher.want(s.ref, [a.url, b.url])))
    assert.ok(outcomes.every((o) => o.status === 'stored'))
    assert.equal(all.max, 3)
    assert.ok(a.gauge.max <= 2 && b.gauge.max <= 2, `per peer: ${a.gauge.max}, ${b.gauge.max}`)
    assert.equal(a.requests.length + b.requests.length, 16)
  })
})

describe('Fetcher queue', () => {
  it('works through a long queue held back by the per-peer limit', async (t) => {
    const h = await setup(t, { concurrency: 8, perPeerConcurrency: 3 })
    const a = await h.peer()
    const segments = Array.from({ length: 250 }, (_, i) => segment(1000 + i, 512))
    for (const s of segments) a.serve(s.ref, { kind: 'bytes', body: s.body, delayMs: 5 })
    const outcomes = await Promise.all(segments.map(async (s) => await h.fetcher.want(s.ref, [a.url])))
    assert.equal(outcomes.filter((o) => o.status === 'stored').length, 250)
    assert.equal(a.gauge.max, 3)
    assert.equal(a.requests.length, 250)
    const stats = h.fetcher.stats()
    assert.equal(stats.segmentsFetched, 250)
    assert.equal(stats.queued + stats.active, 0)
  })
})

describe('Fetcher stop and cancel', () => {
  it('stop() aborts a transfer in flight and leaves no temp file', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(80, 64 * 1024)
    const a = (await h.peer()).serve(ref, { kind: 'trickle', body, chunk: 1024, everyMs: 20 })
    const outcome = h.fetcher.want(ref, [a.url])
    await waitFor('a temp file', async () => (await tempFiles(h.store, ref)).length === 1)
    await h.fetcher.stop()
    assert.deepEqual(await outcome, { status: 'failed', attempts: 1, lastError: 'stopped' })
    assert.deepEqual(await tempFiles(h.store, ref), [])
    assert.equal(h.index.getSegment(ref, { hidden: true }), null)
    assert.equal(h.fetcher.stats().fetchErrors.aborted, 1)
    assert.deepEqual(await h.fetcher.want(ref, [a.url]), { status: 'failed', attempts: 0, lastError: 'stopped' })
  })

  it('a want() cancelled through its signal stops its download', async (t) => {
    const h = await setup(t)
    const { ref, body } = segment(81, 64 * 1024)
    const a = (await h.peer()).serve(ref, { kind: 'trickle', body, chunk: 1024, everyMs: 20 })
    const controller = new AbortController()
    const outcome = h.fetcher.want(ref, [a.url], { signal: controller.signal })
    await waitFor('a temp file', async () => (await tempFiles(h.store, ref)).length === 1)
    controller.abort()
    assert.deepEqual(await outcome, { status: 'failed', attempts: 1, lastError: 'cancelled' })
    await waitFor('the download to stop', () => h.fetcher.stats().active === 0)
    assert.deepEqual(await tempFiles(h.store, ref), [])
  })
})

describe('Fetcher listings', () => {
  const hour = '2020-01-01T00'
  const listing = `/files/c/q/${hour}`

  it('listHour keeps segment and tombstone names, drops and counts bad ones', async (t) => {
    const h = await setup(t)
    const { ref } = segment(90)
    const tomb = tombstoneFileName(segment(91).ref.file)
    const temp = '00:10.000000-2.0-temp-6d8f2e8a-4b57-4a8e-9b7c-3f1e2d4c5b6a.ts'
    const a = (await h.peer()).route(listing, {
      kind: 'json',
      value: [ref.file, ref.file, tomb, temp, '../x', 'garbage.ts', 42, 'x.tombstone']
    })
    const names = await h.fetcher.listHour(a.url, 'c', 'q', hour)
    assert.deepEqual(names, [ref.file, tomb])
    const stats = h.fetcher.stats()
    assert.equal(stats.invalidNames, 4)
    assert.equal(stats.peers[a.url]?.invalidNames, 4)
    assert.equal(stats.listingErrors, 0)
  })

  it('listHour rejects what is not a listing and counts it', async (t) => {
    const h = await setup(t, { maxListingBytes: 200 })
    const a = await h.peer()
    a.route(listing, { kind: 'json', value: { not: 'an array' } })
    await assert.rejects(h.fetcher.listHour(a.url, 'c', 'q', hour), { code: 'SEGMESH_ERR_INVALID_LISTING' })
    a.route(listing, { kind: 'json', value: Array.from({ length: 50 }, () => segment(92).ref.file) })
    await assert.rejects(h.fetcher.listHour(a.url, 'c', 'q', hour), { code: 'SEGMESH_ERR_RESPONSE_TOO_LARGE' })
    a.route(listing, { kind: 'status', status: 500 })
    await assert.rejects(h.fetcher.listHour(a.url, 'c', 'q', hour), { code: 'SEGMESH_ERR_PEER_HTTP', status: 500 })
    a.route(listing, { kind: 'bytes', body: Buffer.from('[not json') })
    await assert.rejects(h.fetcher.listHour(a.url, 'c', 'q', hour), { code: 'SEGMESH_ERR_INVALID_LISTING' })
    assert.equal(h.fetcher.stats().listingErrors, 4)
    await assert.rejects(h.fetcher.listHour(a.url, 'c', '..', hour), { code: 'SEGMESH_ERR_INVALID_PARAMETERS' })
    await assert.rejects(h.fetcher.listHour(a.url, 'c', 'q', '2020-13-01T00'), { code: 'SEGMESH_ERR_INVALID_PARAMETERS' })
    await assert.rejects(h.fetcher.listHour('file:///etc', 'c', 'q', hour), { code: 'SEGMESH_ERR_INVALID_PARAMETERS' })
  })

  it('getJson returns parsed JSON, times out a silent peer, and honours the caller signal', async (t) => {
    const h = await setup(t, { readTimeoutMs: 300 })
    const a = (await h.peer()).route('/replication/digests', { kind: 'json', value: { qualities: [] } }).route('/slow', { kind: 'hang' })
    assert.deepEqual(await h.fetcher.getJson(a.url, '/replication/digests'), { qualities: [] })
    await assert.rejects(h.fetcher.getJson(a.url, '/slow'), { code: 'UND_ERR_HEADERS_TIMEOUT' })
    const controller = new AbortController()
    const call = h.fetcher.getJson(a.url, '/slow', { signal: controller.signal })
    controller.abort(new Error('caller gave up'))
    await assert.rejects(call, { message: 'caller gave up' })
    assert.equal(h.fetcher.stats().listingErrors, 1, 'a cancel is not the peer failing')
  })
})

describe('Fetcher interceptors', () => {
  it('sends every request through them: a refused origin fails at once as a connect error, until let through', async (t) => {
    const refused = new Set<string>()
    const h = await setup(t, { retryBaseMs: 10_000, interceptors: [refuseOrigins(refused)] })
    const { ref, body } = segment(30)
    const a = (await h.peer()).serve(ref, { kind: 'bytes', body }).route('/replication/digests', { kind: 'json', value: { qualities: [] } })
    const b = (await h.peer()).serve(ref, { kind: 'bytes', body })
    refused.add(new URL(a.url).origin)
    await assert.rejects(h.fetcher.getJson(a.url, '/replication/digests'), { code: 'ECONNREFUSED' })
    assert.deepEqual(await h.fetcher.want(ref, [a.url, b.url]), { status: 'stored', peer: b.url, bytes: body.byteLength })
    assert.deepEqual(a.requests, [], 'nothing reached the refused peer')
    const stats = h.fetcher.stats()
    assert.equal(stats.fetchErrors.connect, 1)
    assert.equal(stats.peers[a.url]?.fetchErrors.connect, 1)
    assert.equal(stats.listingErrors, 1)

    refused.clear()
    assert.deepEqual(await h.fetcher.getJson(a.url, '/replication/digests'), { qualities: [] })
    assert.deepEqual(a.requests, ['/replication/digests'])
  })
})

describe('Fetcher options', () => {
  it('rejects bad and unknown options by name', async (t) => {
    const h = await setup(t)
    assert.throws(() => new Fetcher({ store: h.store, concurrency: 0 }), { code: 'SEGMESH_ERR_INVALID_PARAMETERS', message: /concurrency/ })
    assert.throws(() => new Fetcher({ store: h.store, readTimeoutMs: 1.5 }), { message: /readTimeoutMs/ })
    assert.throws(() => new Fetcher({ store: h.store, timeout: 5 } as unknown as FetcherInit), {
      message: /unknown fetcher option 'timeout'/
    })
    assert.throws(() => new Fetcher({ store: h.store, onHashMismatch: 1 } as unknown as FetcherInit), { message: /onHashMismatch/ })
    assert.throws(() => new Fetcher({ store: h.store, interceptors: [1] } as unknown as FetcherInit), { message: /interceptors/ })
  })
})
