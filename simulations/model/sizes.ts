/**
 * Message sizes from the product's own encoders (replication/messages.ts), not estimates: a hello
 * answer, an announcement, a range answer are built with realistic ids, URLs and names and
 * measured. Computed once per shape and cached; the model then only looks sizes up.
 */
import { createHash } from 'node:crypto'
import {
  type AnnouncedItem,
  type KnownPeer,
  type PeerInfo,
  type RootDigest,
  encodeHello,
  encodeMessage
} from '../../replication/messages.ts'
import { type SegmentRef, formatSegmentRef } from '../../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../../storage/time.ts'

/** A fixed instant, so sizes do not depend on the day the model runs. */
const NOW_US = Date.UTC(2026, 11, 7, 12) * 1000
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** An Ed25519 peer id as libp2p prints it: `12D3KooW` and 44 more base58 characters. */
function peerId(i: number): string {
  let s = '12D3KooW'
  let x = (i + 1) * 2654435761
  for (let k = 0; k < 44; k++) {
    s += BASE58[x % 58]
    x = Math.floor(x / 58) + (k + 1) * 7919
  }
  return s
}

/** A node as it introduces itself: one public address and its HTTP URL, as a production node does. */
export function peerInfo(i: number): PeerInfo {
  const ip = `198.51.${(i >> 8) & 255}.${i & 255}`
  return { peerId: peerId(i), url: `http://${ip}:8080`, addrs: [`/ip4/${ip}/tcp/4001/p2p/${peerId(i)}`] }
}

/** A segment name of `channel/quality` starting `offsetS` seconds into the hour of NOW_US (2 s segments). */
export function segmentRef(channel: string, quality: string, offsetS: number, salt = 0): SegmentRef {
  const start = hourStart(NOW_US) + (offsetS % 3600) * 1_000_000 + (salt % 1000)
  const hash = createHash('sha256').update(`${channel}/${quality}/${offsetS}/${salt}`).digest()
  return formatSegmentRef({ channel, quality, start, duration: 2_000_000, type: 'full', hash })
}

function roots(n: number): RootDigest[] {
  return Array.from({ length: n }, (_, i) => ({
    channel: `channel${Math.floor(i / 2)}`,
    quality: i % 2 === 0 ? 'source' : '480p',
    root: createHash('sha256').update(String(i)).digest('base64url'),
    hours: 336,
    segments: 336 * 1800
  }))
}

const helloCache = new Map<string, number>()

/** Bytes of a hello answer carrying `rootCount` roots, `peers` known peers and `recent` newest names. */
export function helloBytes(rootCount: number, peers: number, recent = 0): number {
  const key = `${rootCount}/${peers}/${recent}`
  const cached = helloCache.get(key)
  if (cached != null) return cached
  const known: KnownPeer[] = Array.from({ length: peers }, (_, i) => ({ ...peerInfo(1000 + i), lastSeen: NOW_US / 1000 - i }))
  const newest = Array.from({ length: recent }, (_, i) => segmentRef(`channel${i % 4}`, i % 2 === 0 ? 'source' : '480p', 3598 - 2 * i))
  const size = encodeHello(
    {
      from: peerInfo(0),
      windowStart: hourStart(NOW_US) - 335 * MICROS_PER_HOUR,
      roots: roots(rootCount),
      peers: known,
      ...(recent > 0 ? { recent: newest } : {})
    },
    2
  ).byteLength
  helloCache.set(key, size)
  return size
}

/** Bytes of one announcement of `names` new segments (one message: at most 256 names). */
export function announceBytes(names: number): number {
  const items: AnnouncedItem[] = Array.from({ length: names }, (_, i) => ({
    kind: 'segment',
    ref: segmentRef('channel0', 'source', 2 * i)
  }))
  return encodeMessage({ type: 'announce', from: peerInfo(0), items }).byteLength
}

/** Bytes of one `HOUR/FILE` entry in a `/replication/names` answer, quotes and comma included. */
export function listedNameBytes(): number {
  const ref = segmentRef('channel0', 'source', 1234)
  return `"${ref.hour}/${ref.file}",`.length
}
