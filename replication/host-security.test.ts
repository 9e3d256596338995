/**
 * The host's defences over real libp2p on 127.0.0.1: the private network key, and a peer that
 * floods malformed or too many messages being disconnected while honest peers carry on.
 */
import { startTestHost } from '../test/helpers/p2p-host.ts'
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import type { P2PHost } from './host.ts'
import type { P2PHostInit } from './host-config.ts'
import { newNetworkKey } from './pnet.ts'

const TOPIC = 'segmesh-test/v1'
const encoder = new TextEncoder()
const decoder = new TextDecoder()

async function waitFor(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const hosts: P2PHost[] = []
after(async () => {
  await Promise.all(hosts.map(async (h) => await h.stop()))
})

async function createHost(init: Partial<P2PHostInit> = {}): Promise<P2PHost> {
  const host = await startTestHost(TOPIC, init)
  hosts.push(host)
  return host
}

/** Publish from `from` until `to` has received one message starting with `tag`. */
async function publishUntilReceived(from: P2PHost, to: P2PHost, tag: string): Promise<void> {
  let received = false
  const off = to.onMessage((sender, data) => {
    if (sender === from.peerId && decoder.decode(data).startsWith(tag)) received = true
  })
  try {
    for (let i = 0; !received; i++) {
      if (i > 300) throw new Error(`no message from ${from.peerId} reached ${to.peerId}`)
      await from.publish(encoder.encode(`${tag}:${i}`), TOPIC)
      await waitFor('delivery', () => received, 100).catch(() => {})
    }
  } finally {
    off()
  }
}

describe('private network (--network-key)', () => {
  it('connects and gossips with the same key; a different key or none never connects, and nobody crashes', async () => {
    const key = newNetworkKey()
    const a = await createHost({ networkKey: key })
    const seed = [a.multiaddrs()[0]!]
    // The outsiders start first, so they have had their tries by the time the insider is in.
    const wrongKey = await createHost({ networkKey: newNetworkKey(), bootstrap: seed })
    const noKey = await createHost({ bootstrap: seed })
    const b = await createHost({ networkKey: key, bootstrap: seed })
    await waitFor('b connected to a', () => a.connectedPeers().includes(b.peerId))
    await publishUntilReceived(b, a, 'hello')
    // Outsiders dial a directly as well: the pnet handshake fails, quietly.
    await wrongKey.keepConnected(a.peerId, seed)
    await noKey.keepConnected(a.peerId, seed)
    assert.deepEqual(a.connectedPeers(), [b.peerId])
    assert.deepEqual(wrongKey.connectedPeers(), [])
    assert.deepEqual(noKey.connectedPeers(), [])
    // Still healthy both ways after the refused handshakes.
    await publishUntilReceived(a, b, 'still')
  })
})

describe('misbehaving peers', () => {
  const isJson = (data: Uint8Array): string | null => (decoder.decode(data).startsWith('{') ? null : 'not JSON')

  it('a peer flooding malformed gossip is disconnected and blocked; an honest peer is unaffected', async () => {
    const a = await createHost({ validateMessage: isJson })
    const seed = [a.multiaddrs()[0]!]
    const honest = await createHost({ bootstrap: seed, validateMessage: isJson })
    const flooder = await createHost({ bootstrap: seed })
    await waitFor('both connected to a', () => a.connectedPeers().length === 2)
    await publishUntilReceived(honest, a, '{"honest"')
    for (let i = 0; i < 500 && !a.scoreStats().banned.includes(flooder.peerId); i++) {
      await flooder.publish(encoder.encode(`garbage ${i}`), TOPIC).catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const stats = a.scoreStats()
    assert.deepEqual(stats.banned, [flooder.peerId])
    assert.ok(stats.penalties.malformed_message >= 10, `penalties ${JSON.stringify(stats.penalties)}`)
    assert.ok(a.gossipDropped.malformed >= 10)
    await waitFor('flooder disconnected', () => !a.connectedPeers().includes(flooder.peerId))
    // It cannot come back during the cool-down.
    await flooder.keepConnected(a.peerId, seed)
    assert.ok(!a.connectedPeers().includes(flooder.peerId))
    // The honest peer never lost its connection and still gets through, and was never penalised.
    assert.ok(a.connectedPeers().includes(honest.peerId))
    await publishUntilReceived(honest, a, '{"after"')
    assert.ok(!stats.banned.includes(honest.peerId))
  })

  it('reports a ban and its end to onPeerBanned/onPeerUnbanned', async () => {
    const a = await createHost({ validateMessage: isJson, banCooldownMs: 1_000 })
    const flooder = await createHost({ bootstrap: [a.multiaddrs()[0]!] })
    await waitFor('connected', () => a.connectedPeers().includes(flooder.peerId))
    const banned: string[] = []
    const unbanned: string[] = []
    a.onPeerBanned((peer) => banned.push(peer))
    a.onPeerUnbanned((peer) => unbanned.push(peer))
    for (let i = 0; i < 500 && banned.length === 0; i++) {
      await flooder.publish(encoder.encode(`garbage ${i}`), TOPIC).catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    assert.deepEqual(banned, [flooder.peerId])
    await waitFor('the ban to end', () => unbanned.length > 0)
    assert.deepEqual(unbanned, [flooder.peerId])
  })

  it('a banned peer stops redialling the node that banned it (no handshake spin)', async () => {
    const a = await createHost({ validateMessage: isJson })
    const flooder = await createHost({ bootstrap: [a.multiaddrs()[0]!] })
    await waitFor('connected', () => a.connectedPeers().includes(flooder.peerId))
    let connects = 0
    flooder.onPeerConnected((peer) => {
      if (peer === a.peerId) connects++
    })
    for (let i = 0; i < 500 && !a.scoreStats().banned.includes(flooder.peerId); i++) {
      await flooder.publish(encoder.encode(`garbage ${i}`), TOPIC).catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    assert.deepEqual(a.scoreStats().banned, [flooder.peerId])
    // libp2p's reconnect queue sees each refused connection open and redials at once; damped, the
    // flooder tries a few times and then waits (10 s, doubling).
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    assert.ok(connects <= 4, `the banned peer reconnected ${connects} times in 3 s`)
  })

  it('a peer over its message rate is dropped beyond the burst and banned when it keeps going', async () => {
    const a = await createHost({ gossipRatePerSecond: 1, gossipBurst: 20 })
    const flooder = await createHost({ bootstrap: [a.multiaddrs()[0]!] })
    await waitFor('connected', () => a.connectedPeers().includes(flooder.peerId))
    let delivered = 0
    a.onMessage(() => {
      delivered++
    })
    await publishUntilReceived(flooder, a, '{"first"')
    for (let i = 0; i < 1000 && !a.scoreStats().banned.includes(flooder.peerId); i++) {
      await flooder.publish(encoder.encode(`{"n":${i}}`), TOPIC).catch(() => {})
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    assert.deepEqual(a.scoreStats().banned, [flooder.peerId])
    assert.ok(a.gossipDropped.rateLimited >= 100, `rate limited ${a.gossipDropped.rateLimited}`)
    // Only about a burst (plus what a second refills) was delivered out of the flood.
    assert.ok(delivered <= 20 + 10, `delivered ${delivered}`)
  })
})

describe('IP colocation (--p2p-same-ip-peers)', () => {
  /** A host and `peers` others on 127.0.0.1 joined to it; whether it still hears one of them after the scores settle. */
  async function hears(sameIpPeers: number | undefined, peers: number): Promise<boolean> {
    // Many joins from one IP at once: libp2p's 5 a second would spread them over the redial timer.
    const a = await createHost({ inboundConnectionsPerIpPerSecond: 100, ...(sameIpPeers == null ? {} : { sameIpPeers }) })
    const others: P2PHost[] = []
    for (let i = 0; i < peers; i++) others.push(await createHost({ bootstrap: [a.multiaddrs()[0]!], sameIpPeers: 0 }))
    await waitFor('every peer connected', () => others.every((o) => a.connectedPeers().includes(o.peerId)))
    // gossipsub recomputes scores on its 1 s heartbeat.
    await new Promise((resolve) => setTimeout(resolve, 2500))
    let heard = false
    const off = a.onMessage((from) => {
      if (from === others[0]!.peerId) heard = true
    })
    for (let i = 0; i < 20 && !heard; i++) {
      await others[0]!.publish(encoder.encode(`colocated:${i}`), TOPIC)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    off()
    return heard
  }

  it('on by default: past the threshold, peers on one IP are graylisted; 0 turns it off', { timeout: 90_000 }, async () => {
    // The default threshold, 10: fifteen peers score −5·(15 − 10)² = −125, under gossipsub's graylist (−80).
    assert.equal(await hears(undefined, 15), false)
    assert.equal(await hears(1, 6), false)
    assert.equal(await hears(0, 6), true)
  })
})
