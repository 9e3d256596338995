/**
 * One HTTP worker's server in this process, fed connections as the node hands them over: its bounds
 * hold under floods (past the cap a new connection takes the place of the one idle longest; clients
 * that never read hold at most the buffer pool, then are streamed to), peers' connections past its
 * keep-alive share are closed after their answer, and what it relays reaches the node with the
 * client's address, or answers 502 when the node is gone.
 */
import assert from 'node:assert/strict'
import { createServer as createHttpServer } from 'node:http'
import { readdirSync } from 'node:fs'
import { type Socket, connect, createServer } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Client } from 'undici'
import { T0, bytesFor, openStore, tempDir } from '../test/helpers/tree.ts'
import { PEER_HEADER } from '../replication/fetch-http.ts'
import { SegmentWorker, type SegmentWorkerInit } from './segment-worker.ts'

async function workerOnPort(t: import('node:test').TestContext, init: SegmentWorkerInit): Promise<{ worker: SegmentWorker; port: number }> {
  const worker = new SegmentWorker(init)
  const server = createServer({ pauseOnConnect: true }, (socket) => worker.accept(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    server.close()
    await worker.drain(0)
  })
  return { worker, port: (server.address() as { port: number }).port }
}

/** A raw GET on a new connection; the answer's bytes are not read until `read` is called. */
async function rawGet(port: number, path: string): Promise<{ socket: Socket; read: () => Promise<Buffer>; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1')
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)
  socket.pause()
  return {
    socket,
    closed,
    read: async () => {
      const chunks: Buffer[] = []
      socket.on('data', (c: Buffer) => chunks.push(c))
      socket.resume()
      await closed
      return Buffer.concat(chunks)
    }
  }
}

const until = async (check: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('segment worker', () => {
  it('holds at most its cap of connections under a flood of idle ones, and still answers a new one', async (t) => {
    const { index, segmentsDir } = await openStore(t)
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream: '/nonexistent', maxConnections: 10 })
    // Idle connections, as a hostile client holds them.
    const held = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const socket = connect(port, '127.0.0.1')
        socket.on('error', () => {})
        await new Promise((resolve) => socket.once('connect', resolve))
        return socket
      })
    )
    // Each newcomer displaced the one idle longest (http/connection-cap.ts): the flood cannot lock others out.
    await until(() => worker.stats.evicted === 40)
    assert.equal(worker.connections, 10)
    assert.equal(worker.stats.refused, 0)
    const again = await rawGet(port, '/nope')
    // Relayed to a node that is not there: a clear 502, not a hang.
    const answer = (await again.read()).toString()
    assert.match(answer, /^HTTP\/1\.1 502 /)
    assert.match(answer, /"error":"unavailable"/)
    for (const socket of held) socket.destroy()
    await until(() => worker.connections === 0)
  })

  it("keeps its share of peers' connections open between requests and closes the others after their answer", async (t) => {
    const { index, segmentsDir } = await openStore(t)
    // The node answers a peer's segment request (its upload slot is there): relayed.
    const upstream = join(await tempDir(t), 'node.sock')
    const node = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('segment'))
    await new Promise<void>((resolve) => node.listen(upstream, resolve))
    t.after(() => {
      node.closeAllConnections()
      node.close()
    })
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream, peerKeepAlive: 1 })
    const peerGet = async (client: Client): Promise<string | undefined> => {
      const res = await client.request({ method: 'GET', path: '/segments/c/q/h/x.ts', headers: { [PEER_HEADER]: 'http://127.0.0.1:1' } })
      assert.equal(await res.body.text(), 'segment')
      return res.headers.connection as string | undefined
    }
    const kept = new Client(`http://127.0.0.1:${port}`)
    const other = new Client(`http://127.0.0.1:${port}`)
    t.after(async () => {
      await kept.close()
      await other.close()
    })
    assert.notEqual(await peerGet(kept), 'close')
    assert.equal(await peerGet(other), 'close')
    // The kept one stays kept while the other comes back.
    assert.notEqual(await peerGet(kept), 'close')
    assert.equal(await peerGet(other), 'close')
    assert.equal(worker.stats.peerClosed, 2)
    await until(() => worker.connections === 1)
    // A viewer's connection (no peer header) is not closed by it.
    const viewer = await fetch(`http://127.0.0.1:${port}/status`)
    assert.notEqual(viewer.headers.get('connection'), 'close')
    await viewer.text()
  })

  it('clients that never read hold at most the buffer pool; the rest are streamed, and all get every byte', async (t) => {
    const { index, segmentsDir, store } = await openStore(t)
    const size = 1024 * 1024
    const { ref } = await store.recordSegment(
      { channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' },
      bytesFor('big', size)
    )
    // Two 2 MiB buffers at most.
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream: '/nonexistent', poolBytes: 4 * 1024 * 1024 })
    const path = `/segments/c/q/${ref.hour}/${encodeURIComponent(ref.file)}`
    const clients = await Promise.all(Array.from({ length: 12 }, async () => await rawGet(port, path)))
    await until(() => worker.stats.served === 12)
    assert.ok(worker.buffersOut <= 2, `${worker.buffersOut} buffers out`)
    for (const c of clients) {
      const answer = await c.read()
      const body = answer.subarray(answer.indexOf('\r\n\r\n') + 4)
      assert.equal(body.length, size)
      assert.ok(body.equals(bytesFor('big', size)))
    }
    await until(() => worker.buffersOut === 0)
  })

  it("relays what it does not serve with the client's address, and the node's answer whole", async (t) => {
    const { index, segmentsDir } = await openStore(t)
    const upstream = join(await tempDir(t), 'node.sock')
    const seen: Array<{ url: string; forwardedFor: string | undefined; body: string }> = []
    const node = createHttpServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        seen.push({
          url: req.url!,
          forwardedFor: req.headers['x-forwarded-for'] as string | undefined,
          body: Buffer.concat(chunks).toString()
        })
        res.writeHead(201, { 'content-type': 'text/plain', 'x-from': 'node' }).end('made')
      })
    })
    await new Promise<void>((resolve) => node.listen(upstream, resolve))
    t.after(() => node.close())
    const { port } = await workerOnPort(t, { index, segmentsDir, upstream })
    const res = await fetch(`http://127.0.0.1:${port}/admin/tombstone?x=1`, {
      method: 'POST',
      headers: { 'x-forwarded-for': '198.51.100.7', 'content-type': 'application/json' },
      body: '{"segment":"c/q/h/n.ts"}'
    })
    assert.equal(res.status, 201)
    assert.equal(res.headers.get('x-from'), 'node')
    assert.equal(await res.text(), 'made')
    assert.deepEqual(seen, [{ url: '/admin/tombstone?x=1', forwardedFor: '198.51.100.7, 127.0.0.1', body: '{"segment":"c/q/h/n.ts"}' }])
  })

  it('one connection pipelining hundreds of requests opens one file at a time, and is closed past 16 waiting', async (t) => {
    const { index, segmentsDir, store } = await openStore(t)
    const { ref } = await store.recordSegment(
      { channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' },
      bytesFor('p', 3 * 1024 * 1024)
    )
    // A node that takes relayed requests and never answers them: they stay in flight.
    const upstream = join(await tempDir(t), 'node.sock')
    const silent = createHttpServer(() => {})
    await new Promise<void>((resolve) => silent.listen(upstream, resolve))
    t.after(() => {
      silent.closeAllConnections()
      silent.close()
    })
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream })
    const path = `/segments/c/q/${ref.hour}/${encodeURIComponent(ref.file)}`
    const fds = (): number => readdirSync('/proc/self/fd').length
    const pipelined = async (requests: string): Promise<{ socket: Socket; closed: Promise<void> }> => {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      await new Promise((resolve) => socket.once('connect', resolve))
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
      socket.write(requests)
      socket.pause()
      return { socket, closed }
    }
    // Segments it holds: one is being sent, the others wait their turn without opening their file.
    const before = fds()
    const reader = await pipelined(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`.repeat(12))
    // (More than one may have been sent by then: the socket buffers take a few MiB before the client reads.)
    await until(() => worker.stats.served >= 1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.ok(fds() - before <= 3, `${fds() - before} descriptors more: both ends of the socket (the client is this process) and one file`)
    reader.socket.destroy()
    await reader.closed
    // Requests the node has not answered: the 17th waiting closes the connection.
    const flood = await pipelined('GET /status HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(200))
    await flood.closed
    assert.equal(worker.stats.refused, 1)
    await until(() => worker.connections === 0 && worker.buffersOut === 0)
  })

  it('gives a pooled buffer back when the client leaves while it is read, and closes idle connections', async (t) => {
    const { index, segmentsDir, store } = await openStore(t)
    const { ref } = await store.recordSegment(
      { channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' },
      bytesFor('l', 1024 * 1024)
    )
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream: '/nonexistent', idleMs: 300 })
    const path = `/segments/c/q/${ref.hour}/${encodeURIComponent(ref.file)}`
    for (let i = 0; i < 10; i++) {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      await new Promise((resolve) => socket.once('connect', resolve))
      socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`)
      socket.resetAndDestroy()
    }
    await until(() => worker.connections === 0)
    await until(() => worker.buffersOut === 0)
    // A connection that never sends a request (or stops after one) is closed once idle.
    const idle = connect(port, '127.0.0.1')
    idle.on('error', () => {})
    const started = Date.now()
    await new Promise<void>((resolve) => idle.once('close', () => resolve()))
    assert.ok(Date.now() - started < 5000)
    await until(() => worker.connections === 0)
  })

  it('relays a chunked body as one request: nothing in it reaches the node as a request of its own', async (t) => {
    const { index, segmentsDir } = await openStore(t)
    const upstream = join(await tempDir(t), 'node.sock')
    const seen: Array<{ method: string; url: string; forwardedFor: string | undefined; body: string }> = []
    const node = createHttpServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        seen.push({
          method: req.method!,
          url: req.url!,
          forwardedFor: req.headers['x-forwarded-for'] as string | undefined,
          body: Buffer.concat(chunks).toString()
        })
        res.end('ok')
      })
    })
    await new Promise<void>((resolve) => node.listen(upstream, resolve))
    t.after(() => node.close())
    const { port } = await workerOnPort(t, { index, segmentsDir, upstream })
    const inner = 'GET /smuggled HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 127.0.0.1\r\ncontent-length: 0\r\n\r\n'
    const body = `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`
    const socket = connect(port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(`GET /first HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: x-forwarded-for\r\n\r\n${body}`)
    await until(() => seen.length > 0)
    await new Promise((resolve) => setTimeout(resolve, 200))
    socket.destroy()
    assert.deepEqual(seen, [{ method: 'GET', url: '/first', forwardedFor: '127.0.0.1', body: inner }])
  })

  it('serves many segments on one keep-alive connection without piling listeners on its socket', async (t) => {
    const { index, segmentsDir, store } = await openStore(t)
    const { ref } = await store.recordSegment(
      { channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' },
      bytesFor('k', 100_000)
    )
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream: '/nonexistent' })
    const warnings: string[] = []
    const onWarning = (w: Error): void => {
      warnings.push(w.name)
    }
    process.on('warning', onWarning)
    t.after(() => process.off('warning', onWarning))
    const client = new Client(`http://127.0.0.1:${port}`)
    t.after(async () => await client.close())
    for (let i = 0; i < 40; i++) {
      const res = await client.request({ path: `/segments/c/q/${ref.hour}/${encodeURIComponent(ref.file)}`, method: 'GET' })
      assert.equal((await res.body.arrayBuffer()).byteLength, 100_000)
    }
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(worker.connections, 1)
    assert.equal(worker.buffersOut, 0)
    assert.deepEqual(warnings, [])
  })
})
