/**
 * Which queued segment goes first when the fetcher's queue is full: the one with the oldest start
 * (a live hour is what viewers wait for; an old one comes back with the next repair). A binary
 * min-heap of (start, key); entries of segments that left the queue are skipped when they surface,
 * and the heap is rebuilt from the live keys once it holds twice as many entries as they are.
 */
interface Entry {
  start: number
  key: string
}

export class EvictionOrder {
  #heap: Entry[] = []

  get size(): number {
    return this.#heap.length
  }

  push(start: number, key: string): void {
    this.#heap.push({ start, key })
    this.#up(this.#heap.length - 1)
  }

  /**
   * The oldest entry for which `evictable(key)` holds, removed; null when none. Entries for which
   * `live(key)` is false are dropped on the way.
   */
  pop(live: (key: string) => boolean, evictable: (key: string) => boolean): Entry | null {
    const kept: Entry[] = []
    let found: Entry | null = null
    while (this.#heap.length > 0) {
      const top = this.#take()
      if (!live(top.key)) continue
      if (evictable(top.key)) {
        found = top
        break
      }
      // Live but running: it cannot go; it stays in the order.
      kept.push(top)
    }
    for (const e of kept) this.push(e.start, e.key)
    return found
  }

  /** The start of the oldest live entry, or null. */
  peekStart(live: (key: string) => boolean): number | null {
    while (this.#heap.length > 0 && !live(this.#heap[0]!.key)) this.#take()
    return this.#heap[0]?.start ?? null
  }

  /** Drop stale entries once they are half the heap, so it never grows past twice the live count. */
  compact(liveCount: number, entries: () => Iterable<Entry>): void {
    if (this.#heap.length <= 2 * liveCount + 64) return
    this.#heap = []
    for (const e of entries()) this.push(e.start, e.key)
  }

  #take(): Entry {
    const heap = this.#heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      this.#down(0)
    }
    return top
  }

  #up(i: number): void {
    const heap = this.#heap
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.start <= heap[i]!.start) return
      ;[heap[parent], heap[i]] = [heap[i]!, heap[parent]!]
      i = parent
    }
  }

  #down(i: number): void {
    const heap = this.#heap
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < heap.length && heap[l]!.start < heap[min]!.start) min = l
      if (r < heap.length && heap[r]!.start < heap[min]!.start) min = r
      if (min === i) return
      ;[heap[min], heap[i]] = [heap[i]!, heap[min]!]
      i = min
    }
  }
}
