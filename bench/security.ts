/**
 * What the security mechanisms cost, each against its baseline in the same run (interleaved):
 * - a libp2p connection (TCP + noise + yamux, dial to open) with and without the private-network key;
 * - receiving an announce of tombstones: decoding alone, and decoding plus checking every signature;
 * - writing a tombstone: empty, and holding its proof (both fsync'd);
 * - the per-peer gossip token bucket, against a bare Map lookup.
 *
 *   node --import tsx --import ./node/compat.ts bench/security.ts [--quick]
 */
import { generateKeyPairSync } from 'node:crypto'
import { join } from 'node:path'
import { noise } from '@libp2p/noise'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { type Libp2p, createLibp2p } from 'libp2p'
import { type AnnouncedItem, announceMessages, decodeMessage, encodeMessage } from '../replication/messages.ts'
import { newNetworkKey } from '../replication/pnet.ts'
import { RateLimiter } from '../lib/rate-limit.ts'
import { segmentTarget, signTombstone, verifyTombstone } from '../replication/tombstone-signature.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { type SegmentRef, formatSegmentRef } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { QUICK, type Stats, cleanupOnExit, interleaved, machineInfo, makeTempDir, ms, table } from './common.ts'

const HOUR = Date.UTC(2026, 10, 20, 12) * 1000
const admin = generateKeyPairSync('ed25519')

function refs(n: number, seed: number): SegmentRef[] {
  return Array.from({ length: n }, (_, i) =>
    formatSegmentRef({
      channel: 'desertbus',
      quality: 'source',
      start: HOUR + (seed * 10_000 + i) * 2_000_000,
      duration: 2_000_000,
      type: 'full',
      hash: Buffer.alloc(32, (seed * 31 + i) % 251)
    })
  )
}

async function node(psk?: Uint8Array): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    ...(psk != null ? { connectionProtector: preSharedKey({ psk }) } : {}),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // libp2p resets more than 5 inbound connections a second from one address; the loop makes more.
    connectionManager: { inboundConnectionThreshold: 1_000_000 }
  })
}

/** Dial to an open connection, then hang up; libp2p over TCP on 127.0.0.1. */
async function connectionCost(): Promise<Map<string, Stats>> {
  const psk = newNetworkKey()
  const [a, b, pa, pb] = await Promise.all([node(), node(), node(psk), node(psk)])
  let resets = 0
  const connect = (from: Libp2p, to: Libp2p) => async (): Promise<void> => {
    // Back-to-back connections now and then meet the last one's close: retried, and counted.
    for (let attempt = 0; ; attempt++) {
      try {
        await from.dial(to.getMultiaddrs()[0]!)
        break
      } catch (err) {
        if (attempt >= 3) throw err
        resets++
      }
    }
    await from.hangUp(to.peerId)
  }
  try {
    return await interleaved(
      [
        { name: 'connect, no key', run: connect(a, b) },
        { name: 'connect, network key', run: connect(pa, pb) }
      ],
      { warmup: 3, iterations: QUICK ? 10 : 60, maxMs: QUICK ? 5_000 : 40_000 }
    )
  } finally {
    if (resets > 0) console.log(`(${resets} dials retried after a reset)`)
    await Promise.all([a, b, pa, pb].map(async (n) => await n.stop()))
  }
}

const messageCounts = new Map<number, { plain: number; signed: number; plainBytes: number; signedBytes: number }>()

/** CPU of receiving an announcement of `n` tombstones: decode; decode + verify each proof. */
async function announceCost(n: number): Promise<Map<string, Stats>> {
  const from = {
    peerId: '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp',
    url: 'http://10.0.0.5:8080',
    addrs: ['/ip4/10.0.0.5/tcp/4001']
  }
  const items: AnnouncedItem[] = refs(n, 1).map((ref) => ({
    kind: 'tombstone',
    ref,
    proof: signTombstone(
      { channel: ref.channel, quality: ref.quality, target: segmentTarget(ref), created: HOUR, reason: 'bench' },
      admin.privateKey
    )
  }))
  // Split as the replicator splits them: proofs make signed announcements several messages.
  const signed = announceMessages(from, items).map(encodeMessage)
  const plain = announceMessages(
    from,
    items.map(({ kind, ref }) => ({ kind, ref }))
  ).map(encodeMessage)
  messageCounts.set(n, {
    plain: plain.length,
    signed: signed.length,
    signedBytes: signed.reduce((t, m) => t + m.length, 0),
    plainBytes: plain.reduce((t, m) => t + m.length, 0)
  })
  const rounds = 20
  return await interleaved(
    [
      {
        name: `decode ${n} unsigned`,
        run: () => {
          for (let i = 0; i < rounds; i++) for (const m of plain) decodeMessage(m)
        }
      },
      {
        name: `decode + verify ${n} signed`,
        run: () => {
          for (let i = 0; i < rounds; i++) {
            for (const m of signed) {
              const d = decodeMessage(m)
              if (!d.ok || d.message.type !== 'announce') throw new Error('bench message did not decode')
              for (const item of d.message.items)
                if (!verifyTombstone(item.proof, item.ref, admin.publicKey).ok) throw new Error('bench proof did not verify')
            }
          }
        }
      }
    ],
    { warmup: 5, iterations: QUICK ? 20 : 200, maxMs: QUICK ? 2_000 : 10_000 }
  )
}

/** One tombstone write (file, fsync, folder fsync, index), empty and holding a proof. */
async function writeCost(): Promise<Map<string, Stats>> {
  const dir = makeTempDir('segmesh-bench-security-')
  cleanupOnExit(dir)
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 256 * 1024 ** 2 })
  const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
  const n = QUICK ? 30 : 300
  const plain = refs(n + 5, 2)
  const signed = refs(n + 5, 3)
  let i = 0
  let j = 0
  try {
    return await interleaved(
      [
        {
          name: 'tombstone, unsigned',
          run: async () => {
            await store.writeTombstone(plain[i++]!)
          }
        },
        {
          name: 'tombstone, signed',
          run: async () => {
            const ref = signed[j++]!
            await store.writeTombstone(ref, {
              proof: signTombstone(
                { channel: ref.channel, quality: ref.quality, target: segmentTarget(ref), created: HOUR, reason: 'bench' },
                admin.privateKey
              )
            })
          }
        }
      ],
      { warmup: 2, iterations: n, maxMs: QUICK ? 5_000 : 30_000 }
    )
  } finally {
    await index.stop()
  }
}

/** The gossip validator's bucket, per message, against the Map lookup it is built on. */
async function bucketCost(): Promise<Map<string, Stats>> {
  const peers = Array.from({ length: 64 }, (_, i) => `peer-${i}`)
  const limiter = new RateLimiter({ ratePerSecond: 1e9, burst: 1e9 })
  const map = new Map(peers.map((p) => [p, [0, 0]]))
  const rounds = 10_000
  let sink = 0
  const stats = await interleaved(
    [
      {
        name: 'Map.get',
        run: () => {
          for (let i = 0; i < rounds; i++) sink += map.get(peers[i & 63]!)![0]!
        }
      },
      {
        name: 'token bucket take',
        run: () => {
          for (let i = 0; i < rounds; i++) sink += limiter.take(peers[i & 63]!) ? 1 : 0
        }
      }
    ],
    { warmup: 5, iterations: QUICK ? 20 : 200, maxMs: QUICK ? 1_000 : 5_000 }
  )
  if (sink < 0) console.log(sink)
  return stats
}

const us = (msValue: number, per: number): string => `${((msValue * 1000) / per).toFixed(per >= 1000 ? 3 : 1)} µs`

console.log('== segmesh security benchmarks ==')
console.log(machineInfo())
const conn = await connectionCost()
const small = await announceCost(8)
const full = await announceCost(256)
const writes = await writeCost()
const bucket = await bucketCost()

const rows: string[][] = []
const pair = (label: string, m: Map<string, Stats>, base: string, measured: string, unit: (v: number) => string): void => {
  const b = m.get(base)!
  const x = m.get(measured)!
  rows.push([`${label}: ${base}`, unit(b.median), unit(b.p95), ''])
  rows.push([`${label}: ${measured}`, unit(x.median), unit(x.p95), `${(x.median / b.median).toFixed(2)}×`])
}
pair('libp2p', conn, 'connect, no key', 'connect, network key', ms)
pair('announce', small, 'decode 8 unsigned', 'decode + verify 8 signed', (v) => us(v, 20))
pair('announce', full, 'decode 256 unsigned', 'decode + verify 256 signed', (v) => us(v, 20))
pair('store', writes, 'tombstone, unsigned', 'tombstone, signed', ms)
pair('gossip', bucket, 'Map.get', 'token bucket take', (v) => us(v, 10_000))
console.log()
console.log(table(['case', 'median', 'p95', 'measured / baseline'], rows))
const verifyUs = ((full.get('decode + verify 256 signed')!.median - full.get('decode 256 unsigned')!.median) * 1000) / 20 / 256
for (const [n, c] of messageCounts)
  console.log(
    `${n} tombstones announced: ${c.plain} message(s), ${c.plainBytes} B unsigned; ${c.signed} message(s), ${c.signedBytes} B signed`
  )
console.log(`\nsignature check alone ≈ ${verifyUs.toFixed(1)} µs per tombstone (256-item announce, difference of medians)`)
