import assert from 'node:assert/strict'
import { createServer as createHttpServer } from 'node:http'
import { type Socket, connect, createServer } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Fastify from 'fastify'
import { T0, bytesFor, openStore, tempDir } from '../test/helpers/tree.ts'
import { SegmentWorker, type SegmentWorkerInit } from '../http/segment-worker.ts'

async function workerOnPort(t: any, init: SegmentWorkerInit, delayMs = 0) {
  const worker = new SegmentWorker(init)
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    if (delayMs === 0) worker.accept(socket)
    else setTimeout(() => worker.accept(socket), delayMs)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.close(); await worker.drain(0) })
  return { worker, port: (server.address() as { port: number }).port }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('probe', () => {
  it('smuggling through chunked GET body', async (t) => {
    const { index, segmentsDir } = await openStore(t)
    const upstream = join(await tempDir(t), 'node.sock')
    const seen: any[] = []
    const app = Fastify({ trustProxy: (_a: string, hop: number) => hop === 0 })
    app.all('/*', async (req) => { seen.push({ url: req.url, ip: req.ip, xff: req.headers['x-forwarded-for'] }); return { url: req.url, ip: req.ip } })
    await app.listen({ path: upstream })
    t.after(() => app.close())
    const { port } = await workerOnPort(t, { index, segmentsDir, upstream })
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n'
    const body = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`
    const s = connect(port, '127.0.0.1')
    const got: Buffer[] = []
    s.on('data', (c) => got.push(c))
    await new Promise((r) => s.once('connect', r))
    s.write(`GET /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`)
    await sleep(300)
    s.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n')
    await sleep(300)
    s.destroy()
    console.log('UPSTREAM SAW', JSON.stringify(seen))
    console.log('CLIENT GOT', JSON.stringify(Buffer.concat(got).toString().replace(/\r\n/g, ' | ')))
  })

  it('pool buffer leaks when the client leaves before the listener is attached', async (t) => {
    const { index, segmentsDir, store } = await openStore(t)
    const size = 1024 * 1024
    const { ref } = await store.recordSegment({ channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' }, bytesFor('big', size))
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream: '/nonexistent' }, 50)
    const path = `/segments/c/q/${ref.hour}/${encodeURIComponent(ref.file)}`
    for (let i = 0; i < 10; i++) {
      const s = connect(port, '127.0.0.1')
      s.on('error', () => {})
      await new Promise((r) => s.once('connect', r))
      s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`)
      await sleep(5)
      s.resetAndDestroy()
    }
    await sleep(500)
    console.log('AFTER RST CLIENTS: served', worker.stats.served, 'connections', worker.connections, 'buffersOut', worker.buffersOut)
  })

  it('RST client: relayed x-forwarded-for', async (t) => {
    const { index, segmentsDir } = await openStore(t)
    const upstream = join(await tempDir(t), 'node.sock')
    const seen: any[] = []
    const node = createHttpServer((req, res) => { seen.push(req.headers['x-forwarded-for']); res.end('ok') })
    await new Promise<void>((r) => node.listen(upstream, r))
    t.after(() => node.close())
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream }, 50)
    for (let i = 0; i < 10; i++) {
      const s = connect(port, '127.0.0.1')
      s.on('error', () => {})
      await new Promise((r) => s.once('connect', r))
      s.write(`GET /status HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 127.0.0.1\r\n\r\n`)
      await sleep(5)
      s.resetAndDestroy()
    }
    await sleep(500)
    console.log('RST XFF SEEN', JSON.stringify(seen), 'relayed', worker.stats.relayed)
  })

  it('drain with a response in flight at drain start', async (t) => {
    const { index, segmentsDir } = await openStore(t)
    const upstream = join(await tempDir(t), 'node.sock')
    const node = createHttpServer((req, res) => { setTimeout(() => res.end('slow'), 200) })
    await new Promise<void>((r) => node.listen(upstream, r))
    t.after(() => { node.closeAllConnections(); node.close() })
    const { worker, port } = await workerOnPort(t, { index, segmentsDir, upstream })
    const s = connect(port, '127.0.0.1')
    s.on('data', () => {})
    s.on('error', () => {})
    await new Promise((r) => s.once('connect', r))
    s.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n')
    await sleep(50)
    const t0 = Date.now()
    await worker.drain(3000)
    console.log('DRAIN took', Date.now() - t0, 'ms (response needed 150 ms)')
    s.destroy()
  })
})
