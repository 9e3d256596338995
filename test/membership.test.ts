/**
 * Membership at small scale, with real processes: peer exchange lets the side of a partition
 * without the bootstrap node talk to itself, and the address book brings a node restarted on new
 * ports, without a bootstrap list, back into the network. Then, in one process, 20 nodes joined
 * through one bootstrap stay one network once it stops.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TestContext, describe, it } from 'node:test'
import { request } from 'undici'
import { freePorts } from '../lib/free-ports.ts'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { ChildNode } from '../simulations/child-node.ts'
import { type SyntheticSegment, synthesize } from '../simulations/segments.ts'
import { ONE_HOST_FLAGS } from '../simulations/sim-node.ts'
import { hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'

const BASE = hourStart(Date.now() * 1000)
let serial = 0
const segment = (): SyntheticSegment =>
  synthesize({ seed: `membership-${process.pid}-${serial}`, size: 4096, quality: 'source', slot: serial++ }, BASE)

async function holds(url: string, seg: SyntheticSegment): Promise<boolean> {
  // only-if-cached: what the node itself holds, not what it could read through from a peer.
  const res = await request(`${url}/segments/${seg.path}`, { method: 'HEAD', headers: { 'cache-control': 'only-if-cached' } }).catch(
    () => null
  )
  await res?.body.dump()
  return res?.statusCode === 200
}

/** Peer ids a node's /status lists as kept (a direct connection it maintains). */
async function keptPeers(url: string): Promise<string[]> {
  const res = await request(`${url}/status`)
  const status = (await res.body.json()) as { peers?: Array<{ peerId: string; kept: boolean }> }
  return (status.peers ?? []).filter((p) => p.kept).map((p) => p.peerId)
}

/** Child nodes in one temp folder, killed and removed when the test ends. */
async function childNodes(
  t: TestContext,
  digestIntervalSeconds: number
): Promise<{ make: (id: number, dirName?: string) => Promise<ChildNode> }> {
  const root = await mkdtemp(join(tmpdir(), 'segmesh-membership-'))
  const nodes: ChildNode[] = []
  t.after(async () => {
    await Promise.all(nodes.map(async (n) => await n.kill()))
    await rm(root, { recursive: true, force: true })
  })
  return {
    make: async (id, dirName = `n${id}`) => {
      const [httpPort, p2pPort] = (await freePorts(2)) as [number, number]
      const dir = join(root, dirName)
      await mkdir(dir, { recursive: true })
      const node = new ChildNode({ id, dir, httpPort, p2pPort, publicUrl: `http://127.0.0.1:${httpPort}`, digestIntervalSeconds, seed: 1 })
      nodes.push(node)
      return node
    }
  }
}

describe('membership with real processes', () => {
  it('a partition that leaves the bootstrap on one side: the other side converges within itself', async (t) => {
    // The production interval: no digest exchange falls in the seconds before the cut, so only
    // peer exchange can have told nodes 2, 3 and 4 about each other.
    const { make } = await childNodes(t, 30)
    const nodes = await Promise.all([0, 1, 2, 3, 4].map(async (i) => await make(i)))
    await nodes[0]!.start(null)
    await Promise.all(nodes.slice(1).map(async (n) => await n.start(nodes[0]!.multiaddr)))
    const joined = Date.now()
    await until(
      'every node to know the other four',
      async () => (await Promise.all(nodes.map(async (n) => (await n.counters()).peersKnown))).every((k) => k >= 4),
      10_000
    )
    await new Promise((resolve) => setTimeout(resolve, joined + 3000 - Date.now()))
    const sideA = nodes.slice(0, 2)
    const sideB = nodes.slice(2)
    const cut = async (from: ChildNode[], to: ChildNode[]): Promise<void> => {
      await Promise.all(
        from.map(
          async (n) => await n.setFaults({ peerIds: to.map((o) => o.peerId!), urls: to.map((o) => o.publicUrl) }, { loss: 0, delayMs: 0 })
        )
      )
    }
    await cut(sideA, sideB)
    await cut(sideB, sideA)
    const onB = [segment(), segment()]
    const onA = segment()
    await nodes[2]!.write(onB[0]!)
    await nodes[4]!.write(onB[1]!)
    await nodes[0]!.write(onA)
    const started = Date.now()
    await until(
      'side B (without the bootstrap) to hold what it recorded',
      async () => {
        for (const n of sideB) for (const s of onB) if (!(await holds(n.url, s))) return false
        return true
      },
      10_000
    )
    const sideBMs = Date.now() - started
    await until('side A to hold its own segment', async () => await holds(nodes[1]!.url, onA), 10_000)
    for (const n of sideA) for (const s of onB) assert.equal(await holds(n.url, s), false, 'nothing crossed the cut')

    await Promise.all(nodes.map(async (n) => await n.setFaults({ peerIds: [], urls: [] }, { loss: 0, delayMs: 0 })))
    const healed = Date.now()
    await until(
      'every node to hold every segment after the heal',
      async () => {
        for (const n of nodes) for (const s of [...onB, onA]) if (!(await holds(n.url, s))) return false
        return true
      },
      30_000
    )
    console.log(`# side B converged ${sideBMs} ms into the partition; everyone ${Date.now() - healed} ms after the heal`)
  })

  it('the first node, restarted on new ports without --bootstrap, finds its peers in its address book and catches up', async (t) => {
    const { make } = await childNodes(t, 2)
    const first = await make(0, 'first')
    await first.start(null)
    const others = [await make(1), await make(2)]
    await Promise.all(others.map(async (n) => await n.start(first.multiaddr)))
    await until(
      'everyone to know the other two',
      async () => (await Promise.all([first, ...others].map(async (n) => (await n.counters()).peersKnown))).every((k) => k >= 2),
      20_000
    )
    // Stopped once it keeps both: a graceful stop then finishes saving them (with their addresses).
    await until('the first node to keep a connection to both others', async () => (await keptPeers(first.url)).length >= 2, 20_000)
    await first.stop()
    const missed = segment()
    await others[0]!.write(missed)
    await until('the other node to hold the segment', async () => await holds(others[1]!.url, missed), 10_000)

    // Same data folder, fresh ports, no --bootstrap: only the saved address book knows the network.
    const again = await make(0, 'first')
    assert.notEqual(again.url, first.url)
    // Timed from the moment it is up: starting a process on a loaded 2-core box alone took 10 s.
    await again.start(null)
    const started = Date.now()
    await until('the restarted node to catch up', async () => await holds(again.url, missed), 20_000)
    const caughtUpMs = Date.now() - started
    // Its peers learn its new address from its connection; a segment recorded now reaches them.
    const fresh = segment()
    await again.write(fresh)
    await until(
      'a new segment of the restarted node to reach both others',
      async () => (await holds(others[0]!.url, fresh)) && (await holds(others[1]!.url, fresh)),
      10_000
    )
    console.log(`# restarted node caught up ${caughtUpMs} ms after it was up`)
  })
})

describe('peer exchange in one process', () => {
  it('20 nodes joined through one bootstrap stay one network after it stops', async (t) => {
    // The production interval: within the test no digest exchange is due, so what nodes know of
    // each other came from peer exchange.
    // Twenty nodes on one IP: the per-IP limits of a real network are lifted, as in the simulations.
    const options = { digestIntervalSeconds: 30, extra: { ...ONE_HOST_FLAGS } }
    const bootstrap = await startNode(t, options)
    const nodes: SegmeshNode[] = []
    for (let i = 0; i < 19; i++) nodes.push(await startNode(t, { ...options, bootstrap: [bootstrap] }))
    const joined = Date.now()
    await until('each node to know 8 peers', () => nodes.every((n) => n.replicator!.peers.size >= 8), 5000)
    const knewMs = Date.now() - joined
    await new Promise((resolve) => setTimeout(resolve, joined + 5000 - Date.now()))
    const counts = nodes.map((n) => n.host!.connectedPeers().length).sort((a, b) => a - b)
    const bootstrapConnections = bootstrap.host!.connectedPeers().length
    await bootstrap.stop(0)
    for (const origin of [nodes[0]!, nodes[9]!, nodes[18]!]) {
      const seg = segment()
      await origin.store.recordSegment(
        { channel: seg.ref.channel, quality: seg.ref.quality, start: seg.ref.start, duration: seg.ref.duration, type: 'full' },
        seg.bytes
      )
      await until(
        `a segment recorded on one node to reach all 19 (${seg.path})`,
        async () => nodes.every((n) => n.index.getSegment(seg.ref) != null),
        20_000
      )
    }
    console.log(
      `# every node knew 8 peers ${knewMs} ms after the last joined; connections before the bootstrap stopped: bootstrap ${bootstrapConnections}, others median ${counts[9]} max ${counts[18]}`
    )
  })
})
