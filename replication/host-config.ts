/** Options, defaults and address handling of the P2P host (replication/host.ts). */
import { isIP } from 'node:net'
import { InvalidParametersError } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import type { Logger } from '../lib/logger.ts'
import { P2P_DEFAULTS } from './host-defaults.ts'

export interface P2PHostInit {
  privateKey: PrivateKey
  /** IP address to listen on (`0.0.0.0`, `::`, `127.0.0.1`, ...). */
  listenHost: string
  /** TCP port; 0 picks a free one (see `multiaddrs()`). */
  listenPort: number
  /** Multiaddrs with `/p2p/<id>` of the nodes to join through. */
  bootstrap?: string[]
  /** Gossip topics subscribed to at start (replication/topics.ts). */
  topics: readonly string[]
  /** Topics peers may subscribe to and this node may publish on without subscribing; `topics` are always among them. */
  knownTopics?: readonly string[]
  log?: Logger
  /** @default 4 */
  maxKeptPeers?: number
  /** Host or IP that peers should dial instead of the listen address (NAT, containers). */
  announceHost?: string
  /** @default 5000 */
  helloTimeoutMs?: number
  /** How often wanted peers that are not connected are dialled again. @default 10000 */
  redialIntervalMs?: number
  /** @default P2P_DEFAULTS.pingIntervalMs */
  pingIntervalMs?: number
  /** Swarm key file contents (replication/pnet.ts): only peers with the same key can connect. */
  networkKey?: Uint8Array
  /** Why a gossip payload is malformed, or null: malformed ones are rejected (not relayed) and scored. */
  validateMessage?: (data: Uint8Array) => string | null
  /** @default 65536 */
  maxMessageBytes?: number
  /** @default 20 */
  gossipRatePerSecond?: number
  /** @default 200 */
  gossipBurst?: number
  /** @default 100 */
  sourceRatePerSecond?: number
  /** @default 1000 */
  sourceBurst?: number
  /** @default 1 */
  newAuthorsPerSourcePerSecond?: number
  /** @default 256 */
  newAuthorsPerSourceBurst?: number
  /** @default 256 */
  maxIncomingPendingConnections?: number
  /** @default 5000 */
  inboundUpgradeTimeoutMs?: number
  /** Tests and simulations run many nodes on 127.0.0.1, one IP. @default 5 */
  inboundConnectionsPerIpPerSecond?: number
  /** @default 10; 0: no IP-colocation penalty */
  sameIpPeers?: number
  /** @default 300 */
  maxConnections?: number
  /** @default 128 */
  maxInboundConnections?: number
  /** How long a peer whose misbehaviour score passed the threshold stays blocked. @default 600000 */
  banCooldownMs?: number
  /** Gossip that passed every check is handed to this before the handlers (node/hooks.ts). */
  gossipGate?: (deliver: () => void, data: Uint8Array) => void
  /** Where libp2p keeps its peer store (the address book); in memory when absent. */
  datastore?: Datastore
  /** Peer ids refused from the start, until unblock() (node/hooks.ts). */
  blockedPeers?: readonly string[]
}

/** gossipsub's IP-colocation score: its own weight past `sameIpPeers` on one IP, or none for 0. */
export function colocationScore(sameIpPeers: number): { IPColocationFactorWeight: number } | { IPColocationFactorThreshold: number } {
  return sameIpPeers === 0 ? { IPColocationFactorWeight: 0 } : { IPColocationFactorThreshold: sameIpPeers }
}

/** The inbound connection limits, defaults filled in. */
export function connectionLimits(
  init: P2PHostInit
): Record<'maxIncomingPendingConnections' | 'inboundUpgradeTimeoutMs' | 'inboundConnectionsPerIpPerSecond' | 'maxConnections', number> {
  return {
    maxIncomingPendingConnections: init.maxIncomingPendingConnections ?? P2P_DEFAULTS.maxIncomingPendingConnections,
    inboundUpgradeTimeoutMs: init.inboundUpgradeTimeoutMs ?? P2P_DEFAULTS.inboundUpgradeTimeoutMs,
    inboundConnectionsPerIpPerSecond: init.inboundConnectionsPerIpPerSecond ?? P2P_DEFAULTS.inboundConnectionsPerIpPerSecond,
    maxConnections: init.maxConnections ?? P2P_DEFAULTS.maxConnections
  }
}

export function peerIdOfAddr(ma: Multiaddr): string | undefined {
  return ma
    .getComponents()
    .filter((c) => c.name === 'p2p')
    .pop()?.value
}

/** The addresses gossip gave for a peer that parse and do not name another peer. */
export function parseAddrs(peerId: string, addrs: readonly string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const a of addrs) {
    try {
      const ma = multiaddr(a)
      const p2p = peerIdOfAddr(ma)
      if (p2p == null || p2p === peerId) out.push(ma)
    } catch {
      // a malformed address from gossip is skipped, not fatal
    }
  }
  return out
}

/** Rewrite listen addresses to the announced host, keeping the bound port and peer id. */
export function announceAs(addrs: Multiaddr[], host: string): Multiaddr[] {
  const proto = isIP(host) === 4 ? 'ip4' : isIP(host) === 6 ? 'ip6' : 'dns'
  const out = new Map<string, Multiaddr>()
  for (const ma of addrs) {
    const components = ma.getComponents()
    const port = components.find((c) => c.name === 'tcp')?.value
    if (port == null) continue
    const p2p = peerIdOfAddr(ma)
    const s = `/${proto}/${host}/tcp/${port}${p2p != null ? `/p2p/${p2p}` : ''}`
    if (!out.has(s)) out.set(s, multiaddr(s))
  }
  return [...out.values()]
}

export function validate(init: P2PHostInit): void {
  if (init.privateKey == null) throw new InvalidParametersError('privateKey: required')
  if (isIP(init.listenHost) === 0) throw new InvalidParametersError(`listenHost: ${JSON.stringify(init.listenHost)} is not an IP address`)
  if (!Number.isInteger(init.listenPort) || init.listenPort < 0 || init.listenPort > 65535)
    throw new InvalidParametersError(`listenPort: ${init.listenPort} is not a port (0-65535)`)
  if (!Array.isArray(init.topics) || init.topics.length === 0 || !init.topics.every((t) => typeof t === 'string' && t.length > 0))
    throw new InvalidParametersError('topics: at least one topic required')
  for (const key of ['maxKeptPeers', 'sameIpPeers', 'maxInboundConnections'] as const) {
    if (init[key] != null && (!Number.isInteger(init[key]) || init[key] < 0))
      throw new InvalidParametersError(`${key}: ${init[key]} is not a count`)
  }
  if (init.helloTimeoutMs != null && !(init.helloTimeoutMs > 0)) throw new InvalidParametersError('helloTimeoutMs: must be > 0')
  if (init.redialIntervalMs != null && !(init.redialIntervalMs > 0)) throw new InvalidParametersError('redialIntervalMs: must be > 0')
  if (init.pingIntervalMs != null && !(init.pingIntervalMs > 0)) throw new InvalidParametersError('pingIntervalMs: must be > 0')
  for (const key of [
    'maxMessageBytes',
    'gossipRatePerSecond',
    'gossipBurst',
    'banCooldownMs',
    'sourceRatePerSecond',
    'sourceBurst',
    'newAuthorsPerSourcePerSecond',
    'newAuthorsPerSourceBurst',
    'maxIncomingPendingConnections',
    'inboundUpgradeTimeoutMs',
    'inboundConnectionsPerIpPerSecond',
    'maxConnections'
  ] as const) {
    if (init[key] != null && !(Number.isSafeInteger(init[key]) && init[key] > 0))
      throw new InvalidParametersError(`${key}: must be a positive integer`)
  }
  if (init.announceHost != null && !/^[A-Za-z0-9.:-]+$/.test(init.announceHost))
    throw new InvalidParametersError(`announceHost: ${JSON.stringify(init.announceHost)} is not a host name or IP`)
  for (const addr of init.bootstrap ?? []) {
    let ma: Multiaddr
    try {
      ma = multiaddr(addr)
    } catch {
      throw new InvalidParametersError(`bootstrap: ${JSON.stringify(addr)} is not a multiaddr`)
    }
    const id = peerIdOfAddr(ma)
    if (id == null) throw new InvalidParametersError(`bootstrap: ${addr} lacks /p2p/<peer id>`)
    try {
      peerIdFromString(id)
    } catch {
      throw new InvalidParametersError(`bootstrap: ${addr} has an invalid peer id`)
    }
  }
}
