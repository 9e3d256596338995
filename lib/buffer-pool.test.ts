import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BufferPool } from './buffer-pool.ts'

describe('BufferPool', () => {
  it('lends at most its budget, reuses what comes back, and never lends for a larger body', () => {
    const pool = new BufferPool({ bufferBytes: 1024, maxBytes: 3 * 1024 })
    assert.equal(pool.take(1025), null)
    const lent = [pool.take(10), pool.take(1024), pool.take(1)]
    assert.ok(lent.every((b) => b != null && b.length === 1024))
    assert.equal(pool.take(10), null, 'over the budget')
    assert.equal(pool.out, 3)
    // A view comes back as the whole buffer, and is lent again.
    pool.give(lent[0]!.subarray(0, 10))
    const again = pool.take(500)
    assert.equal(again?.buffer, lent[0]!.buffer)
    assert.equal(again?.length, 1024)
    for (const b of [again!, lent[1]!, lent[2]!]) pool.give(b)
    assert.equal(pool.out, 0)
  })
})
