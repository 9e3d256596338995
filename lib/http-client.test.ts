import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { IDLE_SOCKET_MS, ResponseTooLargeError, capKeptSockets, createAgent, transportFailure } from './http-client.ts'

const coded = (code: string): Error => Object.assign(new Error(code), { code })

describe('transportFailure', () => {
  it('counts a connect timeout as a failure to connect, not as a silent server', () => {
    assert.equal(transportFailure(coded('UND_ERR_CONNECT_TIMEOUT')), 'connect')
    assert.equal(transportFailure(coded('ETIMEDOUT')), 'connect')
    assert.equal(transportFailure(new AggregateError([coded('ECONNREFUSED'), coded('EHOSTUNREACH')])), 'connect')
    assert.equal(transportFailure(coded('UND_ERR_HEADERS_TIMEOUT')), 'timeout')
    assert.equal(transportFailure(new DOMException('too long', 'TimeoutError')), 'timeout')
  })

  it('names the other transport failures and nothing else', () => {
    assert.equal(transportFailure(coded('ECONNRESET')), 'network')
    assert.equal(transportFailure(coded('UND_ERR_SOCKET')), 'network')
    assert.equal(transportFailure(coded('UND_ERR_ABORTED')), 'aborted')
    assert.equal(transportFailure(new ResponseTooLargeError('big')), 'too_large')
    assert.equal(transportFailure(coded('SEGMESH_ERR_DISK_FULL')), undefined)
    assert.equal(transportFailure(new Error('no code')), undefined)
  })
})

describe('createAgent', () => {
  it("closes an idle socket within IDLE_SOCKET_MS, though the server's Keep-Alive hint says 72 s", async (t) => {
    const server = createServer((_req, res) => res.setHeader('keep-alive', 'timeout=72').end('ok'))
    server.keepAliveTimeout = 72_000
    let open = 0
    server.on('connection', (socket) => {
      open++
      socket.on('close', () => open--)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const agent = createAgent({ connections: 2, connectTimeoutMs: 1000, readTimeoutMs: 1000 })
    t.after(async () => {
      await agent.close()
      server.close()
    })
    const res = await agent.request({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, path: '/', method: 'GET' })
    assert.equal(await res.body.text(), 'ok')
    assert.equal(open, 1, 'kept alive after the answer')
    const started = Date.now()
    while (open > 0 && Date.now() - started < IDLE_SOCKET_MS + 3000) await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(open, 0, `the idle socket was still open after ${Date.now() - started} ms`)
  })
})

describe('capKeptSockets', () => {
  it('keeps at most `max` sockets between requests across origins; an origin already held reuses its socket', async (t) => {
    let open = 0
    let accepted = 0
    const servers = Array.from({ length: 6 }, () => {
      const server = createServer((_req, res) => res.end('ok'))
      server.keepAliveTimeout = 72_000
      server.on('connection', (socket) => {
        open++
        accepted++
        socket.on('close', () => open--)
      })
      return server
    })
    await Promise.all(servers.map(async (s) => await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))))
    const agent = createAgent({ connections: 2, connectTimeoutMs: 1000, readTimeoutMs: 1000 })
    const capped = agent.compose(capKeptSockets(agent, 2))
    t.after(async () => {
      await agent.close()
      for (const s of servers) s.close()
    })
    const origins = servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`)
    const get = async (origin: string): Promise<void> => {
      const res = await capped.request({ origin, path: '/', method: 'GET' })
      assert.equal(await res.body.text(), 'ok')
    }
    for (const origin of origins) await get(origin)
    const settle = async (n: number): Promise<void> => {
      const started = Date.now()
      while (open !== n && Date.now() - started < 3000) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await settle(2)
    assert.equal(open, 2, 'the first two origins keep their sockets, the other four were closed after their answer')
    // The kept ones are reused: no new connection.
    await get(origins[0]!)
    await get(origins[1]!)
    assert.equal(accepted, 6)
    await settle(2)
    assert.equal(open, 2)
  })
})
