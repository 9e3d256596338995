import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Grudge, bridge, isolateOne, majoritiesRing, randomHalves, reachable } from './grudge.ts'
import { Rng } from './prng.ts'

const nodes = (n: number): number[] => Array.from({ length: n }, (_, i) => i)
const sees = (g: Grudge, all: number[], x: number): number[] => all.filter((y) => g.get(x)?.has(y) !== true)

function symmetric(g: Grudge): boolean {
  for (const [x, ys] of g) for (const y of ys) if (g.get(y)?.has(x) !== true) return false
  return true
}

describe('grudges', () => {
  it('random halves: two sides that cannot reach each other, each whole inside', () => {
    const all = nodes(7)
    const { grudge, sides } = randomHalves(all, new Rng(1))
    assert.deepEqual(
      sides.map((s) => s.length),
      [3, 4]
    )
    assert.ok(symmetric(grudge))
    for (const a of sides[0]!) {
      for (const b of sides[1]!) assert.equal(reachable(grudge, all, a, b), false)
      for (const c of sides[0]!) assert.equal(grudge.get(a)?.has(c) ?? false, false)
    }
  })

  it('isolate one: one node alone, the rest together', () => {
    const all = nodes(5)
    const { grudge, sides } = isolateOne(all, new Rng(2))
    const [lone] = sides[0]!
    assert.deepEqual(sees(grudge, all, lone!), [lone])
    for (const x of sides[1]!) assert.equal(sees(grudge, all, x).length, 4)
  })

  it('majorities ring: every node sees a majority, no two the same one, yet all are connected', () => {
    for (const n of [5, 6, 7, 20, 50]) {
      const all = nodes(n)
      const { grudge } = majoritiesRing(all, new Rng(n))
      assert.ok(symmetric(grudge))
      const views = all.map((x) => sees(grudge, all, x))
      for (const v of views) assert.ok(v.length > n / 2, `n=${n}: a view of ${v.length}`)
      assert.equal(new Set(views.map((v) => v.join(','))).size, n, `n=${n}: views are distinct`)
      for (const x of all) assert.ok(reachable(grudge, all, 0, x))
    }
  })

  it('bridge: the halves meet only through the node in the middle', () => {
    const all = nodes(9)
    const { grudge, sides } = bridge(all, new Rng(3))
    const middle = sides[0]!.find((x) => sides[1]!.includes(x))!
    assert.equal(sees(grudge, all, middle).length, 9)
    const a = sides[0]!.find((x) => x !== middle)!
    const b = sides[1]!.find((x) => x !== middle)!
    assert.equal(grudge.get(a)?.has(b), true)
    assert.ok(reachable(grudge, all, a, b), 'through the bridge')
    const without = new Map([...grudge].map(([k, v]) => [k, new Set([...v, middle])]))
    assert.equal(
      reachable(
        without,
        all.filter((x) => x !== middle),
        a,
        b
      ),
      false
    )
  })
})
