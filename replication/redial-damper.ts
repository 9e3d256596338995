/**
 * Holds off redialling a peer whose connections keep dying right after they open. A peer that
 * bans us (or a gater that refuses us late) lets the dial succeed and then closes it; libp2p's
 * reconnect queue counts that as a success and redials at once, so without damping a banned node
 * spins handshakes every few milliseconds and, on a shared IP, uses up the remote's per-IP
 * allowance for everyone else. Flapping peers are held for a doubling time instead.
 */
import { backoffMs } from '../lib/backoff.ts'

export interface RedialDamperInit {
  /** A connection closed sooner than this after it opened counts as a flap. */
  shortLivedMs?: number
  /** Flaps (without a connection lasting longer than `shortLivedMs`) before a peer is held. */
  flapsBeforeHold?: number
  /** The first hold; each further flap doubles it, up to `maxHoldMs`. */
  holdMs?: number
  maxHoldMs?: number
  now?: () => number
}

interface PeerFlaps {
  openedAt: number | null
  flaps: number
  holdUntil: number
}

export class RedialDamper {
  readonly #shortLivedMs: number
  readonly #flapsBeforeHold: number
  readonly #holdMs: number
  readonly #maxHoldMs: number
  readonly #now: () => number
  readonly #peers = new Map<string, PeerFlaps>()

  constructor(init: RedialDamperInit = {}) {
    this.#shortLivedMs = init.shortLivedMs ?? 5_000
    this.#flapsBeforeHold = init.flapsBeforeHold ?? 3
    this.#holdMs = init.holdMs ?? 10_000
    this.#maxHoldMs = init.maxHoldMs ?? 5 * 60_000
    this.#now = init.now ?? Date.now
  }

  opened(peer: string): void {
    const p = this.#peers.get(peer) ?? { openedAt: null, flaps: 0, holdUntil: 0 }
    p.openedAt = this.#now()
    this.#peers.set(peer, p)
  }

  /** The peer's last connection closed. True when it should now be held (stop redialling it). */
  closed(peer: string): boolean {
    const p = this.#peers.get(peer)
    if (p?.openedAt == null) return false
    const lived = this.#now() - p.openedAt
    p.openedAt = null
    if (lived >= this.#shortLivedMs) {
      this.#peers.delete(peer) // a healthy connection forgives earlier flaps
      return false
    }
    p.flaps++
    if (p.flaps < this.#flapsBeforeHold) return false
    p.holdUntil = this.#now() + backoffMs(p.flaps - this.#flapsBeforeHold + 1, { baseMs: this.#holdMs, maxMs: this.#maxHoldMs })
    return true
  }

  /** Whether a redial of this peer should wait. */
  held(peer: string): boolean {
    return (this.#peers.get(peer)?.holdUntil ?? 0) > this.#now()
  }

  forget(peer: string): void {
    this.#peers.delete(peer)
  }
}
