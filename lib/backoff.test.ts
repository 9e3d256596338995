import assert from 'node:assert/strict'
import { it } from 'node:test'
import { backoffMs } from './backoff.ts'

it('doubles from the base per failure up to the ceiling, spread within its bounds', () => {
  const policy = { baseMs: 1000, maxMs: 60_000 }
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, policy)),
    [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]
  )
  // A huge attempt count neither overflows nor passes the ceiling; a base above the ceiling wins.
  assert.equal(backoffMs(10_000, policy), 60_000)
  assert.equal(backoffMs(1, { baseMs: 90_000, maxMs: 60_000 }), 90_000)
  for (let i = 0; i < 1000; i++) {
    const ms = backoffMs(3, { ...policy, spread: [0.5, 1] })
    assert.ok(ms >= 2000 && ms <= 4000, `${ms} outside [2000, 4000]`)
  }
})
