import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Rng } from './prng.ts'

describe('Rng', () => {
  it('replays the same sequence for the same seed, another for another seed', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const xs = Array.from({ length: 100 }, () => a.nextU32())
    assert.deepEqual(
      Array.from({ length: 100 }, () => b.nextU32()),
      xs
    )
    assert.notDeepEqual(
      Array.from({ length: 100 }, () => new Rng(43).nextU32()),
      xs
    )
    assert.equal(new Set(xs).size, 100)
  })

  it('forks streams by label that do not depend on how far the parent went', () => {
    const a = new Rng(7)
    const b = new Rng(7)
    b.next()
    b.next()
    assert.equal(a.fork('x').next(), b.fork('x').next())
    assert.notEqual(a.fork('x').next(), a.fork('y').next())
  })

  it('stays in range and looks uniform', () => {
    const r = new Rng(1)
    const counts = [0, 0, 0, 0]
    for (let i = 0; i < 40_000; i++) counts[r.int(4)]!++
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `bucket ${c}`)
    for (let i = 0; i < 1000; i++) {
      const x = r.between(3, 5)
      assert.ok(x >= 3 && x <= 5)
    }
    assert.deepEqual(r.shuffle([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5])
    assert.throws(() => r.pick([]), RangeError)
  })
})
