/**
 * The model's clock and agenda: a binary heap of events at integer microseconds. Events at the
 * same instant run in the order they were scheduled (a sequence number breaks ties), so a run
 * depends on its seed only, never on heap internals.
 */

/** Integer microseconds: no float timestamps anywhere in the model. */
export type Micros = number

export const US_PER_MS = 1000
export const US_PER_S = 1_000_000

interface Entry {
  at: Micros
  seq: number
  run: () => void
}

export class EventQueue {
  now: Micros = 0
  /** Events run so far (a model's size, reported with its wall time). */
  processed = 0
  readonly #heap: Entry[] = []
  #seq = 0

  /** Run `run` at `at` (never in the past: an earlier time runs now). */
  at(at: Micros, run: () => void): void {
    const entry = { at: Math.max(Math.round(at), this.now), seq: this.#seq++, run }
    const heap = this.#heap
    heap.push(entry)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(entry, heap[parent]!)) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = entry
  }

  after(delay: Micros, run: () => void): void {
    this.at(this.now + delay, run)
  }

  get size(): number {
    return this.#heap.length
  }

  /** Run every event up to and including `until`; the clock ends at `until`. */
  runUntil(until: Micros): void {
    const heap = this.#heap
    while (heap.length > 0 && heap[0]!.at <= until) {
      const top = this.#pop()
      this.now = top.at
      this.processed++
      top.run()
    }
    this.now = Math.max(this.now, until)
  }

  /** Run until `done()` holds (checked after each event) or `until`; true if it held. */
  runWhile(notDone: () => boolean, until: Micros): boolean {
    const heap = this.#heap
    while (notDone()) {
      if (heap.length === 0 || heap[0]!.at > until) {
        this.now = Math.max(this.now, until)
        return false
      }
      const top = this.#pop()
      this.now = top.at
      this.processed++
      top.run()
    }
    return true
  }

  #pop(): Entry {
    const heap = this.#heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      let i = 0
      const n = heap.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && before(heap[r]!, heap[l]!) ? r : l
        if (!before(heap[c]!, last)) break
        heap[i] = heap[c]!
        i = c
      }
      heap[i] = last
    }
    return top
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
