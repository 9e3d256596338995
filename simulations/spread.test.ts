import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { History, type OpRecord } from './history.ts'
import type { Op } from './plan.ts'
import type { ProbeEvent } from './probe.ts'
import { NAME_KNOWN, faultIntervals, newSegmentSpread, percentile } from './spread.ts'

const T0 = 1_800_000_000_000
const NODES = 3

/** A history of writes (id → origin, step start and ack, ms after t0) and other steps. */
function history(
  writes: Array<{ id: number; node: number; start: number; ack: number }>,
  steps: Array<{ t: number; ms?: number; op: Op }> = [],
  healAt = 60_000
): History {
  const h = new History()
  h.t0 = T0
  h.healAt = healAt
  for (const w of writes) {
    h.writes.set(w.id, { write: w.id, node: w.node, path: `sim/source/h/w${w.id}`, bytes: 100, ok: true, ackAt: w.ack })
    const op: Op = { op: 'write', node: w.node, write: w.id, segment: { quality: 'source', slot: w.id, seed: 's', size: 100 } }
    h.ops.push({ at: w.start, t: w.start, ms: w.ack - w.start, op, ok: true })
  }
  for (const s of steps) h.ops.push({ at: s.t, t: s.t, ms: s.ms ?? 0, op: s.op, ok: true })
  return h
}

/** Store events: write id → per node, ms after t0 (the origin's own `segment`, the others' backfill). */
function stored(byWrite: Record<number, Array<number | null>>, origin: Record<number, number>): ProbeEvent[] {
  const out: ProbeEvent[] = []
  for (const [id, times] of Object.entries(byWrite)) {
    for (const [node, t] of times.entries()) {
      if (t == null) continue
      const path = `sim/source/h/w${id}`
      if (node !== origin[Number(id)]) out.push({ t: T0 + t - 1, node, type: 'fetch-stored', path, bytes: 100 })
      out.push({ t: T0 + t, node, type: 'segment', path })
    }
  }
  return out
}

const partition: Op = { op: 'partition', kind: 'halves', grudge: { 0: [2], 2: [0] }, sides: [[0, 1], [2]] }

describe('spread of a new segment', () => {
  it('is the time from the ack to the last node storing it (its first store event), nearest-rank percentiles', () => {
    const h = history([
      { id: 0, node: 0, start: 1000, ack: 1010 },
      { id: 1, node: 1, start: 2000, ack: 2005 },
      { id: 2, node: 2, start: 3000, ack: 3002 }
    ])
    const events = stored({ 0: [1008, 1300, 1500], 1: [2200, 2003, 2105], 2: [3900, 3400, 3001] }, { 0: 0, 1: 1, 2: 2 })
    // A later duplicate store changes nothing: the first one counts.
    events.push({ t: T0 + 9000, node: 1, type: 'segment', path: 'sim/source/h/w0' })
    const s = newSegmentSpread(h, events, NODES)
    assert.deepEqual(
      { measured: s.measured, p50: s.p50Ms, p99: s.p99Ms, max: s.maxMs, unreached: s.unreached },
      // Last stores 1499, 2199, 3899 (each backfill written 1 ms before its index event): 489, 194, 897
      { measured: 3, p50: 489, p99: 897, max: 897, unreached: 0 }
    )
  })

  it('leaves out writes made under a partition and those a partition cut before they were everywhere', () => {
    const h = history(
      [
        { id: 0, node: 0, start: 1000, ack: 1010 }, // everywhere at 1500, before the cut at 9000: counted
        { id: 1, node: 0, start: 8000, ack: 8010 }, // not everywhere when the cut comes: interrupted
        { id: 2, node: 0, start: 9500, ack: 9510 }, // made under the partition
        { id: 3, node: 1, start: 61_000, ack: 61_010 } // after the heal: counted
      ],
      [
        { t: 9000, ms: 20, op: partition },
        { t: 60_000, ms: 30, op: { op: 'heal-partition' } }
      ]
    )
    const events = stored(
      { 0: [1010, 1400, 1500], 1: [8010, 8500, 62_000], 2: [9510, 9600, 61_500], 3: [61_300, 61_010, 61_200] },
      { 0: 0, 1: 0, 2: 0, 3: 1 }
    )
    const s = newSegmentSpread(h, events, NODES)
    assert.deepEqual(
      { measured: s.measured, interrupted: s.interrupted, underFault: s.underFault, p50: s.p50Ms, max: s.maxMs },
      { measured: 2, interrupted: 1, underFault: 1, p50: 289, max: 489 }
    )
  })

  it('counts a write the network stayed whole for but that never reached every node, as unreached (no p99)', () => {
    const h = history([
      { id: 0, node: 0, start: 1000, ack: 1010 },
      { id: 1, node: 0, start: 2000, ack: 2010 }
    ])
    const s = newSegmentSpread(h, stored({ 0: [1010, 1100, 1200], 1: [2010, 2100, null] }, { 0: 0, 1: 0 }), NODES)
    assert.deepEqual(
      { measured: s.measured, unreached: s.unreached, p50: s.p50Ms, p99: s.p99Ms },
      { measured: 2, unreached: 1, p50: 189, p99: null }
    )
  })

  it('a slow write whose window the network stayed whole for is measured even if a fault came later', () => {
    // Everywhere 12 s after its ack; the cut comes 11 s after it, past the 10 s window.
    const h = history([{ id: 0, node: 0, start: 1000, ack: 1010 }], [{ t: 12_010, op: partition }])
    const s = newSegmentSpread(h, stored({ 0: [1010, 1200, 13_010] }, { 0: 0 }), NODES)
    assert.deepEqual({ measured: s.measured, max: s.maxMs }, { measured: 1, max: 11_999 })
  })

  it('leaves out a write tombstoned before it was everywhere', () => {
    const h = history([
      { id: 0, node: 0, start: 1000, ack: 1010 },
      { id: 1, node: 0, start: 2000, ack: 2010 }
    ])
    h.tombstones.push({ node: 1, write: 0, path: 'sim/source/h/w0', ok: true, at: 1050 })
    h.tombstones.push({ node: 1, write: 1, path: 'sim/source/h/w1', ok: true, at: 5000 })
    const s = newSegmentSpread(h, stored({ 0: [1010, 1040], 1: [2010, 2100, 2300] }, { 0: 0, 1: 0 }), NODES)
    assert.deepEqual(
      { measured: s.measured, tombstonedFirst: s.tombstonedFirst, max: s.maxMs },
      { measured: 1, tombstonedFirst: 1, max: 289 }
    )
  })

  it('with NAME_KNOWN, a node has the write from the first time it learned the name or stored it', () => {
    const h = history([{ id: 0, node: 0, start: 1000, ack: 1010 }])
    const events = stored({ 0: [1008, 1300, 1900] }, { 0: 0 })
    const path = 'sim/source/h/w0'
    // Node 1 learned the name at 1100, node 2 at 1150 (and again later: the first counts).
    events.push({ t: T0 + 1100, node: 1, type: 'name', path }, { t: T0 + 1150, node: 2, type: 'name', path })
    events.push({ t: T0 + 1800, node: 2, type: 'name', path })
    assert.equal(newSegmentSpread(h, events, NODES, NAME_KNOWN).maxMs, 140)
    assert.equal(newSegmentSpread(h, events, NODES).maxMs, 889)
    // A node that never learned it but stored it (a name event lost) counts from its store.
    const noName = events.filter((e) => !(e.type === 'name' && e.node === 2))
    assert.equal(newSegmentSpread(h, noName, NODES, NAME_KNOWN).maxMs, 889)
  })

  it('fault intervals: from a fault step start to the end of the step that lifts it, or to the heal', () => {
    const op = (t: number, ms: number, o: Op): OpRecord => ({ at: t, t, ms, op: o, ok: true })
    const ops = [
      op(100, 5, { op: 'kill', node: 1 }),
      op(900, 50, { op: 'restart', node: 1 }),
      op(1000, 0, { op: 'gossip', nodes: [0, 2], loss: 0.4, delayMs: 0 }),
      op(2000, 1, { op: 'gossip', nodes: [0], loss: 0, delayMs: 0 }),
      op(3000, 0, { op: 'toxic', node: 2, toxic: { latencyMs: 100 } }),
      op(4000, 0, { op: 'toxic', node: 2, toxic: null }),
      op(5000, 0, { op: 'attack', node: 0, attack: 'sybil-flood' }),
      op(6000, 10, { op: 'write', node: 0, write: 0, segment: { quality: 'source', slot: 0, seed: 's', size: 1 } })
    ]
    assert.deepEqual(faultIntervals(ops, 9000), [
      [100, 950],
      [1000, 2001],
      [1000, 9000],
      [3000, 4000],
      [5000, 9000]
    ])
  })

  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 200 }, (_, i) => i + 1)
    assert.deepEqual([percentile(xs, 50), percentile(xs, 99), percentile(xs, 100)], [100, 198, 200])
    assert.equal(percentile([], 50), null)
    assert.equal(percentile([1, Number.POSITIVE_INFINITY], 99), null)
  })
})
