import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { describe, it } from 'node:test'
import { tcpSocketsOf } from './measure.ts'
import { SocketBytes } from './socket-bytes.ts'

/** A loopback server and `n` clients connected to it: the client ends and the accepted ends. */
async function pairs(n: number): Promise<{ clients: net.Socket[]; accepted: net.Socket[]; close: () => Promise<void> }> {
  const accepted: net.Socket[] = []
  const server = net.createServer((s) => accepted.push(s))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  const clients: net.Socket[] = []
  for (let i = 0; i < n; i++) {
    const c = net.connect(port, '127.0.0.1')
    await once(c, 'connect')
    clients.push(c)
  }
  while (accepted.length < n) await new Promise((r) => setImmediate(r))
  return {
    clients,
    accepted,
    close: async () => {
      const all = [...clients, ...accepted]
      await Promise.all(all.map(async (s) => (s.closed ? undefined : await once(s.destroy(), 'close'))))
      server.close()
      await once(server, 'close')
    }
  }
}

describe('socket counts', () => {
  it('a socket is open from when it is tracked until its close; the maximum stays across reset', async () => {
    const { clients, accepted, close } = await pairs(3)
    const bytes = new SocketBytes<'a' | 'b'>()
    bytes.track(clients[0]!, 'a')
    bytes.track(clients[0]!, 'a') // twice: still one
    bytes.track(clients[1]!, 'a')
    bytes.track(accepted[2]!, 'b')
    assert.deepEqual(bytes.openByKind(['a', 'b']), { a: 2, b: 1 })
    assert.deepEqual(
      bytes.openByKind(['a', 'b'], (s) => s === accepted[2]),
      { a: 2, b: 0 }
    )
    clients[1]!.destroy()
    await once(clients[1]!, 'close')
    assert.deepEqual(bytes.openByKind(['a', 'b']), { a: 1, b: 1 })
    assert.equal(bytes.maxOpen, 3)
    assert.deepEqual(bytes.maxOpenByKind(['a', 'b']), { a: 2, b: 1 })
    bytes.reset()
    assert.deepEqual([bytes.openByKind(['a', 'b']), bytes.maxOpen], [{ a: 0, b: 0 }, 3])
    await close()
  })

  it('counts the connected TCP sockets of a process from /proc, listening ones left out', async (t) => {
    const before = await tcpSocketsOf(process.pid)
    if (before == null) return t.skip('no /proc')
    const { close } = await pairs(4)
    // Both ends of each connection are in this process; the listening socket is not counted.
    assert.equal(await tcpSocketsOf(process.pid), before + 8)
    await close()
    assert.equal(await tcpSocketsOf(process.pid), before)
  })
})
