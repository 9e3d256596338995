/**
 * Hostile peers at the libp2p edge, over real TCP on 127.0.0.1: idle sockets that hold the
 * handshake slots. The attacker's sockets come from 127.0.0.2 (another loopback address, so
 * another remote IP to the node) and the honest peer's from 127.0.0.1, as two hosts would.
 */
import assert from 'node:assert/strict'
import { type Socket, connect } from 'node:net'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { P2PHost, type P2PHostInit } from '../replication/host.ts'
import { newNetworkKey } from '../replication/pnet.ts'
import { until } from './helpers/network.ts'

const TOPIC = 'segmesh-test/v1'
const ATTACKER_IP = '127.0.0.2'

const hosts: P2PHost[] = []
const attacks: Array<{ stop: () => void }> = []
after(async () => {
  for (const a of attacks) a.stop()
  await Promise.all(hosts.map(async (h) => await h.stop()))
})

async function createHost (init: Partial<P2PHostInit> = {}): Promise<P2PHost> {
  const host = await P2PHost.create({ privateKey: await generateKeyPair('Ed25519'), listenHost: '127.0.0.1', listenPort: 0, topic: TOPIC, ...init })
  hosts.push(host)
  return host
}

function portOf (host: P2PHost): number {
  return Number(/\/tcp\/(\d+)\//.exec(host.multiaddrs()[0] ?? '')![1])
}

/**
 * Keep `count` TCP sockets open to `port` that never send a byte, opening a new one 100 ms after
 * the node closes one (at most `maxOpens` in all). `held()` counts those open for over 200 ms:
 * sockets the node accepted into its handshake, not refused on arrival.
 */
function holdIdleSockets (port: number, count: number, maxOpens = 2_000): { held: () => number, heldClosed: () => number, longestLifeMs: () => number, stop: () => void } {
  const open = new Map<Socket, number>()
  let opens = 0
  let longest = 0
  let heldClosed = 0
  let stopped = false
  const openOne = (): void => {
    if (stopped || opens >= maxOpens) return
    opens++
    const socket = connect({ port, host: '127.0.0.1', localAddress: ATTACKER_IP })
    open.set(socket, Date.now())
    socket.on('error', () => {})
    socket.on('close', () => {
      const life = Date.now() - open.get(socket)!
      if (!stopped && life > 200) heldClosed++
      longest = Math.max(longest, life)
      open.delete(socket)
      if (!stopped) setTimeout(openOne, 100)
    })
  }
  for (let i = 0; i < count; i++) openOne()
  const attack = {
    held: () => [...open.values()].filter((at) => Date.now() - at > 200).length,
    /** Held sockets the node has closed. */
    heldClosed: () => heldClosed,
    /** The longest any socket lived, open ones included. */
    longestLifeMs: () => Math.max(longest, ...[...open.values()].map((at) => Date.now() - at)),
    stop: () => {
      stopped = true
      for (const socket of open.keys()) socket.destroy()
    }
  }
  attacks.push(attack)
  return attack
}

/** Publish from `from` until `to` receives one of its messages. */
async function gossipReaches (from: P2PHost, to: P2PHost, timeoutMs: number): Promise<void> {
  let received = false
  const off = to.onMessage((sender) => { if (sender === from.peerId) received = true })
  try {
    await until(`gossip from ${from.peerId}`, async () => {
      await from.publish(new TextEncoder().encode('{"hello":1}')).catch(() => {})
      return received
    }, timeoutMs)
  } finally {
    off()
  }
}

describe('idle inbound sockets (issue 18, finding 4)', () => {
  for (const variant of ['open network', 'network key'] as const) {
    it(`${variant}: 40 idle sockets do not keep a real peer out, and each is closed within the handshake timeout`, async () => {
      const networkKey = variant === 'network key' ? newNetworkKey() : undefined
      const node = await createHost({ networkKey })
      // libp2p used to allow 10 pending handshakes for 10 s each: the attacker held all of them.
      const attack = holdIdleSockets(portOf(node), 40)
      await until('the attacker to hold 10 handshake slots', () => attack.held() >= 10)
      const started = Date.now()
      const peer = await createHost({ networkKey, bootstrap: [node.multiaddrs()[0]!] })
      // Generous for a localhost handshake (tens of ms), and shorter than libp2p's old 10 s
      // handshake timeout, so a peer that only got in once idle sockets expired fails it.
      const boundMs = 8_000
      await until('the peer to connect', () => node.connectedPeers().includes(peer.peerId), boundMs)
      await gossipReaches(peer, node, boundMs - (Date.now() - started))
      assert.ok(attack.held() >= 10, `the attack was still on: ${attack.held()} sockets held`)
      // Idle sockets are closed once the 5 s handshake timeout is over (2 s margin for a busy machine).
      await until('the node to close a held idle socket', () => attack.heldClosed() > 0)
      assert.ok(attack.longestLifeMs() < 7_000, `an idle socket lived ${attack.longestLifeMs()} ms`)
      attack.stop()
    })
  }
})
