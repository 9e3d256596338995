/**
 * Attackers for tests, simulations and benchmarks, all real sockets on 127.0.0.1:
 * - startFakePeerHttp: a peer's HTTP side that lies (hour digests and listings of names it does
 *   not have, 404 or never-ending bodies for them);
 * - startRawPeer: a real libp2p peer (the node's own host, without the node) that announces any
 *   names it likes and answers hello with any digest;
 * - fakeSegmentRefs: valid, distinct segment names in one hour that nobody holds.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { P2PHost } from '../../replication/host.ts'
import { type HourDigest, type RootDigest, encodeMessage } from '../../replication/messages.ts'
import { KNOWN_TOPICS, LEGACY_TOPIC, announcementsByTopic } from '../../replication/topics.ts'
import { type SegmentRef, formatSegmentRef, segmentRelPath } from '../../storage/segment-name.ts'
import { MICROS_PER_HOUR } from '../../storage/time.ts'

/**
 * `count` distinct segment names of `duration` µs spread over the hour starting at `hourStart`
 * (µs), each with a random hash: valid names, held by nobody.
 */
export function fakeSegmentRefs(
  count: number,
  options: { hourStart: number; channel?: string; quality?: string; duration?: number }
): SegmentRef[] {
  const step = Math.floor(MICROS_PER_HOUR / count)
  if (step < 1) throw new RangeError(`${count} names do not fit in an hour`)
  return Array.from({ length: count }, (_, i) =>
    formatSegmentRef({
      channel: options.channel ?? 'desertbus',
      quality: options.quality ?? 'source',
      start: options.hourStart + i * step,
      duration: options.duration ?? 500_000,
      type: 'full',
      hash: randomBytes(32)
    })
  )
}

/** What the fake peer answers to `GET /segments/...`. */
export type SegmentAnswer =
  /** 404, as for a name it never had. */
  | 'not-found'
  /** 200 with a first chunk of `firstBytes` (1 KiB), then nothing: the body never ends. */
  | 'never-ending'
  /** These bytes, by relative path (`C/Q/HOUR/FILE`); 404 for any other. */
  | Map<string, Uint8Array>

export interface FakePeerHttpInit {
  /** `GET /files/C/Q/HOUR`: names by `C/Q/HOUR`; 404 for any other hour. */
  listings?: ReadonlyMap<string, readonly string[]>
  /** `GET /replication/digests`: these hours per `C/Q`, whatever `from` is. */
  digests?: ReadonlyMap<string, readonly HourDigest[]>
  /** @default 'not-found' */
  segments?: SegmentAnswer
  /** Bytes a never-ending body sends before it stalls. @default 1024 */
  firstBytes?: number
}

export interface FakePeerHttp {
  readonly url: string
  /** Segment requests received. */
  readonly segmentRequests: () => number
  /** Segment requests whose body has not ended (never-ending ones held open). */
  readonly openBodies: () => number
  close: () => Promise<void>
}

/** A lying peer's HTTP side on 127.0.0.1 (port 0). */
export async function startFakePeerHttp(init: FakePeerHttpInit = {}): Promise<FakePeerHttp> {
  let segmentRequests = 0
  const open = new Set<ServerResponse>()
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    if (path === '/replication/digests') {
      json(res, 200, {
        qualities: [...(init.digests ?? new Map())].map(([key, hours]) => ({
          channel: key.split('/')[0],
          quality: key.split('/')[1],
          hours
        }))
      })
    } else if (path.startsWith('/replication/tombstones/')) {
      json(res, 200, { proofs: {} })
    } else if (path.startsWith('/files/')) {
      const names = init.listings?.get(path.slice('/files/'.length))
      if (names == null) json(res, 404, { error: 'not_found', message: 'no such hour' })
      else json(res, 200, names)
    } else if (path.startsWith('/segments/')) {
      segmentRequests++
      const answer = init.segments ?? 'not-found'
      const bytes = answer instanceof Map ? answer.get(path.slice('/segments/'.length)) : undefined
      if (answer === 'never-ending') {
        open.add(res)
        res.on('close', () => open.delete(res))
        res.writeHead(200, { 'content-type': 'video/mp2t' })
        res.write(Buffer.alloc(init.firstBytes ?? 1024, 0x47))
      } else if (bytes != null) {
        res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': bytes.byteLength }).end(bytes)
      } else {
        json(res, 404, { error: 'not_found', message: 'no such segment' })
      }
    } else {
      json(res, 404, { error: 'not_found', message: path })
    }
  }
  const server: Server = createServer(handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    segmentRequests: () => segmentRequests,
    openBodies: () => open.size,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** An hour digest (`/replication/digests` entry) that matches nobody's: a peer claiming `segments` names in `hour`. */
export function lyingHourDigest(hour: string, segments: number): HourDigest {
  return { hour, digest: randomBytes(16).toString('base64url'), segments, tombstones: 0 }
}

export interface RawPeer {
  readonly host: P2PHost
  readonly peerId: string
  /** The HTTP URL it claims in every message. */
  readonly url: string
  /**
   * Publish announcements of `refs` (256 names a message) at most `messagesPerSecond`, until all
   * are sent or `signal` aborts; the number of messages published.
   */
  announce: (refs: readonly SegmentRef[], options?: { messagesPerSecond?: number; signal?: AbortSignal }) => Promise<number>
  /**
   * Resolves once its gossip reaches someone (an empty announcement has a recipient): a message
   * published before the victim's mesh takes the peer in goes nowhere. Rejects after `timeoutMs`.
   */
  joined: (timeoutMs?: number) => Promise<void>
  stop: () => Promise<void>
}

export interface RawPeerInit {
  /** Multiaddrs (with `/p2p/<id>`) to join through: the victim's. */
  bootstrap: string[]
  /** The HTTP URL it claims (a FakePeerHttp's, or someone else's). */
  url: string
  /** Roots its hello answer (and nothing else) claims; a root nobody has starts a repair with it. */
  helloRoots?: readonly RootDigest[]
}

/** A libp2p peer on 127.0.0.1 that speaks the protocol with lies of the caller's choosing. */
export async function startRawPeer(init: RawPeerInit): Promise<RawPeer> {
  const host = new P2PHost({
    privateKey: await generateKeyPair('Ed25519'),
    listenHost: '127.0.0.1',
    listenPort: 0,
    bootstrap: init.bootstrap,
    topics: [LEGACY_TOPIC],
    knownTopics: KNOWN_TOPICS
  })
  const from = () => ({ peerId: host.peerId, url: init.url, addrs: host.multiaddrs() })
  host.handleHello(() => encodeMessage({ type: 'digest', from: from(), windowStart: 0, roots: [...(init.helloRoots ?? [])] }))
  await host.start()
  return {
    host,
    peerId: host.peerId,
    url: init.url,
    announce: async (refs, options = {}) => {
      const gapMs = 1000 / (options.messagesPerSecond ?? 15)
      const messages = announcementsByTopic(
        from(),
        refs.map((ref) => ({ kind: 'segment' as const, ref }))
      )
      let sent = 0
      const started = Date.now()
      for (const { topic, message } of messages) {
        if (options.signal?.aborted === true) break
        await host.publish(encodeMessage(message), topic).catch(() => 0)
        sent++
        const due = started + sent * gapMs - Date.now()
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due))
      }
      return sent
    },
    joined: async (timeoutMs = 20_000) => {
      const probe = encodeMessage({ type: 'announce', from: from(), items: [] })
      const until = Date.now() + timeoutMs
      while ((await host.publish(probe, LEGACY_TOPIC).catch(() => 0)) === 0) {
        if (Date.now() > until) throw new Error(`raw peer ${host.peerId}: no gossip recipient after ${timeoutMs} ms`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
    stop: async () => {
      await host.stop()
    }
  }
}

/** The path a segment is served under, as the fake peer's `segments` map keys it. */
export const servedPath = (ref: SegmentRef): string => segmentRelPath(ref)
