import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { limit, runLimited } from './concurrency.ts'

/** A job that records how many run beside it; `log` gets its number when it starts. */
function tracked(peak: { running: number; max: number }, log: number[], i: number): () => Promise<void> {
  return async () => {
    log.push(i)
    peak.running++
    peak.max = Math.max(peak.max, peak.running)
    await sleep(5)
    peak.running--
  }
}

describe('limit', () => {
  it('runs at most n at once, in call order', async () => {
    const gate = limit(2)
    const peak = { running: 0, max: 0 }
    const order: number[] = []
    await Promise.all([0, 1, 2, 3, 4].map(async (i) => await gate(tracked(peak, order, i))))
    assert.equal(peak.max, 2)
    assert.deepEqual(order, [0, 1, 2, 3, 4])
  })
})

describe('runLimited', () => {
  it('runs every job, at most n at once, in list order', async () => {
    const peak = { running: 0, max: 0 }
    const order: number[] = []
    await runLimited(
      Array.from({ length: 7 }, (_, i) => tracked(peak, order, i)),
      3
    )
    assert.equal(peak.max, 3)
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6])
  })

  it('an empty list finishes at once', async () => {
    await runLimited([], 4)
  })
})
