import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { hourDigests } from '../replication/digests.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { tempDir } from '../test/helpers/tree.ts'
import { noResurrection, nothingLost, tombstonesHold } from './checkers.ts'
import type { ServedState } from './final-state.ts'
import { History, sameDigests } from './history.ts'
import { requestsAnswered } from './measure.ts'
import type { ProbeEvent } from './probe.ts'
import { fetchStats } from './report.ts'
import { synthesize } from './segments.ts'
import type { DigestMap } from './sim-node.ts'

const BASE = Date.UTC(2026, 0, 1, 10) * 1000
const seg = (slot: number) => synthesize({ quality: 'source', slot, seed: `s${slot}`, size: 1000 }, BASE)
const ev = (t: number, node: number, type: ProbeEvent['type'], path: string): ProbeEvent => ({ t, node, type, path })

describe('checkers', () => {
  it('a request answered busy (upload slots full) is neither load served nor a duplicate download', () => {
    const x = seg(1).path
    const at = (node: number, type: ProbeEvent['type'], peer: string): ProbeEvent => ({ ...ev(1, node, type, x), peer })
    const events = [
      at(1, 'fetch-request', 'http://127.0.0.1:1000'),
      at(1, 'fetch-busy', 'http://127.0.0.1:1000'),
      at(1, 'fetch-request', 'http://127.0.0.1:2000'),
      at(2, 'fetch-request', 'http://127.0.0.1:1000')
    ]
    const cluster = {
      nodes: [
        { id: 0, publicUrl: 'http://127.0.0.1:1000' },
        { id: 1, publicUrl: 'http://127.0.0.1:2000' }
      ]
    }
    assert.deepEqual(requestsAnswered(cluster as Parameters<typeof requestsAnswered>[0], events), [1, 1])
    assert.equal(fetchStats(events).duplicateRequests, 0)
  })

  it('no-resurrection flags a request, store or index of a segment after its tombstone reached that node only', () => {
    const x = seg(1).path
    const fine = noResurrection([
      ev(1, 0, 'fetch-request', x),
      ev(2, 0, 'segment', x),
      ev(3, 0, 'tombstone', x),
      ev(4, 1, 'fetch-request', x),
      ev(5, 1, 'tombstone', x)
    ])
    assert.ok(fine.ok, fine.violations.join('; '))
    const bad = noResurrection([ev(3, 0, 'tombstone', x), ev(9, 0, 'fetch-request', x), ev(10, 0, 'fetch-stored', x)])
    assert.equal(bad.violations.length, 2)
    assert.match(bad.violations[0]!, /node 0: fetch-request .* 6 ms after its tombstone/)
  })

  it('nothing-lost tells a segment missing on some nodes from one lost everywhere', () => {
    const [a, b] = [seg(1).path, seg(2).path]
    const s = (node: number, visible: string[]): ServedState => ({
      node,
      visible: new Set(visible),
      tombstones: new Set(),
      served: new Map()
    })
    const c = nothingLost(new Set([a, b]), [s(0, [a]), s(1, [])])
    assert.deepEqual(c.violations, [`${a} missing on nodes 1`, `LOST ${b}: on no node`])
  })

  it('tombstones-hold wants the tombstone, no listing and a 404 on every node', () => {
    const x = seg(1).path
    const good: ServedState = { node: 0, visible: new Set(), tombstones: new Set([x]), served: new Map([[x, 404]]) }
    const bad: ServedState = { node: 1, visible: new Set([x]), tombstones: new Set(), served: new Map([[x, 200]]) }
    assert.equal(tombstonesHold(new Set([x]), [good, bad]).violations.length, 3)
    assert.ok(tombstonesHold(new Set([x]), [good]).ok)
  })

  it('expected digests equal the ones a real index computes for the same segments and tombstones', async (t) => {
    const dir = await tempDir(t)
    const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 64 * 1024 ** 2 })
    t.after(async () => await index.stop())
    const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
    const history = new History()
    for (let i = 0; i < 40; i++) {
      const s = synthesize({ quality: i % 3 === 0 ? 'low' : 'source', slot: i * 60, seed: `d${i}`, size: 500 }, BASE)
      await store.recordSegment(
        { channel: s.ref.channel, quality: s.ref.quality, start: s.ref.start, duration: s.ref.duration, type: 'full' },
        s.bytes
      )
      history.writes.set(i, { write: i, node: 0, path: s.path, bytes: 500, ok: true, ackAt: 0 })
      if (i % 7 === 0) {
        await store.writeTombstone(s.ref)
        history.tombstones.push({ node: 0, write: i, path: s.path, ok: true, at: 0 })
      }
    }
    const actual: DigestMap = new Map()
    for (const [key, hours] of hourDigests(index, 0)) actual.set(key, new Map(hours.map((h) => [h.hour, h.digest])))
    assert.equal(actual.get('sim/source')?.size, 1 + Math.floor((39 * 60 * 2) / 3600))
    assert.ok(sameDigests(history.expectedDigests(), actual))
    history.tombstones.push({ node: 0, write: 1, path: [...history.writes.values()][1]!.path, ok: true, at: 0 })
    assert.ok(!sameDigests(history.expectedDigests(), actual))
  })
})
