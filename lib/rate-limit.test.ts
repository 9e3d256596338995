import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RateLimiter } from './rate-limit.ts'

describe('RateLimiter', () => {
  it('refills at its rate up to the burst', () => {
    let now = 0
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, now: () => now })
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('a')),
      [true, true, true, false]
    )
    now += 500 // one token back
    assert.deepEqual([limiter.take('a'), limiter.take('a')], [true, false])
    now += 60_000 // never more than the burst
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('a')),
      [true, true, true, false]
    )
    assert.equal(limiter.dropped, 3)
  })

  it('a flood of fresh keys never holds more than maxKeys buckets; the oldest goes first', () => {
    let now = 0
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 2, maxKeys: 100, now: () => now })
    limiter.take('honest')
    limiter.take('honest')
    for (let i = 0; i < 100_000; i++) {
      now++
      assert.ok(limiter.take(`fresh-${i}`))
      assert.ok(limiter.size <= 100)
    }
    assert.equal(limiter.size, 100)
    assert.ok(!limiter.has('honest') && limiter.has('fresh-99999') && !limiter.has('fresh-99899'))
  })
})
