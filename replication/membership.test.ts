/** Membership against an in-memory host: what peer exchange passes on, learns, and dials. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pruneAddressBook } from './address-book.ts'
import { KeepFilter } from './keep.ts'
import { MEMBERSHIP_DEFAULTS, Membership, type MembershipHost } from './membership.ts'
import { MAX_HELLO_PEERS, type KnownPeer } from './messages.ts'
import { PeerTable } from './peer-table.ts'
import type { PeerStore } from '@libp2p/interface'

/** A peer id-shaped string (base58 alphabet) per number. */
const id = (n: number): string => `12D3KooW${'A'.repeat(10)}${String(n).replace(/0/g, 'z')}x`
const info = (n: number, lastSeen = Date.now()): KnownPeer => ({
  peerId: id(n),
  url: `http://10.0.0.${n}:8080`,
  addrs: [`/ip4/10.0.0.${n}/tcp/4001`],
  lastSeen
})

class FakeHost implements MembershipHost {
  readonly peerId = id(0)
  connected = new Set<string>()
  kept = new Set<string>()
  offered: string[] = []
  max: number = MEMBERSHIP_DEFAULTS.keep
  connectedPeers(): string[] {
    return [...this.connected]
  }
  keptPeers(): string[] {
    return [...this.kept]
  }
  async keepConnected(peerId: string): Promise<void> {
    this.offered.push(peerId)
    if (this.kept.size < this.max) {
      this.kept.add(peerId)
      this.connected.add(peerId)
    }
  }
}

function setup(): { host: FakeHost; peers: PeerTable; membership: Membership } {
  const host = new FakeHost()
  const peers = new PeerTable({ connectedPeers: () => host.connectedPeers() })
  return { host, peers, membership: new Membership({ host, peers }) }
}

describe('Membership', () => {
  it('passes on connected peers first, then fresh ones, never the asker, a stale one or more than the limit', () => {
    const { host, peers, membership } = setup()
    for (let n = 1; n <= 40; n++) peers.seen(info(n))
    for (let n = 1; n <= 5; n++) host.connected.add(id(n))
    peers.heardOf(info(41, Date.now() - MEMBERSHIP_DEFAULTS.freshMs - 1000))
    const sample = membership.sample(id(1))
    assert.equal(sample.length, MAX_HELLO_PEERS)
    const ids = sample.map((p) => p.peerId)
    assert.ok(!ids.includes(id(1)), 'not the asker')
    assert.ok(!ids.includes(id(41)), 'not a peer unheard of for too long')
    for (let n = 2; n <= 5; n++) assert.ok(ids.includes(id(n)), 'every other connected peer')
    assert.equal(new Set(ids).size, ids.length)
    // Random beyond the connected ones: two samples of 12 out of 35 are almost never equal.
    const again = membership.sample(id(1)).map((p) => p.peerId)
    assert.notDeepEqual(again.slice(4).sort(), ids.slice(4).sort())
  })

  it('learns only peers it did not know; a third party cannot move a known peer or date it in the future', () => {
    const { peers, membership } = setup()
    peers.seen(info(1))
    const liar = { ...info(1), url: 'http://evil.example:80', addrs: ['/ip4/6.6.6.6/tcp/1'] }
    const future = info(2, Date.now() + 3_600_000)
    assert.equal(membership.learn([liar, future, info(0)]), 1, 'only peer 2 is new (0 is this node)')
    assert.equal(peers.get(id(1))!.url, 'http://10.0.0.1:8080')
    assert.ok(peers.get(id(2))!.lastSeen <= Date.now())
    assert.equal(peers.get(id(0)), undefined)
  })

  it('offers the host random known peers until it keeps enough, and nothing once it does', async () => {
    const firsts = new Set<string>()
    for (let run = 0; run < 10; run++) {
      const { host, peers, membership } = setup()
      for (let n = 1; n <= 30; n++) peers.seen(info(n))
      await membership.maintain()
      assert.equal(host.kept.size, MEMBERSHIP_DEFAULTS.keep)
      firsts.add(host.offered[0]!)
      const offered = host.offered.length
      await membership.maintain()
      assert.equal(host.offered.length, offered, 'a full host is offered nothing')
    }
    // The first heard (peer 1) is not favoured: ten runs picked several different first peers.
    assert.ok(firsts.size >= 3, `first offers were ${[...firsts].join(', ')}`)
  })

  it('a node keeping some channels keeps peers that store one of them first, then the rest', async () => {
    const host = new FakeHost()
    const peers = new PeerTable({ connectedPeers: () => host.connectedPeers() })
    const membership = new Membership({ host, peers, stores: new KeepFilter(['a']) })
    for (let n = 1; n <= 30; n++) peers.seen(info(n))
    // Peers 1–27 said in their hellos that they keep only channel b; 28 keeps a/source, 29 said
    // it keeps everything, 30 has not said yet.

    for (let n = 1; n <= 27; n++) peers.get(id(n))!.keep = new KeepFilter(['b'])
    peers.get(id(28))!.keep = new KeepFilter(['a/source'])
    peers.get(id(29))!.keep = new KeepFilter([])
    await membership.maintain()
    assert.equal(host.kept.size, MEMBERSHIP_DEFAULTS.keep)
    for (const n of [28, 29, 30]) assert.ok(host.kept.has(id(n)), `peer ${n} kept`)
  })

  it('replaces kept peers that are down, keeping them aside', async () => {
    const { host, peers, membership } = setup()
    for (let n = 1; n <= 30; n++) peers.seen(info(n))
    await membership.maintain()
    const first = [...host.kept]
    host.max = 2 * MEMBERSHIP_DEFAULTS.keep
    for (const p of first.slice(0, 2)) host.connected.delete(p)
    await membership.maintain()
    assert.equal(host.kept.size, MEMBERSHIP_DEFAULTS.keep + 2, 'two more kept while two are down')
    assert.equal([...host.kept].filter((p) => host.connected.has(p)).length, MEMBERSHIP_DEFAULTS.keep)
    for (const p of first) assert.ok(host.kept.has(p), 'the ones down are still kept')
  })

  it('stays within the peer table bound however many peers exchanges name', () => {
    const host = new FakeHost()
    const peers = new PeerTable({ connectedPeers: () => host.connectedPeers(), maxPeers: 64 })
    const membership = new Membership({ host, peers })
    for (let batch = 0; batch < 100; batch++)
      membership.learn(Array.from({ length: MAX_HELLO_PEERS }, (_, i) => info(1000 + batch * MAX_HELLO_PEERS + i)))
    assert.equal(peers.size, 64)
  })
})

describe('address book bound', () => {
  it('forgets the least recently updated peers past the bound, never a kept one', async () => {
    const saved = Array.from({ length: 10 }, (_, n) => ({ id: { toString: () => id(n) }, updated: 1000 + n, addresses: [{}] }))
    const deleted: string[] = []
    const store = {
      all: async () => saved.filter((p) => !deleted.includes(p.id.toString())),
      delete: async (peer: { toString: () => string }) => {
        deleted.push(peer.toString())
      }
    } as unknown as PeerStore
    assert.equal(await pruneAddressBook(store, 6, (p) => p === id(0)), 4)
    assert.deepEqual(deleted, [id(1), id(2), id(3), id(4)])
    assert.equal(await pruneAddressBook(store, 6, () => false), 0)
  })
})
