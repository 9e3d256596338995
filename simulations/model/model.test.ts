/**
 * Properties of the model itself (not its numbers): a seed replays a run; idle traffic per node
 * does not grow with N; connections stay bounded; every node converges after a heal; a walk's
 * bytes grow with what differs, not with the archive; the model obeys the product's constants.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_REPAIR_SESSIONS, REPLICATOR_DEFAULTS, pushPullScale } from '../../replication/replicator.ts'
import { PROTOCOL } from './constants.ts'
import { runHeal } from './heal.ts'
import { runIdle } from './idle.ts'
import { BENCH } from './profiles.ts'
import { WalkCosts, walkOnce } from './range-walk.ts'
import { helloBytes } from './sizes.ts'

const idle = (nodes: number, seed: number): ReturnType<typeof runIdle> =>
  runIdle({ nodes, seed, costs: BENCH.costs, latency: BENCH.latency, roots: 0, joinGapUs: BENCH.joinGapUs })

describe('message-level model', () => {
  it('obeys the constants the product exports', () => {
    assert.equal(PROTOCOL.digestIntervalUs, REPLICATOR_DEFAULTS.digestIntervalMs * 1000)
    assert.equal(PROTOCOL.firstRoundUs, REPLICATOR_DEFAULTS.firstRoundMs * 1000)
    assert.equal(PROTOCOL.announceDelayUs, REPLICATOR_DEFAULTS.announceDelayMs * 1000)
    assert.equal(PROTOCOL.maxRepairSessions, MAX_REPAIR_SESSIONS)
    assert.deepEqual([32, 64, 1000, 1025].map(pushPullScale), [1, 2, 6, 7])
  })

  it('replays a run from its seed', () => {
    const { wallMs: _a, ...one } = idle(60, 7)
    const { wallMs: _b, ...two } = idle(60, 7)
    assert.deepEqual(one, two)
    const { wallMs: _c, ...other } = idle(60, 8)
    assert.notDeepEqual(one, other)
  })

  it('keeps idle traffic per node flat in N and connections bounded', () => {
    const small = idle(20, 1)
    const large = idle(2000, 1)
    const ratio = large.bytesPerNodeMinute.mean / small.bytesPerNodeMinute.mean
    assert.ok(ratio > 0.85 && ratio < 1.15, `20 → 2,000 nodes changed idle bytes per node ×${ratio.toFixed(2)}`)
    assert.ok(large.connections.min >= PROTOCOL.keptPeers, `a node with ${large.connections.min} connections`)
    // Inbound capped (maxInbound), plus at most 8 kept peers of its own.
    assert.ok(large.connections.max <= PROTOCOL.maxInbound + 2 * PROTOCOL.keptPeers, `a node with ${large.connections.max}`)
    assert.ok(large.connections.mean < 2 * PROTOCOL.keptPeers + 2)
  })

  it('converges every node after a partition of halves heals', async () => {
    const h = BENCH.heal
    const walks = await WalkCosts.build(h.archive, BENCH.costs)
    const r = runHeal({ nodes: 12, seed: 3, costs: BENCH.costs, latency: BENCH.latency, walks, ...h, faultUs: 30_000_000 })
    assert.ok(r.lackedAtHeal > 0, 'the halves differed at the heal')
    assert.equal(r.converged, 12)
    assert.ok(r.lagMs != null && r.lagMs.max < 60_000, `converged in ${r.lagMs?.max} ms`)
    assert.ok(r.walks > 0)
  })

  it('walks cost bytes that grow with the difference, not with the archive', async () => {
    const cost = async (days: number, d: number): Promise<number> =>
      (await walkOnce({ windowHours: days * 24, namesPerHour: 1800, newestHourNames: 1800 }, BENCH.costs, d, 0)).bytes
    const [d1, d10, d100] = [await cost(14, 1), await cost(14, 10), await cost(14, 100)]
    assert.ok(d1 < d10 && d10 < d100, `${d1} ${d10} ${d100}`)
    const d1Month = await cost(30, 1)
    assert.ok(d1Month < d1 * 1.15, `14 → 30 days: ${d1} → ${d1Month} B`)
    // One name in a dense hour: the walk of test/repair-cost.test.ts (5 requests, 5.4 KB with the download).
    const w = await walkOnce({ windowHours: 720, namesPerHour: 60, newestHourNames: 1800 }, BENCH.costs, 1, 0)
    assert.equal(w.partRequests + w.nameRequests, 5)
  })

  it('sizes messages with the product encoder', () => {
    assert.ok(helloBytes(0, 3) < helloBytes(0, 16))
    assert.ok(helloBytes(8, 3) > helloBytes(0, 3))
    assert.ok(helloBytes(8, 16, 64) > helloBytes(8, 16) + 64 * 60)
  })
})
