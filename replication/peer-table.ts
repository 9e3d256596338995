/** What this node knows about other nodes: learned from gossip and hello, never from a list. */
import type { PeerInfo, RootDigest } from './messages.ts'

export interface PeerState {
  peerId: string
  url: string
  addrs: string[]
  /** ms since the epoch of the last message or hello from it. */
  lastSeen: number
  /** Its roots from the last digest, keyed `channel/quality`. */
  roots: Map<string, string>
  /** Age (s) of the newest segment it had that we lacked at the last repair; 0 when in sync. */
  lagSeconds: number
  repairs: number
  /** Consecutive failed repair sessions (drives backoff). */
  failures: number
  /** No repair before this time (ms), after failures. */
  backoffUntil: number
}

export class PeerTable {
  readonly #peers = new Map<string, PeerState>()

  /** Record what a peer said about itself; returns its state. */
  seen (info: PeerInfo, roots?: readonly RootDigest[]): PeerState {
    let peer = this.#peers.get(info.peerId)
    if (peer == null) {
      peer = { peerId: info.peerId, url: info.url, addrs: info.addrs, lastSeen: 0, roots: new Map(), lagSeconds: 0, repairs: 0, failures: 0, backoffUntil: 0 }
      this.#peers.set(info.peerId, peer)
    }
    peer.url = info.url
    if (info.addrs.length > 0) peer.addrs = info.addrs
    peer.lastSeen = Date.now()
    if (roots != null) peer.roots = new Map(roots.map((r) => [`${r.channel}/${r.quality}`, r.root]))
    return peer
  }

  get (peerId: string): PeerState | undefined {
    return this.#peers.get(peerId)
  }

  all (): PeerState[] {
    return [...this.#peers.values()]
  }
}
