/**
 * Misbehaviour score per peer. Each offence adds penalty points; points decay exponentially
 * (half-life `halfLifeMs`), so an honest peer's occasional bad luck never adds up. A peer whose
 * score reaches `threshold` is banned: `onBan` (the host disconnects and blocks it), and
 * `onUnban` after `cooldownMs`, with its score reset.
 */
export type Offence =
  | 'malformed_message'
  | 'oversized_message'
  | 'rate_limited'
  | 'bad_tombstone_signature'
  | 'unsigned_tombstone'
  | 'bad_hash'
  | 'unserved_name'
  | 'slow_transfer'

/**
 * Points per offence: a ban needs many rate-limit drops but only a few forged tombstones.
 * - `unserved_name`: a name the peer announced or listed, then answered 404 for, and that is still
 *   neither tombstoned nor stored here a few seconds later (a peer that raced a tombstone or purge
 *   is excused by the tombstone's arrival). About 21 within seconds ban: a liar of fake names in
 *   seconds; an honest peer whose files vanished (an operator's rm) loses a few points.
 * - `slow_transfer`: a body under the minimum rate, once per backoff round of that peer: it stays
 *   well under the threshold (a slow link is not malice), but adds up with any other offence.
 */
export const PENALTIES: Readonly<Record<Offence, number>> = {
  rate_limited: 1,
  unserved_name: 5,
  unsigned_tombstone: 5,
  slow_transfer: 10,
  malformed_message: 10,
  oversized_message: 20,
  bad_hash: 25,
  bad_tombstone_signature: 50
}

export const PEER_SCORE_DEFAULTS = Object.freeze({
  threshold: 100,
  halfLifeMs: 60_000,
  cooldownMs: 10 * 60_000,
  /** Peers remembered; the one with the lowest score goes first. */
  maxPeers: 4096
})

export interface PeerScoreInit {
  onBan: (peerId: string, offence: Offence) => void
  onUnban: (peerId: string) => void
  threshold?: number
  halfLifeMs?: number
  cooldownMs?: number
  now?: () => number
}

export interface PeerScoreStats {
  penalties: Record<Offence, number>
  bans: number
  banned: string[]
}

export class PeerScores {
  readonly #init: PeerScoreInit
  readonly #threshold: number
  readonly #halfLifeMs: number
  readonly #cooldownMs: number
  readonly #now: () => number
  readonly #scores = new Map<string, { points: number; at: number }>()
  readonly #banned = new Map<string, NodeJS.Timeout>()
  readonly #penalties = Object.fromEntries(Object.keys(PENALTIES).map((k) => [k, 0])) as Record<Offence, number>
  #bans = 0

  constructor(init: PeerScoreInit) {
    this.#init = init
    this.#threshold = init.threshold ?? PEER_SCORE_DEFAULTS.threshold
    this.#halfLifeMs = init.halfLifeMs ?? PEER_SCORE_DEFAULTS.halfLifeMs
    this.#cooldownMs = init.cooldownMs ?? PEER_SCORE_DEFAULTS.cooldownMs
    this.#now = init.now ?? Date.now
  }

  /** Current points of a peer (0 = clean). */
  score(peerId: string): number {
    const s = this.#scores.get(peerId)
    return s == null ? 0 : s.points * 0.5 ** ((this.#now() - s.at) / this.#halfLifeMs)
  }

  isBanned(peerId: string): boolean {
    return this.#banned.has(peerId)
  }

  penalize(peerId: string, offence: Offence): void {
    this.#penalties[offence]++
    if (this.#banned.has(peerId)) return
    const points = this.score(peerId) + PENALTIES[offence]
    if (!this.#scores.has(peerId) && this.#scores.size >= PEER_SCORE_DEFAULTS.maxPeers) this.#forgetLowest()
    this.#scores.set(peerId, { points, at: this.#now() })
    if (points < this.#threshold) return
    this.#bans++
    this.#scores.delete(peerId)
    const timer = setTimeout(() => {
      this.#banned.delete(peerId)
      this.#init.onUnban(peerId)
    }, this.#cooldownMs)
    timer.unref()
    this.#banned.set(peerId, timer)
    this.#init.onBan(peerId, offence)
  }

  stats(): PeerScoreStats {
    return { penalties: { ...this.#penalties }, bans: this.#bans, banned: [...this.#banned.keys()] }
  }

  /** Forget every score and lift every ban without calling onUnban (the host is stopping). */
  clear(): void {
    for (const t of this.#banned.values()) clearTimeout(t)
    this.#banned.clear()
    this.#scores.clear()
  }

  #forgetLowest(): void {
    let lowest: string | null = null
    let min = Number.POSITIVE_INFINITY
    for (const id of this.#scores.keys()) {
      const s = this.score(id)
      if (s < min) {
        min = s
        lowest = id
      }
    }
    if (lowest != null) this.#scores.delete(lowest)
  }
}
