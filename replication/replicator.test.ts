/**
 * The replicator's anti-entropy and repair logic against in-memory fakes of its host (links,
 * hellos, offers, gossip delivered by direct calls) and fetcher (peers' range answers read from
 * their indexes, downloads copied from their stores). The stores are real (LMDB in a temp folder):
 * what is compared and repaired is what a node holds. No sockets, no timers to wait out.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type TestContext, describe, it } from 'node:test'
import { silentLogger } from '../lib/logger.ts'
import { type SegmentRef, parseSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import { type OpenedStore, bytesFor, openStore } from '../test/helpers/tree.ts'
import type { FetchOutcome } from './fetcher.ts'
import { announceMessages, encodeMessage } from './messages.ts'
import { rangeNames, rangeParts, splitRange } from './ranges.ts'
import { type GossipHost, Replicator, type SegmentFetcher } from './replicator.ts'

type Handler<A extends unknown[]> = (...args: A) => void

/** Nodes joined by links; a link is a connection both ends see open. */
class FakeNet {
  readonly nodes = new Map<string, FakeNode>()
  readonly #links = new Set<string>()

  linked(a: string, b: string): boolean {
    return this.#links.has([a, b].sort().join('|'))
  }

  connect(a: FakeNode, b: FakeNode): void {
    this.#links.add([a.peerId, b.peerId].sort().join('|'))
    for (const h of a.connectHandlers) h(b.peerId)
    for (const h of b.connectHandlers) h(a.peerId)
  }

  byUrl(url: string): FakeNode {
    const node = [...this.nodes.values()].find((n) => n.url === url)
    if (node == null) throw Object.assign(new Error(`no node at ${url}`), { code: 'ECONNREFUSED' })
    return node
  }
}

interface WantRecord {
  ref: SegmentRef
  peers: string[]
}

class FakeNode {
  readonly url: string
  readonly connectHandlers: Array<Handler<[string]>> = []
  readonly messageHandlers: Array<Handler<[string, Uint8Array]>> = []
  readonly offerHandlers: Array<Handler<[string, Uint8Array]>> = []
  helloProvider: ((version: 1 | 2, asker: string) => Uint8Array | Promise<Uint8Array>) | null = null
  /** Every want() the replicator made, with its candidate peers. */
  readonly wants: WantRecord[] = []
  /** Per peer URL, the downloads it served. */
  readonly servedBy = new Map<string, number>()
  /** Gossip messages this node published. */
  published = 0
  /** Bytes of the range and name answers this node was given (as JSON). */
  answerBytes = 0
  /** What the replicator asked of its fetcher, in order: a range or names request, or a download. */
  readonly calls: Array<'json' | 'want'> = []
  /** While set, downloads wait for it (a slow fetcher). */
  wantGate: Promise<void> | null = null
  replicator!: Replicator

  readonly net: FakeNet
  readonly peerId: string
  readonly opened: OpenedStore

  constructor(net: FakeNet, peerId: string, opened: OpenedStore) {
    this.net = net
    this.peerId = peerId
    this.opened = opened
    this.url = `http://${peerId.toLowerCase()}.test`
    net.nodes.set(peerId, this)
  }

  get host(): GossipHost {
    const net = this.net
    const others = (): FakeNode[] => [...net.nodes.values()].filter((n) => n !== this && net.linked(this.peerId, n.peerId))
    const sub = <A extends unknown[]>(list: Array<Handler<A>>, h: Handler<A>): (() => void) => {
      list.push(h)
      return () => list.splice(list.indexOf(h), 1)
    }
    return {
      peerId: this.peerId,
      multiaddrs: () => [],
      connectedPeers: () => others().map((n) => n.peerId),
      publish: async (data) => {
        this.published++
        for (const n of others()) for (const h of n.messageHandlers) h(this.peerId, data)
        return others().length
      },
      onMessage: (h) => sub(this.messageHandlers, h),
      onPeerConnected: (h) => sub(this.connectHandlers, h),
      handleHello: (provider) => {
        this.helloProvider = provider
      },
      requestHello: async (peerId) => await net.nodes.get(peerId)!.helloProvider!(2, this.peerId),
      keepConnected: async () => {},
      sendOffer: async (peerId, data) => {
        for (const h of net.nodes.get(peerId)!.offerHandlers) h(this.peerId, data)
      },
      onOffer: (h) => sub(this.offerHandlers, h)
    }
  }

  /** A peer's range answers come from its index, as its HTTP routes give them; downloads copy its file. */
  get fetcher(): SegmentFetcher {
    const net = this.net
    return {
      listHour: async () => {
        throw new Error('version 1 listings are not used between these nodes')
      },
      getJson: async (peerUrl, path) => {
        this.calls.push('json')
        const { index } = net.byUrl(peerUrl).opened
        const url = new URL(path, 'http://x')
        const q = (k: string): string => url.searchParams.get(k)!
        const [channel, quality, from, to] = [q('channel'), q('quality'), Number(q('from')), Number(q('to'))]
        const answer =
          url.pathname === '/replication/ranges'
            ? { parts: rangeParts(index, channel, quality, splitRange(from, to)!).map((p) => [p.fp, p.count]) }
            : url.pathname === '/replication/names'
              ? rangeNames(index, channel, quality, from, to)
              : null
        if (answer == null) throw new Error(`unexpected ${path}`)
        this.answerBytes += JSON.stringify(answer).length
        return answer
      },
      want: async (ref, peers): Promise<FetchOutcome> => {
        this.wants.push({ ref, peers: [...peers] })
        this.calls.push('want')
        await this.wantGate
        if (this.opened.index.getSegment(ref) != null) return { status: 'present' }
        // The least used candidate that holds it, as the real fetcher spreads its downloads.
        const holders = peers.filter((p) => net.byUrl(p).opened.index.getSegment(ref) != null)
        const source = holders.sort((a, b) => (this.servedBy.get(a) ?? 0) - (this.servedBy.get(b) ?? 0))[0]
        if (source == null) return { status: 'failed', attempts: 1, lastError: 'no holder' }
        this.servedBy.set(source, (this.servedBy.get(source) ?? 0) + 1)
        const bytes = await readFile(join(net.byUrl(source).opened.segmentsDir, segmentRelPath(ref)))
        const { size } = await this.opened.store.writeSegment(ref, [bytes])
        return { status: 'stored', peer: source, bytes: size }
      }
    }
  }
}

/** The hour before this one: in the window, and every segment of it in the past (a future one waits for its start). */
const HOUR = hourStart(Date.now() * 1000) - MICROS_PER_HOUR

/** A network of fresh nodes (names sort as their peer ids do), each replicator started and stopped with the test. */
async function network(
  t: TestContext,
  names: string[],
  options: { announce?: boolean } = {}
): Promise<{ net: FakeNet; nodes: FakeNode[] }> {
  const net = new FakeNet()
  const nodes: FakeNode[] = []
  for (const name of names) {
    const node = new FakeNode(net, name, await openStore(t))
    // Announcements off unless asked for: only exchanges and walks move names here.
    node.replicator = new Replicator({
      store: node.opened.store,
      host: node.host,
      fetcher: node.fetcher,
      url: node.url,
      log: silentLogger,
      announce: options.announce ?? false
    })
    await node.replicator.start()
    t.after(async () => await node.replicator.stop())
    nodes.push(node)
  }
  return { net, nodes }
}

/** `count` segments of the current hour on each node given (the same bytes: the same names). */
async function record(nodes: FakeNode[], count: number, seed: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const segment = { channel: 'c', quality: 'q', start: HOUR + i * 2_000_000, duration: 2_000_000, type: 'full' as const }
    for (const node of nodes) await node.opened.store.recordSegment(segment, [bytesFor(`${seed}-${i}`)])
  }
}

const names = (node: FakeNode): number => node.opened.index.listHour('c', 'q', HOUR).length

describe('replicator against in-memory fakes', () => {
  it("a one-sided exchange walks at once, even from the end with the larger id (only a new connection's mutual hellos defer)", async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB'])
    const [small, large] = nodes
    net.connect(small!, large!)
    await large!.replicator.syncNow()
    await record([small!], 5, 'one-sided')
    // The larger id asks alone: the smaller end saw nothing and would never walk for it.
    await large!.replicator.syncNow()
    assert.equal(names(large!), 5)
    assert.equal(large!.replicator.stats.repairsDeferred, 0)
  })

  it('names a walk finds missing are asked of every connected holder of the same root, not only the walked peer', async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB', 'PeerC', 'PeerD'])
    const [a, b, c, d] = nodes
    await record([a!, b!, c!], 12, 'holders')
    for (const holder of [a!, b!, c!]) net.connect(d!, holder)
    await Promise.all([a, b, c, d].map(async (n) => await n!.replicator.syncNow()))
    assert.equal(names(d!), 12)
    // Some wants name more than one source, and the downloads are spread over the holders.
    assert.ok(
      d!.wants.some((w) => w.peers.length >= 2),
      `every want named one peer: ${JSON.stringify(d!.wants.map((w) => w.peers))}`
    )
    assert.ok(d!.servedBy.size >= 2, `all downloads from ${[...d!.servedBy.keys()]}`)
  })

  it('a tombstone is announced by the node that made it, not again by each node that applies it (N nodes would make N² deliveries)', async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB', 'PeerC'], { announce: true })
    const [a, b, c] = nodes
    await record([a!, b!, c!], 3, 'tombstone')
    // A line: a – b – c. The fake host does not relay, so c can learn it only by a walk.
    net.connect(a!, b!)
    net.connect(b!, c!)
    await Promise.all(nodes.map(async (n) => await n.replicator.syncNow()))
    await sleep(200) // the recordings' own announcements (batched 50 ms) are out
    const before = nodes.map((n) => n.published)
    const file = a!.opened.index.listHour('c', 'q', HOUR)[0]!
    const parsed = parseSegmentRef('c', 'q', formatHour(HOUR), file)
    assert.ok(parsed.ok)
    const victim = parsed.value
    await a!.opened.store.writeTombstone(victim)
    const deadline = Date.now() + 5_000
    while (!b!.opened.index.isTombstoned(victim) && Date.now() < deadline) await sleep(10)
    assert.ok(b!.opened.index.isTombstoned(victim), 'b did not apply the announced tombstone')
    await sleep(200) // past the 50 ms announcement batch
    assert.equal(a!.published - before[0]!, 1, 'the maker announces it')
    assert.equal(b!.published - before[1]!, 0, 'b announced a tombstone it received')
    assert.equal(b!.replicator.stats.tombstonesPassedOn, 0, 'b passed on a tombstone gossip brought')
    // c still gets it: its walk of b lists tombstones.
    await c!.replicator.syncNow()
    assert.ok(c!.opened.index.isTombstoned(victim))
    assert.equal(c!.published - before[2]!, 0, 'c announced a tombstone a walk brought')
  })

  it("a new connection's first hello brings the peer's newest segments: they are asked for before any walk", async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB'])
    const [empty, holder] = nodes
    await record([holder!], 10, 'newest')
    net.connect(empty!, holder!)
    await empty!.replicator.syncNow()
    assert.equal(names(empty!), 10)
    assert.equal(empty!.calls[0], 'want', `asked in this order: ${empty!.calls.join(' ')}`)
  })

  it('a node that a walk or an offer brought many names asks its other peers for an exchange at once (a heal goes hop by hop)', async (t) => {
    // A line: a holds the names; b is linked to a and c; c only to b.
    const { net, nodes } = await network(t, ['PeerA', 'PeerB', 'PeerC'])
    const [a, b, c] = nodes
    await record([a!], 12, 'hops')
    net.connect(b!, c!)
    net.connect(a!, b!)
    const deadline = Date.now() + 10_000
    while (names(c!) < 12 && Date.now() < deadline) await sleep(10)
    assert.equal(names(b!), 12)
    assert.equal(names(c!), 12)
    assert.ok(b!.replicator.stats.spreads >= 1, 'b did not tell c')
  })

  it('a tombstone a walk brings with few names is offered on to the other peers (it missed its announcement)', async (t) => {
    // A line: a – b – c, all holding the same names; announcements are off, so a tombstone moves only by walks and offers.
    const { net, nodes } = await network(t, ['PeerA', 'PeerB', 'PeerC'])
    const [a, b, c] = nodes
    await record([a!, b!, c!], 3, 'lone')
    net.connect(a!, b!)
    net.connect(b!, c!)
    await Promise.all(nodes.map(async (n) => await n.replicator.syncNow()))
    const victim = parseSegmentRef('c', 'q', formatHour(HOUR), a!.opened.index.listHour('c', 'q', HOUR)[0]!)
    assert.ok(victim.ok)
    await a!.opened.store.writeTombstone(victim.value)
    await b!.replicator.syncNow()
    assert.ok(b!.opened.index.isTombstoned(victim.value), 'the walk of a did not bring b the tombstone')
    assert.equal(b!.replicator.stats.tombstonesPassedOn, 1, 'b did not offer it on')
    const deadline = Date.now() + 10_000
    while (!c!.opened.index.isTombstoned(victim.value) && Date.now() < deadline) await sleep(10)
    assert.ok(c!.opened.index.isTombstoned(victim.value))
    // c's only other peer is b, who sent it: c has no one to pass it on to.
    assert.equal(c!.replicator.stats.tombstonesPassedOn, 0)
  })

  it('a tombstone that comes with many names rides the exchanges they start instead of being offered on', async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB', 'PeerC'])
    const [a, b, c] = nodes
    await record([a!, b!, c!], 3, 'shared')
    const victim = parseSegmentRef('c', 'q', formatHour(HOUR), a!.opened.index.listHour('c', 'q', HOUR)[0]!)
    assert.ok(victim.ok)
    await a!.opened.store.writeTombstone(victim.value)
    await record([a!], 12, 'more')
    net.connect(b!, c!)
    net.connect(a!, b!)
    const deadline = Date.now() + 10_000
    while ((names(c!) < 14 || !c!.opened.index.isTombstoned(victim.value)) && Date.now() < deadline) await sleep(10)
    assert.ok(c!.opened.index.isTombstoned(victim.value))
    assert.equal(b!.replicator.stats.tombstonesPassedOn, 0, 'b offered on a tombstone that came with 12 names')
  })

  it("a peer's offers are judged together: tombstones offered alone go on, with a name this node lacks they do not", async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB', 'PeerC'])
    const [a, b, c] = nodes
    await record([a!, b!, c!], 3, 'offered')
    net.connect(a!, b!)
    net.connect(b!, c!)
    await Promise.all(nodes.map(async (n) => await n.replicator.syncNow()))
    const files = a!.opened.index.listHour('c', 'q', HOUR)
    const ref = (file: string): SegmentRef => {
      const parsed = parseSegmentRef('c', 'q', formatHour(HOUR), file)
      assert.ok(parsed.ok)
      return parsed.value
    }
    // Delivered as a's walk would offer them, in two messages.
    const offer = (...items: Parameters<typeof announceMessages>[1]): void => {
      for (const m of announceMessages({ peerId: a!.peerId, url: a!.url, addrs: [] }, items))
        for (const h of b!.offerHandlers) h(a!.peerId, encodeMessage(m))
    }
    offer({ kind: 'tombstone', ref: ref(files[0]!) })
    offer({ kind: 'tombstone', ref: ref(files[1]!) })
    const deadline = Date.now() + 10_000
    while (b!.replicator.stats.tombstonesPassedOn < 2 && Date.now() < deadline) await sleep(10)
    assert.equal(b!.replicator.stats.tombstonesPassedOn, 2, 'tombstones offered alone were not passed on')
    while (!c!.opened.index.isTombstoned(ref(files[1]!)) && Date.now() < deadline) await sleep(10)
    assert.ok(c!.opened.index.isTombstoned(ref(files[1]!)))
    // Now a tombstone, then a segment b lacks in the next message of the same walk: the names start exchanges instead.
    await record([a!], 1, 'only-a')
    const lacked = a!.opened.index.listHour('c', 'q', HOUR).find((f) => !files.includes(f))!
    offer({ kind: 'tombstone', ref: ref(files[2]!) })
    offer({ kind: 'segment', ref: ref(lacked) })
    while (!b!.opened.index.isTombstoned(ref(files[2]!)) && Date.now() < deadline) await sleep(10)
    await sleep(1_500) // past the quiet second
    assert.equal(b!.replicator.stats.tombstonesPassedOn, 2, 'a tombstone that came with a name b lacked was passed on')
  })

  it('a walk that offered names is not walked again while the peer fetches them (its roots still differ)', async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB'])
    const [a, b] = nodes
    await record([a!, b!], 20, 'settle')
    net.connect(a!, b!)
    await Promise.all([a!.replicator.syncNow(), b!.replicator.syncNow()])
    let open = (): void => {}
    b!.wantGate = new Promise((resolve) => {
      open = resolve
    })
    const segment = { channel: 'c', quality: 'q', start: HOUR + 3_000_000_000, duration: 2_000_000, type: 'full' as const }
    await a!.opened.store.recordSegment(segment, [bytesFor('offered')])
    const walks = a!.replicator.stats.repairs
    await a!.replicator.syncNow()
    assert.equal(a!.replicator.stats.repairs, walks + 1, 'a walked b and offered it the name')
    // b is still fetching it: a's next rounds find the roots different, and wait instead of walking again.
    await a!.replicator.syncNow()
    await a!.replicator.syncNow()
    assert.equal(a!.replicator.stats.repairs, walks + 1)
    assert.ok(a!.replicator.stats.repairsDeferred >= 2)
    open()
    const deadline = Date.now() + 10_000
    while (names(b!) < 21 && Date.now() < deadline) await sleep(10)
    assert.equal(names(b!), 21)
  })

  it('a peer URL sent by someone else as "walking us" holds a walk off for a few seconds, not for good', async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB'])
    const [a, b] = nodes
    net.connect(a!, b!)
    await Promise.all([a!.replicator.syncNow(), b!.replicator.syncNow()])
    // Someone keeps telling each node that the other is walking it (the header names any URL).
    const spoof = setInterval(() => {
      a!.replicator.walkedBy(b!.url)
      b!.replicator.walkedBy(a!.url)
    }, 100)
    t.after(() => clearInterval(spoof))
    a!.replicator.walkedBy(b!.url)
    b!.replicator.walkedBy(a!.url)
    // Later hellos on a connection carry no newest names: only a walk brings these to b.
    await record([a!], 10, 'spoofed')
    await b!.replicator.syncNow()
    assert.equal(names(b!), 0, 'held off while "walked"')
    const deadline = Date.now() + 20_000
    while (names(b!) < 10 && Date.now() < deadline) await sleep(50)
    assert.equal(names(b!), 10)
  })

  it('the range walk moves only what differs: one missing name costs one short listing, not the hour', async (t) => {
    const { net, nodes } = await network(t, ['PeerA', 'PeerB'])
    const [a, b] = nodes
    await record([a!, b!], 200, 'shared')
    net.connect(a!, b!)
    await Promise.all([a!.replicator.syncNow(), b!.replicator.syncNow()])
    const segment = { channel: 'c', quality: 'q', start: HOUR + 3_000_000_000, duration: 2_000_000, type: 'full' as const }
    await a!.opened.store.recordSegment(segment, [bytesFor('the-one')])
    // The smaller id walks and offers b what it lacks; b fetches it from a.
    const [walks, bytes] = [a!.replicator.stats.repairs, a!.answerBytes]
    await a!.replicator.syncNow()
    // b's download runs in its own task: wait for it (bounded).
    const deadline = Date.now() + 10_000
    while (names(b!) < 201 && Date.now() < deadline) await sleep(10)
    assert.equal(names(b!), 201)
    // Only the one name was wanted (a warm-up round racing the call may want it again).
    assert.deepEqual([...new Set(b!.wants.map((w) => w.ref.start))], [segment.start])
    const perWalk = (a!.answerBytes - bytes) / (a!.replicator.stats.repairs - walks)
    assert.ok(perWalk < 8 * 1024, `${perWalk} bytes of answers per walk for one name of 201`)
  })
})
