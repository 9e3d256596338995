/**
 * A --bootstrap that cannot be reached is visible: a warning with the reason at the default log
 * level, and the peer's state on /status (it failed silently, with 0 peers known after 70 s).
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { request } from 'undici'
import { startNode, until } from './helpers/network.ts'

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('an unreachable --bootstrap', () => {
  it('is logged at warn with the reason and shown as failed on /status; a reachable one as connected', async (t) => {
    const lines: Array<{ level: number; msg: string; reason?: string }> = []
    const good = await startNode(t)
    const missing = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const refused = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${missing}`
    const node = await startNode(t, {
      extra: { bootstrap: [refused, good.host!.multiaddrs()[0]!] },
      log: pino(
        { level: 'info' },
        {
          write: (line: string) => {
            lines.push(JSON.parse(line))
          }
        }
      )
    })
    await until('the warning', () => lines.some((l) => l.level === 40 && l.msg.startsWith('cannot reach bootstrap peer')), 10_000)
    const warning = lines.find((l) => l.level === 40)!
    assert.match(warning.reason ?? '', /^connection refused/)
    assert.ok(warning.msg.includes(missing), warning.msg)
    await until('the good bootstrap peer connected', () => node.host!.bootstrapStatus().some((b) => b.state === 'connected'), 10_000)

    const res = await request(`${node.url}/status`)
    const status = (await res.body.json()) as { bootstrap: Array<{ peerId: string; state: string; lastError?: string; since: string }> }
    const byId = new Map(status.bootstrap.map((b) => [b.peerId, b]))
    assert.equal(byId.get(missing)?.state, 'failed')
    assert.equal(byId.get(missing)?.lastError, warning.reason)
    assert.equal(byId.get(good.host!.peerId)?.state, 'connected')
    assert.ok(!Number.isNaN(Date.parse(byId.get(missing)!.since)))
  })
})
