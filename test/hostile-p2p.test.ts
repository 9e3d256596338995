/**
 * Hostile peers at the libp2p edge, over real TCP on 127.0.0.1:
 * - one connection relaying gossip signed by a fresh key per message (a real libp2p node whose
 *   gossipsub signs each publish with a new key: the RPCs are what a relay of many nodes sends);
 * - idle sockets that hold the handshake slots. The attacker's sockets come from 127.0.0.2
 *   (another loopback address, so another remote IP to the node) and the honest peer's from
 *   127.0.0.1, as two hosts would.
 */
import { startTestHost } from './helpers/p2p-host.ts'
import assert from 'node:assert/strict'
import { type Socket, connect } from 'node:net'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { P2PHost } from '../replication/host.ts'
import type { P2PHostInit } from '../replication/host-config.ts'
import { P2P_DEFAULTS } from '../replication/host-defaults.ts'
import { newNetworkKey } from '../replication/pnet.ts'
import { type AuthorRelay, startAuthorRelay } from '../simulations/hostile-connections.ts'
import { until } from './helpers/network.ts'

const TOPIC = 'segmesh-test/v1'
const ATTACKER_IP = '127.0.0.2'

const hosts: P2PHost[] = []
const attacks: Array<{ stop: () => void }> = []
const relays: AuthorRelay[] = []
after(async () => {
  for (const a of attacks) a.stop()
  await Promise.all([...hosts, ...relays].map(async (h) => await h.stop()))
})

async function createHost(init: Partial<P2PHostInit> = {}): Promise<P2PHost> {
  const host = await startTestHost(TOPIC, init)
  hosts.push(host)
  return host
}

function portOf(host: P2PHost): number {
  return Number(/\/tcp\/(\d+)\//.exec(host.multiaddrs()[0] ?? '')![1])
}

/**
 * Keep `count` TCP sockets open to `port` that never send a byte, opening a new one 100 ms after
 * the node closes one (at most `maxOpens` in all). `held()` counts those open for over 200 ms:
 * sockets the node accepted into its handshake, not refused on arrival.
 */
function holdIdleSockets(
  port: number,
  count: number,
  maxOpens = 2_000
): { held: () => number; heldClosed: () => number; longestLifeMs: () => number; stop: () => void } {
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
async function gossipReaches(from: P2PHost, to: P2PHost, timeoutMs: number): Promise<void> {
  let received = false
  const off = to.onMessage((sender) => {
    if (sender === from.peerId) received = true
  })
  try {
    await until(
      `gossip from ${from.peerId}`,
      async () => {
        await from.publish(new TextEncoder().encode('{"hello":1}'), TOPIC).catch(() => {})
        return received
      },
      timeoutMs
    )
  } finally {
    off()
  }
}

/** startAuthorRelay to `target`, stopped when the tests end. */
async function relayOfAuthors(target: P2PHost): Promise<AuthorRelay> {
  const relay = await startAuthorRelay({ target: target.multiaddrs()[0]!, topic: TOPIC })
  relays.push(relay)
  return relay
}

describe('gossip signed by fresh keys through one connection (issue 18, finding 3)', () => {
  /**
   * Flood from `relay` until `node` bans it (at most `max` messages, 60 s). Resolves to the
   * messages sent and how many of them `node` delivered.
   */
  async function floodUntilBanned(
    node: P2PHost,
    relay: AuthorRelay,
    keyFor: (i: number) => Promise<PrivateKey>,
    max: number
  ): Promise<{ sent: number; delivered: number; authors: number; ms: number }> {
    let banned = false
    const offBan = node.onPeerBanned((peer) => {
      if (peer === relay.peerId) banned = true
    })
    let delivered = 0
    const authors = new Set<string>()
    const offMessage = node.onMessage((from) => {
      delivered++
      authors.add(from)
    })
    const started = Date.now()
    let sent = 0
    try {
      while (!banned && sent < max && Date.now() - started < 60_000) {
        await relay.send(await keyFor(sent), new TextEncoder().encode(`{"n":${sent}}`)).catch(() => {})
        sent++
        // Let the node's side run now and then, as a network would.
        if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
      await until('the relay to be banned', () => banned, 10_000)
      // What was in flight when the ban came has arrived (or never will: the connection is gone).
      await until('the relay to be disconnected', () => !node.connectedPeers().includes(relay.peerId))
      return { sent, delivered, authors: authors.size, ms: Date.now() - started }
    } finally {
      offBan()
      offMessage()
    }
  }

  it('a fresh key per message: the connection may introduce a burst of authors, then it is banned; an honest peer carries on', async (t) => {
    const node = await createHost()
    const honest = await createHost({ bootstrap: [node.multiaddrs()[0]!] })
    await until('the honest peer to connect', () => node.connectedPeers().includes(honest.peerId))
    await gossipReaches(honest, node, 10_000)
    const relay = await relayOfAuthors(node)
    const flood = await floodUntilBanned(node, relay, async () => await generateKeyPair('Ed25519'), 5_000)
    t.diagnostic(
      `fresh-key flood: ${flood.sent} sent, ${flood.delivered} delivered from ${flood.authors} authors, banned after ${flood.ms} ms`
    )
    // Every fresh author past the allowance was dropped: the burst, one a second, and 10 in flight.
    const allowance = P2P_DEFAULTS.newAuthorsPerSourceBurst + P2P_DEFAULTS.newAuthorsPerSourcePerSecond * Math.ceil(flood.ms / 1000) + 10
    assert.ok(flood.authors <= allowance, `${flood.authors} fresh authors delivered, allowance ${allowance}`)
    assert.ok(node.gossipDropped.sourceLimited >= 50, `source-limited ${node.gossipDropped.sourceLimited}`)
    assert.ok(node.scoreStats().banned.includes(relay.peerId))
    assert.ok(!node.scoreStats().banned.includes(honest.peerId))
    assert.ok(node.connectedPeers().includes(honest.peerId))
    await gossipReaches(honest, node, 10_000)
  })

  it("a few keys in turn, each under its own rate: the connection's rate holds and it is banned", async (t) => {
    const node = await createHost()
    const relay = await relayOfAuthors(node)
    const keys = await Promise.all(Array.from({ length: 50 }, async () => await generateKeyPair('Ed25519')))
    const flood = await floodUntilBanned(node, relay, async (i) => keys[i % keys.length]!, 5_000)
    t.diagnostic(`50-key flood: ${flood.sent} sent, ${flood.delivered} delivered, banned after ${flood.ms} ms`)
    const allowance = P2P_DEFAULTS.sourceBurst + P2P_DEFAULTS.sourceRatePerSecond * Math.ceil(flood.ms / 1000) + 10
    assert.ok(flood.delivered <= allowance, `${flood.delivered} delivered, allowance ${allowance}`)
    // 50 authors × a burst of 200 would have let all 5,000 through.
    assert.ok(flood.delivered < flood.sent)
  })
})

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
