/**
 * The replication wire format: JSON, versioned, size-limited, validated once on arrival.
 * Anything malformed decodes to `{ ok: false, reason }` — never a throw — and the caller counts it.
 *
 * - `announce`: names a node just gained (segments and tombstones), batched. A hint: a receiver
 *   that misses it still converges through digests.
 * - `digest`: the sender's HTTP URL, libp2p addresses and a root digest per channel/quality over
 *   its retention window. Published periodically (jittered) on the topic and returned by the
 *   hello protocol on every new connection.
 * - `hello` (version 2, only over the hello protocol, never on the topic): a digest plus a random
 *   sample of the peers the sender knows (peer exchange), so a node that joins through one
 *   bootstrap learns the network in one round trip. A version 1 peer answers with a `digest`.
 * Per-hour digests travel over HTTP (`GET /replication/digests`), only when a root differs.
 */
import { MAX_KEEP_PATTERNS, keepPatternError } from './keep.ts'
import { type SegmentRef, isValidPathName, parseSegmentRef, parseTombstoneFileName } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart, parseHour } from '../storage/time.ts'
import { MAX_PROOF_LENGTH, isProofString } from './tombstone-signature.ts'

const PROTOCOL_VERSION = 1
/** The hello answer's version; a peer that answers version 1 sends a `digest` and no peers. */
const HELLO_VERSION = 2
/** Peers in one hello answer at most (peer exchange); more are refused as malformed. */
export const MAX_HELLO_PEERS = 16
/** Newest segment names in one hello answer at most (~100 B each); more are refused as malformed. */
export const MAX_HELLO_RECENT = 64
/** Evicted hours a hello names (as hour offsets from its window's start, ~4 bytes each). */
export const MAX_HELLO_EVICTED = 4096
/** Largest message we send or accept on the topic. */
export const MAX_MESSAGE_BYTES = 64 * 1024
/** Names per announce message; more are split over several. */
export const MAX_ANNOUNCE_ITEMS = 256

export interface PeerInfo {
  peerId: string
  /** Base URL of the sender's HTTP API, e.g. `http://10.0.0.5:8080`. */
  url: string
  addrs: string[]
}

export interface AnnouncedItem {
  kind: 'segment' | 'tombstone'
  /** The segment the item names (for a tombstone: the segment it hides). */
  ref: SegmentRef
  /** A tombstone's admin signature (tombstone-signature.ts), when it has one. */
  proof?: string
}

export interface RootDigest {
  channel: string
  quality: string
  /** Hash over the window's (hour, hour digest) pairs; '' when the window is empty. */
  root: string
  hours: number
  segments: number
}

export type Message =
  | { type: 'announce'; from: PeerInfo; items: AnnouncedItem[] }
  | { type: 'digest'; from: PeerInfo; windowStart: number; roots: RootDigest[] }

export type Decoded = { ok: true; message: Message } | { ok: false; reason: string }

/** A peer the sender knows, as peer exchange passes it on. */
export interface KnownPeer extends PeerInfo {
  /** ms since the epoch when the sender last heard from it. */
  lastSeen: number
}

export interface Hello {
  from: PeerInfo
  windowStart: number
  roots: RootDigest[]
  peers: KnownPeer[]
  /**
   * The sender's newest segments, in the first answer on a connection only: a peer that was cut
   * off (a partition, a restart) wants what is newest first, and here it needs no walk to find it.
   */
  recent: SegmentRef[]
  /** What the sender keeps (replication/keep.ts): `CHANNEL` or `CHANNEL/QUALITY`; none: everything. */
  keep: string[]
  /**
   * Hours of its window the sender evicted under its disk budget, as `channel/quality/hourStartµs`:
   * walks of it skip them (it does not want them back, and has only their tombstones).
   */
  evicted: string[]
  /** 1: the peer speaks the old protocol (a digest, no peers). */
  version: 1 | 2
}

export type DecodedHello = { ok: true; hello: Hello } | { ok: false; reason: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** `CHANNEL/QUALITY/HOUR/FILE` — the form names travel in. */
export function itemPath(item: AnnouncedItem): string {
  const file = item.kind === 'segment' ? item.ref.file : item.ref.file.replace(/\.ts$/, '.tombstone')
  return `${item.ref.channel}/${item.ref.quality}/${item.ref.hour}/${file}`
}

/** Parse `CHANNEL/QUALITY/HOUR/FILE` where FILE is a segment or tombstone name. */
export function parseItemPath(path: string): AnnouncedItem | null {
  const parts = path.split('/')
  if (parts.length !== 4) return null
  const [channel, quality, hour, file] = parts as [string, string, string, string]
  if (file.endsWith('.tombstone')) {
    if (!parseTombstoneFileName(file).ok) return null
    const r = parseSegmentRef(channel, quality, hour, file.replace(/\.tombstone$/, '.ts'))
    return r.ok ? { kind: 'tombstone', ref: r.value } : null
  }
  const r = parseSegmentRef(channel, quality, hour, file)
  if (!r.ok || r.value.type === 'temp') return null
  return { kind: 'segment', ref: r.value }
}

export function encodeMessage(message: Message): Uint8Array {
  const wire =
    message.type === 'announce'
      ? { v: PROTOCOL_VERSION, type: 'announce', from: message.from, items: message.items.map(itemPath), ...proofsOf(message.items) }
      : { v: PROTOCOL_VERSION, type: 'digest', from: message.from, windowStart: message.windowStart, roots: message.roots }
  const bytes = encoder.encode(JSON.stringify(wire))
  if (bytes.length > MAX_MESSAGE_BYTES) throw new RangeError(`message of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES} byte limit`)
  return bytes
}

/**
 * Tombstone proofs travel beside the names, keyed by item path (`proofs`), so nodes that predate
 * them still read the message. Absent when no item has one.
 */
function proofsOf(items: readonly AnnouncedItem[]): { proofs?: Record<string, string> } {
  const signed = items.filter((i) => i.kind === 'tombstone' && i.proof != null)
  return signed.length === 0 ? {} : { proofs: Object.fromEntries(signed.map((i) => [itemPath(i), i.proof!])) }
}

/** Bytes an item adds to a message at most: its quoted path, and with a proof the path again as its key. */
function itemBytes(item: AnnouncedItem): number {
  const path = item.ref.channel.length + item.ref.quality.length + item.ref.hour.length + item.ref.file.length + 12
  return item.proof == null ? path : 2 * path + item.proof.length + 4
}
/** Room left for `from` and the envelope. */
const ITEMS_BUDGET = MAX_MESSAGE_BYTES - 16 * 1024

/** Split items into announce messages that each fit the limits (count, and bytes once proofs ride along). */
export function announceMessages(from: PeerInfo, items: readonly AnnouncedItem[]): Message[] {
  const out: Message[] = []
  let batch: AnnouncedItem[] = []
  let bytes = 0
  for (const item of items) {
    const size = itemBytes(item)
    if (batch.length === MAX_ANNOUNCE_ITEMS || (batch.length > 0 && bytes + size > ITEMS_BUDGET)) {
      out.push({ type: 'announce', from, items: batch })
      batch = []
      bytes = 0
    }
    batch.push(item)
    bytes += size
  }
  if (batch.length > 0) out.push({ type: 'announce', from, items: batch })
  return out
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason }
}

const isObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)
const isString = (v: unknown, max = 512): v is string => typeof v === 'string' && v.length > 0 && v.length <= max
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

function peerInfo(v: unknown): PeerInfo | string {
  if (!isObject(v)) return 'from: not an object'
  if (!isString(v.peerId, 128) || !/^[1-9A-HJ-NP-Za-km-z]+$/.test(v.peerId)) return 'from.peerId: not a peer id'
  if (!isString(v.url, 512)) return 'from.url: missing'
  let url: URL
  try {
    url = new URL(v.url)
  } catch {
    return 'from.url: not a URL'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'from.url: not http(s)'
  if (!Array.isArray(v.addrs) || v.addrs.length > 16 || !v.addrs.every((a) => isString(a, 256) && a.startsWith('/')))
    return 'from.addrs: not a list of multiaddrs'
  return { peerId: v.peerId, url: url.origin + url.pathname.replace(/\/+$/, ''), addrs: v.addrs as string[] }
}

export function encodeHello(
  hello: Omit<Hello, 'version' | 'recent' | 'keep' | 'evicted'> & {
    recent?: SegmentRef[]
    keep?: readonly string[]
    evicted?: readonly string[]
  },
  version: 1 | 2
): Uint8Array {
  if (version === 1) return encodeMessage({ type: 'digest', from: hello.from, windowStart: hello.windowStart, roots: hello.roots })
  const wire = {
    v: HELLO_VERSION,
    type: 'hello',
    from: hello.from,
    windowStart: hello.windowStart,
    roots: hello.roots,
    peers: hello.peers.slice(0, MAX_HELLO_PEERS),
    ...(hello.recent != null && hello.recent.length > 0
      ? { recent: hello.recent.slice(0, MAX_HELLO_RECENT).map((ref) => itemPath({ kind: 'segment', ref })) }
      : {}),
    ...(hello.keep != null && hello.keep.length > 0 ? { keep: hello.keep.slice(0, MAX_KEEP_PATTERNS) } : {}),
    ...(hello.evicted != null && hello.evicted.length > 0 ? { evicted: evictedWire(hello.evicted, hello.windowStart) } : {})
  }
  const bytes = encoder.encode(JSON.stringify(wire))
  if (bytes.length > MAX_MESSAGE_BYTES) throw new RangeError(`hello of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES} byte limit`)
  return bytes
}

/** A hello answer of either version; a version 1 answer is its digest message. */
export function decodeHello(bytes: Uint8Array): DecodedHello {
  const parsed = parseJson(bytes)
  if (typeof parsed === 'string') return fail(parsed)
  if (parsed.v === PROTOCOL_VERSION) {
    const decoded = decodeWire(parsed)
    if (!decoded.ok) return decoded
    if (decoded.message.type !== 'digest') return fail('a version 1 hello must be a digest')
    const { from, windowStart, roots } = decoded.message
    return { ok: true, hello: { from, windowStart, roots, peers: [], recent: [], keep: [], evicted: [], version: 1 } }
  }
  if (parsed.v !== HELLO_VERSION) return fail(`unsupported version ${JSON.stringify(parsed.v)}`)
  if (parsed.type !== 'hello') return fail(`unknown type ${JSON.stringify(parsed.type)}`)
  const from = peerInfo(parsed.from)
  if (typeof from === 'string') return fail(from)
  const digest = digestFields(parsed)
  if (typeof digest === 'string') return fail(digest)
  if (!Array.isArray(parsed.peers) || parsed.peers.length > MAX_HELLO_PEERS) return fail(`peers: not a list of at most ${MAX_HELLO_PEERS}`)
  const peers: KnownPeer[] = []
  for (const p of parsed.peers) {
    const info = peerInfo(p)
    if (typeof info === 'string') return fail(`peers: ${info}`)
    if (!isCount((p as Record<string, unknown>).lastSeen)) return fail('peers: lastSeen is not a ms instant')
    peers.push({ ...info, lastSeen: (p as { lastSeen: number }).lastSeen })
  }
  // Absent from answers after a connection's first, and from nodes that predate it.
  const recent: SegmentRef[] = []
  if (parsed.recent !== undefined) {
    if (!Array.isArray(parsed.recent) || parsed.recent.length > MAX_HELLO_RECENT)
      return fail(`recent: not a list of at most ${MAX_HELLO_RECENT}`)
    for (const path of parsed.recent) {
      const item = typeof path === 'string' ? parseItemPath(path) : null
      if (item?.kind !== 'segment') return fail('recent: not a segment name')
      recent.push(item.ref)
    }
  }
  // Absent from nodes that keep everything, and from nodes that predate it.
  const keep: string[] = []
  if (parsed.keep !== undefined) {
    if (!Array.isArray(parsed.keep) || parsed.keep.length > MAX_KEEP_PATTERNS)
      return fail(`keep: not a list of at most ${MAX_KEEP_PATTERNS}`)
    for (const pattern of parsed.keep) {
      if (typeof pattern !== 'string' || keepPatternError(pattern) != null) return fail('keep: not CHANNEL or CHANNEL/QUALITY')
      keep.push(pattern)
    }
  }
  // Absent from nodes without a disk budget, and from nodes that predate it.
  const evicted = parsed.evicted === undefined ? [] : evictedFromWire(parsed.evicted, digest.windowStart)
  if (typeof evicted === 'string') return fail(`evicted: ${evicted}`)
  return { ok: true, hello: { from, ...digest, peers, recent, keep, evicted, version: 2 } }
}

/**
 * `channel/quality/hourStartµs` keys → `{ "channel/quality": [hour offsets from the window's start] }`,
 * in the window, at most MAX_HELLO_EVICTED hours (the newest).
 */
function evictedWire(keys: readonly string[], windowStart: number): Record<string, number[]> {
  const from = hourStart(windowStart)
  const out: Record<string, number[]> = {}
  const inWindow = keys
    .map((k) => {
      const i = k.lastIndexOf('/')
      return { key: k.slice(0, i), hour: Number(k.slice(i + 1)) }
    })
    .filter((e) => e.hour >= from)
    .sort((a, b) => b.hour - a.hour)
    .slice(0, MAX_HELLO_EVICTED)
  for (const e of inWindow) (out[e.key] ??= []).push((e.hour - from) / MICROS_PER_HOUR)
  return out
}

function evictedFromWire(wire: unknown, windowStart: number): string[] | string {
  if (!isObject(wire)) return 'not an object'
  const from = hourStart(windowStart)
  const out: string[] = []
  for (const [key, hours] of Object.entries(wire)) {
    if (keepPatternError(key) != null || !key.includes('/')) return 'a key is not CHANNEL/QUALITY'
    if (!Array.isArray(hours)) return 'not lists of hours'
    for (const h of hours) {
      if (!Number.isSafeInteger(h) || h < 0 || h > 1_000_000) return 'an hour is not an offset in hours'
      if (out.length >= MAX_HELLO_EVICTED) return `more than ${MAX_HELLO_EVICTED} hours`
      out.push(`${key}/${from + h * MICROS_PER_HOUR}`)
    }
  }
  return out
}

function parseJson(bytes: Uint8Array): Record<string, unknown> | string {
  if (bytes.length > MAX_MESSAGE_BYTES) return `too large: ${bytes.length} bytes`
  let wire: unknown
  try {
    wire = JSON.parse(decoder.decode(bytes))
  } catch {
    return 'not UTF-8 JSON'
  }
  return isObject(wire) ? wire : 'not an object'
}

function digestFields(wire: Record<string, unknown>): { windowStart: number; roots: RootDigest[] } | string {
  if (!isCount(wire.windowStart)) return 'windowStart: not a µs instant'
  if (!Array.isArray(wire.roots) || wire.roots.length > 1024) return 'roots: not a list'
  const roots: RootDigest[] = []
  for (const r of wire.roots) {
    if (!isObject(r) || !isString(r.channel, 64) || !isString(r.quality, 64)) return 'roots: bad channel/quality'
    if (typeof r.root !== 'string' || r.root.length > 64 || !isCount(r.hours) || !isCount(r.segments)) return 'roots: bad digest'
    if (!isValidPathName(r.channel) || !isValidPathName(r.quality)) return 'roots: bad channel/quality'
    roots.push({ channel: r.channel, quality: r.quality, root: r.root, hours: r.hours, segments: r.segments })
  }
  return { windowStart: wire.windowStart, roots }
}

export function decodeMessage(bytes: Uint8Array): Decoded {
  const wire = parseJson(bytes)
  return typeof wire === 'string' ? fail(wire) : decodeWire(wire)
}

/**
 * A gossip message is decoded by the host's validator and again by the replicator it is then
 * delivered to, which gets the very bytes object gossipsub validated: both call this, and the
 * second is answered from the first, once (an announcement of 256 names costs ~1 ms to decode).
 * Taken on use, and weak, so a decoded message is not kept for as long as gossipsub keeps its
 * bytes for relaying. Everything else decodes with `decodeMessage`, which remembers nothing.
 */
const decodedGossip = new WeakMap<Uint8Array, Decoded>()

export function decodeGossip(bytes: Uint8Array): Decoded {
  const known = decodedGossip.get(bytes)
  if (known != null) {
    decodedGossip.delete(bytes)
    return known
  }
  const decoded = decodeMessage(bytes)
  decodedGossip.set(bytes, decoded)
  return decoded
}

function decodeWire(wire: Record<string, unknown>): Decoded {
  if (wire.v !== PROTOCOL_VERSION) return fail(`unsupported version ${JSON.stringify(wire.v)}`)
  const from = peerInfo(wire.from)
  if (typeof from === 'string') return fail(from)
  if (wire.type === 'announce') {
    if (!Array.isArray(wire.items) || wire.items.length === 0 || wire.items.length > MAX_ANNOUNCE_ITEMS)
      return fail('items: not a list of 1..256')
    const items: AnnouncedItem[] = []
    for (const path of wire.items) {
      const item = typeof path === 'string' ? parseItemPath(path) : null
      if (item == null) return fail(`items: bad name ${JSON.stringify(path).slice(0, 120)}`)
      items.push(item)
    }
    if (wire.proofs !== undefined) {
      if (!isObject(wire.proofs)) return fail('proofs: not an object')
      const tombstones = new Map(items.filter((i) => i.kind === 'tombstone').map((i) => [itemPath(i), i]))
      for (const [path, proof] of Object.entries(wire.proofs)) {
        const item = tombstones.get(path)
        if (item == null) return fail(`proofs: ${JSON.stringify(path).slice(0, 120)} is not a tombstone of this message`)
        if (!isProofString(proof)) return fail(`proofs: not a tombstone signature (at most ${MAX_PROOF_LENGTH} characters)`)
        item.proof = proof
      }
    }
    return { ok: true, message: { type: 'announce', from, items } }
  }
  if (wire.type === 'digest') {
    const digest = digestFields(wire)
    return typeof digest === 'string' ? fail(digest) : { ok: true, message: { type: 'digest', from, ...digest } }
  }
  return fail(`unknown type ${JSON.stringify(wire.type)}`)
}

/** The hour summary of one hour as sent over HTTP for a channel/quality. */
export interface HourDigest {
  hour: string
  digest: string
  segments: number
  tombstones: number
}

/** Validate the JSON of `GET /replication/digests` from a peer. */
export function parseHourDigests(body: unknown): Map<string, HourDigest[]> | string {
  if (!isObject(body) || !Array.isArray(body.qualities)) return 'not a digest listing'
  const out = new Map<string, HourDigest[]>()
  for (const q of body.qualities) {
    if (
      !isObject(q) ||
      !isString(q.channel, 64) ||
      !isString(q.quality, 64) ||
      !isValidPathName(q.channel) ||
      !isValidPathName(q.quality) ||
      !Array.isArray(q.hours)
    )
      return 'bad quality entry'
    const hours: HourDigest[] = []
    for (const h of q.hours) {
      if (
        !isObject(h) ||
        typeof h.hour !== 'string' ||
        parseHour(h.hour) == null ||
        typeof h.digest !== 'string' ||
        h.digest.length > 64 ||
        !isCount(h.segments) ||
        !isCount(h.tombstones)
      )
        return 'bad hour entry'
      hours.push({ hour: h.hour, digest: h.digest, segments: h.segments, tombstones: h.tombstones })
    }
    out.set(`${q.channel}/${q.quality}`, hours)
  }
  return out
}
