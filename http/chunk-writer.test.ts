/**
 * Lent chunks over a real socket: one reused buffer carries a body many times its size without a
 * byte going wrong (the next read waits for the last write), and a client that leaves mid-body
 * gets the buffer back to the pool and the file closed.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Fastify from 'fastify'
import { request } from 'undici'
import { BufferPool, fileChunks } from '../lib/buffer-pool.ts'
import { until } from '../test/helpers/network.ts'
import { tempDir } from '../test/helpers/tree.ts'
import { ByteBudget } from './bulk-rate.ts'
import { sendChunks } from './chunk-writer.ts'

async function serve(t: import('node:test').TestContext, path: string, pool: BufferPool, budget?: ByteBudget) {
  const logged: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => logged.push(line) } } })
  app.get('/body', async (req, reply) => {
    reply.type('video/mp2t').header('x-kind', 'test')
    await sendChunks(reply, fileChunks(path, { pool }), { budget, signal: req.signal })
  })
  app.get('/missing', async (req, reply) => {
    await sendChunks(reply, fileChunks(`${path}.missing`, { pool }), { signal: req.signal })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.after(async () => await app.close())
  return { base: `http://127.0.0.1:${(app.server.address() as import('node:net').AddressInfo).port}`, logged }
}

describe('sendChunks', () => {
  it('sends a body 64 times its buffer, read slowly, byte for byte, with its headers and CORS; the buffer goes back', async (t) => {
    const dir = await tempDir(t)
    const body = randomBytes(4 * 1024 * 1024)
    await writeFile(join(dir, 'f'), body)
    const pool = new BufferPool({ bufferBytes: 64 * 1024, maxBytes: 64 * 1024 })
    const { base } = await serve(t, join(dir, 'f'), pool, new ByteBudget(64 * 1024 ** 2))
    const res = await request(`${base}/body`)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], 'video/mp2t')
    assert.equal(res.headers['x-kind'], 'test')
    assert.equal(res.headers['access-control-allow-origin'], '*')
    const got: Buffer[] = []
    for await (const chunk of res.body) {
      got.push(Buffer.from(chunk))
      // A slow reader: the socket's buffers fill, so writes complete late.
      if (got.length % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    assert.ok(Buffer.concat(got).equals(body), 'the body differs from the file')
    await until('the buffer is back', () => pool.out === 0)
  })

  it('a client that leaves mid-body gives the buffer back, unlogged; the next client is served', async (t) => {
    const dir = await tempDir(t)
    await writeFile(join(dir, 'f'), randomBytes(8 * 1024 * 1024))
    const pool = new BufferPool({ bufferBytes: 64 * 1024, maxBytes: 64 * 1024 })
    const { base, logged } = await serve(t, join(dir, 'f'), pool)
    const { port } = new URL(base)
    // Asks, reads a little, never reads again (the server's writes stall), then leaves.
    const socket = connect(Number(port), '127.0.0.1')
    socket.write('GET /body HTTP/1.1\r\nHost: x\r\n\r\n')
    await new Promise((resolve) => socket.once('data', resolve))
    socket.pause()
    await until('a buffer is lent', () => pool.out === 1)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(pool.out, 1, 'still lent while the client holds the body')
    // A reset, not a close: the server's pending write fails (ECONNRESET) rather than the socket ending.
    socket.resetAndDestroy()
    await until('the buffer is back', () => pool.out === 0)
    const res = await request(`${base}/body`)
    let bytes = 0
    for await (const chunk of res.body) bytes += chunk.length
    assert.equal(bytes, 8 * 1024 * 1024)
    assert.equal(pool.out, 0)
    assert.deepEqual(logged, [], 'a client leaving is not a fault of the node')
  })

  it('an error before the first byte is an ordinary error answer', async (t) => {
    const dir = await tempDir(t)
    await writeFile(join(dir, 'f'), 'x')
    const { base } = await serve(t, join(dir, 'f'), new BufferPool({ bufferBytes: 1024, maxBytes: 1024 }))
    const res = await request(`${base}/missing`)
    assert.equal(res.statusCode, 500)
    await res.body.dump()
  })
})
