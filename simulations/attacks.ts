/**
 * Hostile participants a scenario can add to a run (the `attack` step), all real peers on 127.0.0.1:
 * - `sybil-flood`: one libp2p connection to the target relays digest messages, each signed by a
 *   fresh key, whose roots match nobody's and whose URL lies (a digest listing an hour of names
 *   nobody holds, 404 for each);
 * - `slow-bodies`: three peers that announce names (256 of their own, then every segment the run
 *   has written so far) and answer every download with a body that never ends.
 * Honest nodes must still converge within the usual bound: the checkers do not change.
 */
import { randomBytes } from 'node:crypto'
import { encodeMessage } from '../replication/messages.ts'
import { LEGACY_TOPIC } from '../replication/topics.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import {
  type FakePeerHttp,
  type RawPeer,
  fakeSegmentRefs,
  lyingHourDigest,
  startFakePeerHttp,
  startRawPeer
} from '../test/helpers/hostile-peers.ts'
import { startAuthorRelay } from './hostile-connections.ts'
import { CHANNEL, QUALITIES } from './plan.ts'
import type { SimNode } from './sim-node.ts'

const ATTACK_KINDS = ['sybil-flood', 'slow-bodies'] as const
export type AttackKind = (typeof ATTACK_KINDS)[number]

/** Bounds of the attackers themselves, so a run stays bounded whatever the nodes do. */
const ATTACK_LIMITS = {
  /** Digests a second through the one connection (the issue saw 600/s from one relay). */
  sybilPerSecond: 200,
  /** Digests in all, per attack. */
  sybilMax: 20_000,
  /** Peers with never-ending bodies. */
  slowPeers: 3,
  /** How often a slow peer announces the run's new segments, ms. */
  slowEchoMs: 1000
} as const

export interface RunningAttack {
  stop: () => Promise<void>
  /** One line for the log: what the attacker did. */
  summary: () => string
}

export interface AttackContext {
  /** The run's base instant (µs): its segments are in this hour and the next. */
  baseUs: number
  /** Segments the run has written (acknowledged) so far. */
  written: () => SegmentRef[]
}

export async function startAttack(kind: AttackKind, target: SimNode, context: AttackContext): Promise<RunningAttack> {
  if (target.multiaddr == null) throw new Error(`node ${target.id} has no multiaddr to attack`)
  return kind === 'sybil-flood' ? await sybilFlood(target.multiaddr, context) : await slowBodies(target.multiaddr, context)
}

async function sybilFlood(multiaddr: string, context: AttackContext): Promise<RunningAttack> {
  const hourUs = hourStart(context.baseUs)
  const hour = formatHour(hourUs)
  const names = fakeSegmentRefs(1800, { hourStart: hourUs, channel: CHANNEL, quality: QUALITIES[0], duration: 2_000_000 }).map(
    (r) => r.file
  )
  const liar = await startFakePeerHttp({
    digests: new Map([[`${CHANNEL}/${QUALITIES[0]}`, [lyingHourDigest(hour, names.length)]]]),
    listings: new Map([[`${CHANNEL}/${QUALITIES[0]}/${hour}`, names]])
  })
  let relay: Awaited<ReturnType<typeof startAuthorRelay>>
  try {
    relay = await startAuthorRelay({ target: multiaddr, topic: LEGACY_TOPIC })
  } catch (err) {
    await liar.close()
    throw err
  }
  const stopping = new AbortController()
  const windowStart = hourUs - 24 * MICROS_PER_HOUR
  let sent = 0
  const flooding = (async () => {
    const started = Date.now()
    while (!stopping.signal.aborted && sent < ATTACK_LIMITS.sybilMax) {
      const author = await relay.freshAuthor()
      const root = {
        channel: CHANNEL,
        quality: QUALITIES[0],
        root: randomBytes(16).toString('base64url'),
        hours: 1,
        segments: names.length
      }
      await relay
        .send(
          author.key,
          encodeMessage({ type: 'digest', from: { peerId: author.peerId, url: liar.url, addrs: [] }, windowStart, roots: [root] })
        )
        .catch(() => {})
      sent++
      const due = started + (sent * 1000) / ATTACK_LIMITS.sybilPerSecond - Date.now()
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due)))
    }
  })()
  return {
    stop: async () => {
      stopping.abort()
      await flooding
      await relay.stop()
      await liar.close()
    },
    summary: () =>
      `sybil-flood: ${sent} digests from ${sent} fresh keys through one connection; ${liar.segmentRequests()} segment requests to the liar`
  }
}

async function slowBodies(multiaddr: string, context: AttackContext): Promise<RunningAttack> {
  const peers: Array<{ http: FakePeerHttp; peer: RawPeer }> = []
  const stopAll = async (): Promise<void> => {
    for (const { http, peer } of peers) {
      await peer.stop()
      await http.close()
    }
  }
  try {
    for (let i = 0; i < ATTACK_LIMITS.slowPeers; i++) {
      const http = await startFakePeerHttp({ segments: 'never-ending' })
      try {
        const peer = await startRawPeer({ bootstrap: [multiaddr], url: http.url })
        peers.push({ http, peer })
        // Its first announcement names the liar's own segments: it must reach the network.
        await peer.joined()
      } catch (err) {
        await http.close()
        throw err
      }
    }
  } catch (err) {
    await stopAll()
    throw err
  }
  const stopping = new AbortController()
  const announced = new Set<string>()
  let names = 0
  // Names of their own first, then every segment written so far: honest nodes find them among the
  // candidates for real data, and must give up on them for the honest copies.
  const echoing = (async () => {
    const own = fakeSegmentRefs(256, { hourStart: hourStart(context.baseUs), channel: CHANNEL, quality: QUALITIES[0], duration: 2_000_000 })
    let next: SegmentRef[] = own
    while (!stopping.signal.aborted) {
      if (next.length > 0) {
        await Promise.all(peers.map(async ({ peer }) => await peer.announce(next, { signal: stopping.signal })))
        names += next.length
      }
      await new Promise((resolve) => setTimeout(resolve, ATTACK_LIMITS.slowEchoMs))
      next = context.written().filter((ref) => !announced.has(`${ref.quality}/${ref.hour}/${ref.file}`))
      for (const ref of next) announced.add(`${ref.quality}/${ref.hour}/${ref.file}`)
    }
  })()
  return {
    stop: async () => {
      stopping.abort()
      await echoing
      await stopAll()
    },
    summary: () =>
      `slow-bodies: ${peers.length} peers announced ${names} names each; ${peers.reduce((n, p) => n + p.http.segmentRequests(), 0)} body requests, ${peers.reduce((n, p) => n + p.http.openBodies(), 0)} still open at the end`
  }
}
