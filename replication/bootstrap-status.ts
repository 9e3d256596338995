/**
 * What became of each bootstrap peer, for /status and the log. A wrong or unreachable
 * --bootstrap used to fail silently (libp2p logs dial failures at debug). The first failed dial
 * of a peer is a warning with the reason; while it keeps failing the warning repeats after a
 * doubling pause (1 min up to 1 h), not at every redial. The table holds the configured list only.
 */
import { type BackoffPolicy, backoffMs } from '../lib/backoff.ts'
import type { Logger } from '../lib/logger.ts'
import { explainDialError } from './dial-error.ts'

export type BootstrapState = 'connected' | 'dialling' | 'failed'

export interface BootstrapPeerStatus {
  peerId: string
  addrs: string[]
  state: BootstrapState
  /** Why the last dial failed (kept while dialling again, dropped once connected). */
  lastError?: string
  /** When the peer entered this state, ms since the epoch (as the peer table's lastSeen). */
  since: number
}

export const BOOTSTRAP_WARNING_DEFAULTS = Object.freeze({
  /** Pause before a failing peer's second warning; doubled after each. */
  firstRepeatMs: 60_000,
  maxRepeatMs: 60 * 60_000
})

export interface BootstrapStatusInit {
  log: Logger
  /** This node has --network-key (a stalled handshake then means another key). */
  withNetworkKey: boolean
  firstRepeatMs?: number
  maxRepeatMs?: number
  now?: () => number
}

interface Entry extends BootstrapPeerStatus {
  failures: number
  nextWarningAt: number
  /** Warnings logged since the peer was last connected: the pause before the next one doubles with them. */
  warnings: number
}

export class BootstrapStatus {
  readonly #init: BootstrapStatusInit
  readonly #now: () => number
  readonly #repeat: BackoffPolicy
  readonly #peers = new Map<string, Entry>()

  constructor(peers: ReadonlyMap<string, readonly { toString: () => string }[]>, init: BootstrapStatusInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    this.#repeat = {
      baseMs: init.firstRepeatMs ?? BOOTSTRAP_WARNING_DEFAULTS.firstRepeatMs,
      maxMs: init.maxRepeatMs ?? BOOTSTRAP_WARNING_DEFAULTS.maxRepeatMs
    }
    const since = this.#now()
    for (const [peerId, addrs] of peers) {
      this.#peers.set(peerId, {
        peerId,
        addrs: addrs.map(String),
        state: 'dialling',
        since,
        failures: 0,
        nextWarningAt: 0,
        warnings: 0
      })
    }
  }

  connected(peerId: string): void {
    const p = this.#peers.get(peerId)
    if (p == null || p.state === 'connected') return
    if (p.failures > 0) this.#init.log.info({ peer: peerId, failures: p.failures }, 'bootstrap peer reached')
    Object.assign(p, { state: 'connected', since: this.#now(), failures: 0, nextWarningAt: 0, warnings: 0 })
    delete p.lastError
  }

  /** The connection closed; libp2p's reconnect queue is dialling it again. */
  disconnected(peerId: string): void {
    const p = this.#peers.get(peerId)
    if (p?.state !== 'connected') return
    p.state = 'dialling'
    p.since = this.#now()
  }

  failed(peerId: string, err: unknown): void {
    const p = this.#peers.get(peerId)
    if (p == null) return
    const now = this.#now()
    if (p.state !== 'failed') Object.assign(p, { state: 'failed', since: now })
    p.lastError = explainDialError(err, this.#init.withNetworkKey)
    p.failures++
    if (now < p.nextWarningAt) return
    this.#init.log.warn(
      { peer: peerId, addrs: p.addrs, reason: p.lastError, failures: p.failures },
      `cannot reach bootstrap peer ${peerId}: ${p.lastError}; retrying`
    )
    p.nextWarningAt = now + backoffMs(++p.warnings, this.#repeat)
  }

  list(): BootstrapPeerStatus[] {
    return [...this.#peers.values()].map(({ peerId, addrs, state, lastError, since }) => ({
      peerId,
      addrs: [...addrs],
      state,
      ...(lastError != null ? { lastError } : {}),
      since
    }))
  }
}
