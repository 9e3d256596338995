/**
 * Names a peer offered (announced or listed) and then answered 404 for. Judged a few seconds
 * later, not at once: an honest peer that tombstoned (and purged) a name just after offering it
 * answers 404 too, and its tombstone reaches us by gossip or the next repair. A name still neither
 * tombstoned nor stored here by then was a lie, and its peer is penalised.
 */

export const UNSERVED_DEFAULTS = Object.freeze({
  /** How long a tombstone has to arrive before the 404 counts against the peer (ms). */
  graceMs: 3000,
  /**
   * Names waiting to be judged; past it, new ones are not judged (counted in `unjudged`). An entry
   * is a peer id and a reference to a name the fetcher already held: about 100 bytes.
   */
  maxPending: 4096
})

export interface UnservedNamesInit<T> {
  /** The name is explained after all: tombstoned, or stored from elsewhere. */
  excused: (name: T) => boolean
  /** Called once per unexcused name. Must not throw. */
  penalize: (peerId: string) => void
  graceMs?: number
  maxPending?: number
}

export class UnservedNames<T> {
  readonly #init: UnservedNamesInit<T>
  readonly #graceMs: number
  readonly #maxPending: number
  /** Oldest first: judged in order of arrival. */
  #pending: Array<{ peerId: string; name: T; at: number }> = []
  #timer: NodeJS.Timeout | null = null
  unjudged = 0
  penalized = 0

  constructor(init: UnservedNamesInit<T>) {
    this.#init = init
    this.#graceMs = init.graceMs ?? UNSERVED_DEFAULTS.graceMs
    this.#maxPending = init.maxPending ?? UNSERVED_DEFAULTS.maxPending
  }

  note(peerId: string, name: T): void {
    if (this.#pending.length >= this.#maxPending) {
      this.unjudged++
      return
    }
    this.#pending.push({ peerId, name, at: Date.now() })
    this.#schedule()
  }

  stop(): void {
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#timer = null
    this.#pending = []
  }

  #schedule(): void {
    if (this.#timer != null || this.#pending.length === 0) return
    const wait = Math.max(0, this.#pending[0]!.at + this.#graceMs - Date.now())
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#judge()
    }, wait)
    this.#timer.unref()
  }

  #judge(): void {
    const due = Date.now() - this.#graceMs
    let n = 0
    while (n < this.#pending.length && this.#pending[n]!.at <= due) n++
    const judged = this.#pending.splice(0, n)
    for (const { peerId, name } of judged) {
      if (this.#excused(name)) continue
      this.penalized++
      this.#init.penalize(peerId)
    }
    this.#schedule()
  }

  /** An index that cannot be read excuses the peer: this runs in a timer, nothing may throw out of it. */
  #excused(name: T): boolean {
    try {
      return this.#init.excused(name)
    } catch {
      return true
    }
  }
}
