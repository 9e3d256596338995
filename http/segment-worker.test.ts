/**
 * One HTTP worker's server in this process, fed connections as the node hands them over: its bounds
 * hold under floods (connections past the cap are closed at once; clients that never read hold at
 * most the buffer pool, then are streamed to), and what it relays reaches the node with the
 * client's address, or answers 502 when the node is gone.
 */
import assert from 'node:assert/strict'
import { createServer as createHttpServer } from 'node:http'
import { type Socket, connect, createServer } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { T0, bytesFor, openStore, tempDir } from '../test/helpers/tree.ts'
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
  it('closes connections past its cap at once, and takes new ones as others close', async (t) => {
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
    await until(() => worker.stats.refused === 40)
    assert.equal(worker.connections, 10)
    for (const socket of held) socket.destroy()
    await until(() => worker.connections === 0)
    const again = await rawGet(port, '/nope')
    // Relayed to a node that is not there: a clear 502, not a hang.
    const answer = (await again.read()).toString()
    assert.match(answer, /^HTTP\/1\.1 502 /)
    assert.match(answer, /"error":"unavailable"/)
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
})
