import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Plan, PlanBuilder, fingerprint } from './plan.ts'
import { Rng } from './prng.ts'
import { SCENARIOS } from './scenarios.ts'

function plan(scenario: string, seed: number, nodes = 5): Plan {
  const s = SCENARIOS.find((x) => x.name === scenario)!
  const b = new PlanBuilder(nodes, 20_000, { writesPerSecond: 2, tombstoneRatio: 0.2, segmentBytes: 4096 }, new Rng(seed))
  s.faults(b)
  b.workload()
  return b.build(s.name, seed)
}

describe('plans', () => {
  it('the same seed gives the same schedule; another seed another', () => {
    for (const s of SCENARIOS) {
      assert.equal(fingerprint(plan(s.name, 42)), fingerprint(plan(s.name, 42)), s.name)
      assert.notEqual(fingerprint(plan(s.name, 42)), fingerprint(plan(s.name, 43)), s.name)
    }
  })

  it('writes and tombstones go to nodes that are up; tombstones name earlier writes', () => {
    for (const s of SCENARIOS) {
      for (const seed of [1, 2, 3]) {
        const p = plan(s.name, seed, 7)
        const down = new Set<number>()
        const written = new Set<number>()
        assert.ok(
          p.bootstrapOf.every((b, i) => b < i),
          'each node joins through an earlier one'
        )
        for (const { op } of p.steps) {
          if (op.op === 'kill' || op.op === 'stop') down.add(op.node)
          if (op.op === 'restart') down.delete(op.node)
          if (op.op === 'write' || op.op === 'tombstone' || op.op === 'purge')
            assert.ok(!down.has(op.node), `${s.name}/${seed}: ${op.op} on down node ${op.node}`)
          if (op.op === 'write') written.add(op.write)
          if (op.op === 'tombstone') assert.ok(written.has(op.write), `${s.name}/${seed}: tombstone of write ${op.write} before it`)
        }
        assert.ok(written.size >= 4)
      }
    }
  })

  it('a step planned within the ms a node is killed in counts it down (steps are kept in whole ms)', () => {
    const b = new PlanBuilder(3, 20_000, { writesPerSecond: 2, tombstoneRatio: 0.2, segmentBytes: 4096 }, new Rng(1))
    b.add(10_000, { op: 'kill', node: 1 })
    assert.ok(b.downAt(9_999.6).has(1), 'rounded to 10000, it runs after the kill')
    assert.ok(!b.downAt(9_999.4).has(1))
    assert.equal(b.upNode(9_999.6, new Rng(1), [1]), null)
  })
})
