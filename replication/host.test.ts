/**
 * Real libp2p over TCP on 127.0.0.1, port 0. B and C bootstrap only to A; every wait is a bounded
 * condition poll or event, never a fixed sleep.
 */
import { startTestHost } from '../test/helpers/p2p-host.ts'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey, Stream } from '@libp2p/interface'
import type { P2PHost } from './host.ts'
import type { P2PHostInit } from './host-config.ts'
import { MAX_HELLO_BYTES, readBlob } from './hello-protocol.ts'
import { silentLogger } from '../lib/logger.ts'
import { loadOrCreateNodeKey } from './node-key.ts'
import { newNetworkKey } from './pnet.ts'

const TOPIC = 'segmesh-test/v1'
const encoder = new TextEncoder()
const decoder = new TextDecoder()

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<number> {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return Date.now() - start
}

/** Publish fresh payloads from `from` until `to` receives one of them (the mesh may still be forming). */
async function publishUntilReceived(from: P2PHost, to: P2PHost, timeoutMs = 10_000): Promise<number> {
  const start = Date.now()
  const tag = `${Math.random()}`
  let received = false
  const off = to.onMessage((sender, data) => {
    if (sender === from.peerId && decoder.decode(data).startsWith(tag)) received = true
  })
  try {
    for (let i = 0; !received; i++) {
      if (Date.now() - start > timeoutMs) throw new Error(`no message from ${from.peerId} reached ${to.peerId} within ${timeoutMs} ms`)
      await from.publish(encoder.encode(`${tag}:${i}`), TOPIC)
      await waitFor('delivery', () => received, 100).catch(() => {})
    }
    return Date.now() - start
  } finally {
    off()
  }
}

function portOf(host: P2PHost): number {
  const m = /\/tcp\/(\d+)\//.exec(host.multiaddrs()[0] ?? '')
  assert.ok(m != null, 'host has a tcp multiaddr')
  return Number(m[1])
}

async function createHost(init: Partial<P2PHostInit> = {}): Promise<P2PHost> {
  const host = await startTestHost(TOPIC, init)
  return host
}

describe('P2PHost alone', () => {
  it('keeps its peer id across a restart with the same key, and reports the bound port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'segmesh-host-'))
    try {
      const first = await createHost({ privateKey: await loadOrCreateNodeKey(dir) })
      const id = first.peerId
      const addrs = first.multiaddrs()
      await first.stop()
      assert.ok(addrs.length > 0)
      for (const a of addrs) assert.match(a, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/[1-9]\\d*/p2p/${id}$`))

      const second = await createHost({ privateKey: await loadOrCreateNodeKey(dir) })
      assert.equal(second.peerId, id)
      await second.stop()
      await second.stop() // idempotent
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('publishes to nobody without throwing, announces another host, and rejects bad options', async () => {
    const host = await createHost({ announceHost: 'node1.example' })
    try {
      assert.equal(await host.publish(encoder.encode('anyone?'), TOPIC), 0)
      assert.deepEqual(host.multiaddrs(), [`/dns/node1.example/tcp/${portOf(host)}/p2p/${host.peerId}`])
      assert.deepEqual(host.connectedPeers(), [])
    } finally {
      await host.stop()
    }
    await assert.rejects(host.publish(encoder.encode('late'), TOPIC), { code: 'SEGMESH_ERR_HOST_STOPPED' })
    await assert.rejects(createHost({ listenHost: 'localhost' }), { name: 'InvalidParametersError', message: /listenHost/ })
    await assert.rejects(createHost({ listenPort: 70000 }), { name: 'InvalidParametersError', message: /listenPort/ })
    await assert.rejects(createHost({ bootstrap: ['/ip4/127.0.0.1/tcp/1'] }), { name: 'InvalidParametersError', message: /p2p/ })
  })

  it('reaches a bootstrap node that starts after it (redial timer)', async () => {
    const keyA = await generateKeyPair('Ed25519')
    const probe = await createHost({ privateKey: keyA })
    const port = portOf(probe)
    const addrs = probe.multiaddrs()
    await probe.stop()
    // B's first bootstrap dial must have failed before A exists, or this would test nothing.
    const b = await createHost({ bootstrap: addrs, redialIntervalMs: 200 })
    let a: P2PHost | undefined
    try {
      await waitFor("B's bootstrap dial to fail", () => b.bootstrapStatus()[0]?.state === 'failed')
      a = await createHost({ privateKey: keyA, listenPort: port })
      const ms = await waitFor('B to reach the late bootstrap node', () => b.connectedPeers().includes(a!.peerId), 5_000)
      console.log(`# B reached the late bootstrap node after ${ms} ms`)
    } finally {
      await Promise.all([b.stop(), a?.stop()])
    }
  })

  it('warns once, with the reason, about a bootstrap peer it cannot reach, then backs off; bootstrapStatus() says why', async () => {
    const warnings: Array<{ peer?: string; reason?: string }> = []
    let redials = 0
    const log = {
      ...silentLogger,
      warn: (obj: object) => {
        warnings.push(obj)
      },
      debug: (_obj: object, msg?: string) => {
        if (msg === 'redial failed') redials++
      }
    }
    const closed = await createHost()
    const refusedAddr = closed.multiaddrs()[0]!
    const closedId = closed.peerId
    await closed.stop() // nothing listens on its port now
    const real = await createHost()
    const impostor = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString() // a valid id, not the one listening at real's address
    const wrongIdAddr = real.multiaddrs()[0]!.replace(real.peerId, impostor)
    const started = Date.now()
    const host = await createHost({ bootstrap: [refusedAddr, wrongIdAddr, real.multiaddrs()[0]!], redialIntervalMs: 100, log })
    try {
      await waitFor('a warning for each unreachable bootstrap peer', () => warnings.length >= 2)
      await waitFor('the real bootstrap peer', () => host.bootstrapStatus().find((p) => p.peerId === real.peerId)?.state === 'connected')
      // Redials go on (every 50-150 ms here) without a warning each: the next one is a minute away.
      await waitFor('several redials', () => redials >= 6)
      assert.equal(warnings.length, 2, JSON.stringify(warnings))
      const byPeer = new Map(warnings.map((w) => [w.peer, w.reason]))
      assert.match(byPeer.get(closedId) ?? '', /^connection refused/)
      assert.equal(byPeer.get(impostor), `wrong peer id: the node at that address is ${real.peerId}, not ${impostor}`)

      const status = new Map(host.bootstrapStatus().map((p) => [p.peerId, p]))
      assert.deepEqual(
        { ...status.get(closedId), since: 0 },
        { peerId: closedId, addrs: [refusedAddr], state: 'failed', lastError: byPeer.get(closedId), since: 0 }
      )
      assert.equal(status.get(impostor)?.state, 'failed')
      assert.equal(status.get(impostor)?.lastError, byPeer.get(impostor))
      assert.equal(status.get(real.peerId)?.lastError, undefined)
      for (const p of status.values()) assert.ok(Number.isSafeInteger(p.since) && p.since >= started && p.since <= Date.now())
    } finally {
      await Promise.all([host.stop(), real.stop()])
    }
  })

  it('explains a network key mismatch with a bootstrap peer', async () => {
    const warnings: Array<{ reason?: string }> = []
    const log = {
      ...silentLogger,
      warn: (obj: object) => {
        warnings.push(obj)
      }
    }
    const a = await createHost({ networkKey: newNetworkKey() })
    const b = await createHost({ networkKey: newNetworkKey(), bootstrap: [a.multiaddrs()[0]!], log })
    const c = await createHost({ bootstrap: [a.multiaddrs()[0]!], log })
    try {
      // Another key: the handshake breaks, or stalls until libp2p's 6 s address timeout.
      await waitFor('both warnings', () => warnings.length >= 2, 15_000)
      assert.match(b.bootstrapStatus()[0]?.lastError ?? '', /(another --network-key|network key mismatch \(this node has a --network-key)/)
      assert.match(c.bootstrapStatus()[0]?.lastError ?? '', /network key mismatch \(this node has no --network-key/)
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()])
    }
  })

  it('reads at most 1 MiB of a hello answer, then aborts the stream', async () => {
    // A remote that ignores the limit, played by a bare event target (only what readBlob touches).
    const fake = Object.assign(new EventTarget(), {
      status: 'open',
      readableEnded: false,
      readBufferLength: 0,
      aborted: null as Error | null
    })
    const stream = Object.assign(fake, {
      abort: (err: Error) => {
        fake.aborted = err
      }
    }) as unknown as Stream
    const reading = readBlob(stream, new AbortController().signal)
    const chunk = new Uint8Array(256 * 1024)
    for (let i = 0; i < 5; i++) fake.dispatchEvent(Object.assign(new Event('message'), { data: chunk }))
    await assert.rejects(reading, { name: 'HelloTooLargeError', code: 'SEGMESH_ERR_HELLO_TOO_LARGE' })
    assert.equal(fake.aborted?.name, 'HelloTooLargeError')
  })
})

describe('P2PHost hooks', () => {
  it('lets its bootstrap peer go once it keeps enough peers, also when the bootstrap connects after them', async (t) => {
    const hosts: P2PHost[] = []
    t.after(async () => await Promise.all(hosts.map(async (h) => await h.stop())))
    const a = await createHost()
    const k = await createHost()
    hosts.push(a, k)
    const j = await createHost({ bootstrap: a.multiaddrs(), maxKeptPeers: 1, redialIntervalMs: 60_000 })
    hosts.push(j)
    let bootstrapConnects = 0
    j.onPeerConnected((peer) => {
      if (peer === a.peerId) bootstrapConnects++
    })
    await waitFor('J to join through A', () => j.connectedPeers().includes(a.peerId))
    await j.keepConnected(k.peerId, k.multiaddrs())
    await waitFor('J to let A go once it keeps K', () => !j.connectedPeers().includes(a.peerId))
    // A block lifted (a healed partition) redials the bootstrap peer while K is still kept.
    const before = bootstrapConnects
    await j.block([a.peerId])
    j.unblock([a.peerId])
    await waitFor('the redial to reach A', () => bootstrapConnects > before)
    await waitFor('J to let A go again', () => !j.connectedPeers().includes(a.peerId), 5_000)
    // And for good: not redialled by libp2p's keep-alive (a tag left on it made it flap).
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    assert.equal(bootstrapConnects, before + 1, 'the bootstrap was dialled again after it was let go')
    assert.ok(j.connectedPeers().includes(k.peerId))
  })

  it('hands accepted gossip to gossipGate before any handler; refuses blockedPeers from the start, until unblock()', async (t) => {
    const hosts: P2PHost[] = []
    t.after(async () => await Promise.all(hosts.map(async (h) => await h.stop())))
    const a = await createHost()
    hosts.push(a)
    let gated = 0
    let open = false
    const b = await createHost({
      bootstrap: a.multiaddrs(),
      gossipGate: (deliver) => {
        gated++
        if (open) deliver()
      }
    })
    hosts.push(b)
    const c = await createHost({ bootstrap: a.multiaddrs(), blockedPeers: [a.peerId], redialIntervalMs: 100 })
    hosts.push(c)
    let handled = 0
    b.onMessage(() => {
      handled++
    })
    await waitFor('B to join A', () => b.connectedPeers().includes(a.peerId))
    let sent = 0
    await waitFor('a message at the gate', () => {
      if (gated === 0) void a.publish(encoder.encode(`held ${sent++}`), TOPIC)
      return gated > 0
    })
    assert.equal(handled, 0, 'a message the gate holds reaches no handler')
    open = true
    await publishUntilReceived(a, b, 5_000)

    // Several redial periods: C never dials its bootstrap, and A's dials to it would be refused.
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.ok(!c.connectedPeers().includes(a.peerId), 'C refused A from its start')
    c.unblock([a.peerId])
    await waitFor('C to reach A once unblocked', () => c.connectedPeers().includes(a.peerId))
  })
})

describe('P2PHost: three nodes, B and C bootstrap to A', () => {
  let keyA: PrivateKey
  let portA: number
  let a: P2PHost
  let b: P2PHost
  let c: P2PHost
  const hosts: P2PHost[] = []

  before(async () => {
    keyA = await generateKeyPair('Ed25519')
    a = await createHost({ privateKey: keyA })
    portA = portOf(a)
    b = await createHost({ bootstrap: a.multiaddrs(), helloTimeoutMs: 400 })
    c = await createHost({ bootstrap: a.multiaddrs() })
    hosts.push(a, b, c)
  })

  after(async () => {
    await Promise.all(hosts.map(async (h) => await h.stop()))
  })

  it("relays C's message to B through A; keepConnected gives B a direct connection to C", async () => {
    const joined = await waitFor(
      'B and C to connect to A',
      () => b.connectedPeers().includes(a.peerId) && c.connectedPeers().includes(a.peerId)
    )
    assert.ok(!b.connectedPeers().includes(c.peerId), 'B knows only its bootstrap')
    const relayed = await publishUntilReceived(c, b)

    const cSawB = new Promise<void>((resolve) => {
      const off = c.onPeerConnected((peer) => {
        if (peer === b.peerId) {
          off()
          resolve()
        }
      })
    })
    await b.keepConnected(c.peerId, c.multiaddrs())
    assert.ok(b.connectedPeers().includes(c.peerId))
    await cSawB
    // Repeats are cheap no-ops; a second peer would not exceed maxKeptPeers here anyway.
    await b.keepConnected(c.peerId, c.multiaddrs())
    await b.keepConnected(b.peerId, b.multiaddrs())
    await b.keepConnected('not-a-peer-id', ['/not/an/addr'])
    console.log(`# joined A in ${joined} ms, first relayed message after ${relayed} ms`)
  })

  it('unsubscribe() leaves a topic: messages on it stop arriving, until it is subscribed to again', async () => {
    await publishUntilReceived(c, b)
    await waitFor('B to have a mesh peer on the topic', () => b.meshPeers(TOPIC) > 0)
    b.unsubscribe(TOPIC)
    assert.equal(b.meshPeers(TOPIC), 0, 'leaving a topic leaves its mesh')
    let heard = 0
    const off = b.onMessage(() => heard++)
    try {
      // A mesh takes a heartbeat (1 s) to drop a leaver; published after that, nothing may arrive.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      heard = 0
      for (let i = 0; i < 5; i++) await c.publish(encoder.encode(`after leaving ${i}`), TOPIC)
      await new Promise((resolve) => setTimeout(resolve, 1000))
      assert.equal(heard, 0)
    } finally {
      off()
    }
    b.subscribe(TOPIC)
    await publishUntilReceived(c, b)
  })

  it('answers hello both ways, up to 1 MiB', async () => {
    // Asked before A's replicator has said what to answer (libp2p redials saved peers the moment it
    // starts): the answer waits for the provider instead of resetting the stream.
    const early = b.requestHello(a.peerId)
    await new Promise((resolve) => setTimeout(resolve, 100))
    a.handleHello(() => encoder.encode(`hello from A`))
    assert.equal(decoder.decode(await early), 'hello from A')
    b.handleHello(async () => encoder.encode(`hello from B`))
    c.handleHello(() => encoder.encode(`hello from C`))
    assert.equal(decoder.decode(await b.requestHello(c.peerId)), 'hello from C')
    assert.equal(decoder.decode(await c.requestHello(b.peerId)), 'hello from B')
    assert.equal(decoder.decode(await b.requestHello(a.peerId)), 'hello from A')
    assert.equal(decoder.decode(await a.requestHello(c.peerId)), 'hello from C')

    const big = new Uint8Array(MAX_HELLO_BYTES).fill(7)
    c.handleHello(() => big)
    assert.deepEqual(await b.requestHello(c.peerId), big)
    c.handleHello(() => new Uint8Array(MAX_HELLO_BYTES + 1))
    // The remote refuses to send an oversized answer, and a provider that throws: both reset the stream.
    await assert.rejects(b.requestHello(c.peerId), { name: 'StreamResetError' })
    c.handleHello(() => {
      throw new Error('provider failed')
    })
    await assert.rejects(b.requestHello(c.peerId), { name: 'StreamResetError' })
    c.handleHello(() => encoder.encode('hello from C'))
  })

  it('bounds hello by the timeout and by the caller signal when the remote hangs', async () => {
    c.handleHello(async () => await new Promise<Uint8Array>(() => {}))
    let start = Date.now()
    await assert.rejects(b.requestHello(c.peerId), { name: 'HelloTimeoutError', code: 'SEGMESH_ERR_HELLO_TIMEOUT' })
    const timedOut = Date.now() - start
    assert.ok(timedOut >= 350 && timedOut < 2_000, `timed out after ${timedOut} ms (timeout 400 ms)`)

    start = Date.now()
    await assert.rejects(c.requestHello(a.peerId, { signal: AbortSignal.abort(new Error('caller gave up')) }), {
      message: 'caller gave up'
    })
    a.handleHello(async () => await new Promise<Uint8Array>(() => {}))
    await assert.rejects(c.requestHello(a.peerId, { signal: AbortSignal.timeout(200) }), { name: 'TimeoutError' })
    assert.ok(Date.now() - start < 2_000)
    c.handleHello(() => encoder.encode('hello from C'))
    a.handleHello(() => encoder.encode('hello from A'))
    assert.equal(decoder.decode(await b.requestHello(c.peerId)), 'hello from C', 'still answers after a hung request')
  })

  it('keeps B and C connected and talking after A stops', async () => {
    const lostA = new Promise<void>((resolve) => {
      const off = b.onPeerDisconnected((peer) => {
        if (peer === a.peerId) {
          off()
          resolve()
        }
      })
    })
    await a.stop()
    await lostA
    await waitFor('C to notice A left', () => !c.connectedPeers().includes(a.peerId))
    assert.ok(b.connectedPeers().includes(c.peerId))
    assert.ok(c.connectedPeers().includes(b.peerId))
    await publishUntilReceived(c, b, 5_000)
    await publishUntilReceived(b, c, 5_000)
  })

  it('B and C reconnect by themselves to A restarted with the same key and port', async () => {
    const start = Date.now()
    a = await createHost({ privateKey: keyA, listenPort: portA })
    hosts.push(a)
    assert.equal(portOf(a), portA)
    await waitFor('B and C to reconnect to A', () => b.connectedPeers().includes(a.peerId) && c.connectedPeers().includes(a.peerId), 15_000)
    console.log(`# B and C back on A ${Date.now() - start} ms after its restart`)
    await publishUntilReceived(a, b, 5_000)
  })

  it('block() cuts and refuses connections; unblock() lets them back', async () => {
    let bAcceptedC = false
    const off = b.onPeerConnected((peer) => {
      if (peer === c.peerId) bAcceptedC = true
    })
    await b.block([c.peerId])
    await waitFor('B and C to drop each other', () => !b.connectedPeers().includes(c.peerId) && !c.connectedPeers().includes(b.peerId))
    // Both try the way gossip would make them (C's KEEP_ALIVE redials too): B's gater refuses.
    await c.keepConnected(b.peerId, b.multiaddrs())
    await b.keepConnected(c.peerId, c.multiaddrs())
    // C's side of a refused dial can look open for a moment; B's never does.
    await waitFor('C to see the refusal', () => !c.connectedPeers().includes(b.peerId))
    assert.ok(!b.connectedPeers().includes(c.peerId))
    assert.ok(!bAcceptedC, 'B never accepted C while blocked')
    assert.ok(b.connectedPeers().includes(a.peerId), 'other peers are untouched')
    off()

    b.unblock([c.peerId])
    const back = await waitFor(
      'B and C to reconnect after unblock',
      () => b.connectedPeers().includes(c.peerId) && c.connectedPeers().includes(b.peerId)
    )
    await publishUntilReceived(c, b, 5_000)
    console.log(`# B and C reconnected ${back} ms after unblock`)
  })

  it('stop() closes every socket', async () => {
    await Promise.all(hosts.map(async (h) => await h.stop()))
    await waitFor('TCP handles to close', () => !process.getActiveResourcesInfo().some((r) => r.startsWith('TCP')), 5_000)
  })
})
