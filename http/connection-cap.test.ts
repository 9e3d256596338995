/**
 * The connection cap over real sockets: a flood of sockets that never send a request stays under
 * the cap and a viewer still gets in; with every connection answering, a new one is closed at once
 * and the answers finish; peers' connections past the keep-alive bound are closed after their
 * answer (a real segment route), viewers' never.
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import { Socket, connect } from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { Client, request } from 'undici'
import { silentLogger } from '../lib/logger.ts'
import { PEER_HEADER } from '../replication/fetch-http.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import { segmentRelPath } from '../storage/segment-name.ts'
import { until } from '../test/helpers/network.ts'
import { T0, namedBytes, openStore } from '../test/helpers/tree.ts'
import { buildHttpApp } from './app.ts'
import { ConnectionCap } from './connection-cap.ts'
import { HttpListener } from './listener.ts'
import { UploadSlots } from './upload-slots.ts'

async function listen(t: TestContext, build: () => Promise<FastifyInstance>, cap: ConnectionCap): Promise<string> {
  const listener = new HttpListener({ build, listen: { host: '127.0.0.1', port: 0 }, drainMs: () => 0, cap, log: silentLogger })
  await listener.start()
  t.after(async () => await listener.stop())
  return listener.url
}

/** A raw TCP connection that sends nothing; resolves once connected, with a promise of its close. */
async function silentSocket(url: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return { socket, closed }
}

/** An app whose /hold answers when `release` is called. */
function holdingApp(): { build: () => Promise<FastifyInstance>; release: () => void; held: () => number } {
  let release!: () => void
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let held = 0
  const build = async (): Promise<FastifyInstance> => {
    const app = Fastify()
    app.get('/hold', async () => {
      held++
      await gate
      return { ok: true }
    })
    app.get('/now', async () => ({ ok: true }))
    return app
  }
  return { build, release, held: () => held }
}

describe('connection cap', () => {
  it('a flood of silent sockets stays under the cap, idlest first out; a viewer still gets in', async (t) => {
    const cap = new ConnectionCap({ maxConnections: 8 })
    const { build } = holdingApp()
    const url = await listen(t, build, cap)
    const flood: Array<{ socket: Socket; closed: Promise<void> }> = []
    t.after(() => {
      for (const s of flood) s.socket.destroy()
    })
    for (let i = 0; i < 40; i++) flood.push(await silentSocket(url))
    await until('32 evicted', () => cap.stats.evicted >= 32)
    assert.equal(cap.stats.evicted, 32)
    // The first 32 opened are the ones closed; the last 8 are held.
    await Promise.all(flood.slice(0, 32).map(async (s) => await s.closed))
    assert.ok(flood.slice(32).every((s) => !s.socket.destroyed))
    assert.ok(cap.connections <= 8, `${cap.connections} connections held`)
    // A burst, accepted in one go: the cap holds too, and every eviction counted closed a socket.
    const burst = await Promise.all(Array.from({ length: 64 }, async () => await silentSocket(url)))
    flood.push(...burst)
    await until('the burst evicted', () => cap.stats.evicted >= 32 + 64)
    assert.equal(cap.stats.evicted, 32 + 64)
    assert.ok(cap.connections <= 8, `${cap.connections} connections held after a burst`)
    await until('as many closed as evicted', () => flood.filter((s) => s.socket.destroyed || s.socket.closed).length === 96)
    const res = await request(`${url}/now`)
    assert.equal(res.statusCode, 200)
    assert.deepEqual(await res.body.json(), { ok: true })
    assert.equal(cap.stats.refused, 0)
    assert.ok(cap.connections <= 8)
  })

  it('connections accepted in one go hold the cap: each eviction is of a socket still counted', () => {
    // Sockets accepted in the same loop phase see none of the 'close' events of those evicted
    // before them; real sockets cannot time that, so the connections are emitted here in one go.
    const cap = new ConnectionCap({ maxConnections: 4 })
    const server = new EventEmitter()
    cap.attach(server as unknown as Server)
    const sockets = Array.from({ length: 20 }, () => new Socket())
    for (const socket of sockets) server.emit('connection', socket)
    assert.equal(cap.connections, 4)
    assert.equal(cap.stats.evicted, 16)
    assert.equal(sockets.filter((s) => s.destroyed).length, 16)
    assert.deepEqual(
      sockets.map((s) => s.destroyed),
      sockets.map((_, i) => i < 16)
    )
  })

  it('with every connection answering, a new one is closed at once; the answers finish', async (t) => {
    const cap = new ConnectionCap({ maxConnections: 4 })
    const { build, release, held } = holdingApp()
    const url = await listen(t, build, cap)
    const clients = Array.from({ length: 4 }, () => new Client(url))
    t.after(async () => await Promise.all(clients.map(async (c) => await c.destroy())))
    const answers = clients.map(async (c) => await c.request({ path: '/hold', method: 'GET' }))
    await until('four held', () => held() === 4)
    const late = await silentSocket(url)
    await late.closed
    assert.equal(cap.stats.refused, 1)
    release()
    for (const res of await Promise.all(answers)) {
      assert.equal(res.statusCode, 200)
      assert.deepEqual(await res.body.json(), { ok: true })
    }
    assert.equal(cap.stats.evicted, 0)
  })

  it("closes peers' connections past the keep-alive bound after their answer; viewers' stay open", async (t) => {
    const { index, store } = await openStore(t)
    const { ref, body } = namedBytes('cap', 4096, { start: T0 })
    await store.writeSegment(ref, body)
    const big = namedBytes('cap-big', 16 * 1024 * 1024, { start: T0 + 2_000_000 })
    await store.writeSegment(big.ref, big.body)
    const bigPath = `/segments/${segmentRelPath(big.ref)}`
    const cap = new ConnectionCap({ peerKeepAlive: 2 })
    const build = async () =>
      await buildHttpApp({ index, store, selector: new SegmentSelector(index), uploads: new UploadSlots({ slots: 8 }) }, { metrics: false })
    const url = await listen(t, build, cap)
    const path = `/segments/${segmentRelPath(ref)}`
    const clients = Array.from({ length: 6 }, () => new Client(url))
    t.after(async () => await Promise.all(clients.map(async (c) => await c.destroy())))
    const connectionHeaders: Array<string | undefined> = []
    // Four peers, one after another, each on its own connection that it keeps; then two viewers.
    for (const [i, client] of clients.entries()) {
      const headers = i < 4 ? { [PEER_HEADER]: `http://127.0.0.1:${9000 + i}` } : {}
      const res = await client.request({ path, method: 'GET', headers })
      assert.equal(res.statusCode, 200)
      assert.deepEqual(Buffer.from(await res.body.arrayBuffer()), body)
      connectionHeaders.push(res.headers.connection as string | undefined)
    }
    assert.deepEqual(connectionHeaders, ['keep-alive', 'keep-alive', 'close', 'close', 'keep-alive', 'keep-alive'])
    assert.equal(cap.stats.peerClosed, 2)
    await until('the two closed', () => cap.peerConnections === 2 && cap.connections === 4)
    // A kept peer connection is reused, and stays, even while another peer's connection is open.
    const other = new Client(url)
    t.after(async () => await other.destroy())
    // Its body (larger than the sockets' buffers) is left unread: the answer stays in progress.
    const third = await other.request({ path: bigPath, method: 'GET', headers: { [PEER_HEADER]: 'http://127.0.0.1:9100' } })
    assert.equal(third.headers.connection, 'close')
    assert.equal(cap.peerConnections, 3)
    const again = await clients[0]!.request({ path, method: 'GET', headers: { [PEER_HEADER]: 'http://127.0.0.1:9000' } })
    await again.body.dump()
    assert.equal(again.headers.connection, 'keep-alive')
    third.body.destroy()
  })
})
