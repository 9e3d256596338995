import assert from 'node:assert/strict'
import { writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it, mock, type TestContext } from 'node:test'
import { type SegSpec, T0, bytesFor, openStore, ref } from '../test/helpers/tree.ts'
import { HOLE, type Selection, SegmentSelector, cacheCost } from './best-segments.ts'
import { Reconciler } from './reconcile.ts'
import type { SegmentIndex } from './segment-index.ts'
import { tombstoneFileName } from './segment-name.ts'
import { MICROS_PER_HOUR } from './time.ts'

interface Spec extends SegSpec {
  size?: number
}

async function indexOf(t: TestContext, specs: Spec[]): Promise<{ index: SegmentIndex; selector: SegmentSelector }> {
  const { index } = await openStore(t)
  await index.apply(specs.map((s) => ({ op: 'put-segment' as const, ref: ref(s), size: s.size ?? 100, mtimeMs: 1 })))
  return { index, selector: new SegmentSelector(index) }
}

/** Render a selection compactly: `s+d` in seconds from `base`, `type` when not full, ∅ for HOLE. */
function show(selection: Selection, base = T0): string {
  return selection
    .map((s) => {
      if (s === HOLE) return '∅'
      const at = (s.start - base) / 1e6
      const d = s.duration / 1e6
      return `${at}+${d}${s.type === 'full' ? '' : ` ${s.type}`}`
    })
    .join(', ')
}

async function select(selector: SegmentSelector, from: number, to: number, allowHoles = true): Promise<Selection> {
  return await selector.select('c', 'q', T0 + from * 1000, T0 + to * 1000, { allowHoles })
}

const A: Spec[] = [
  { at: 5000, dur: 10000 },
  { at: 15000, dur: 10000 },
  { at: 30000, dur: 10000 },
  { at: 40000, dur: 10000 }
]

describe('best-segment selection: worked examples over one small hour', () => {
  it('A: [10, 60) → 5+10, 15+10, ∅, 30+10, 40+10, ∅', async (t) => {
    const { selector } = await indexOf(t, A)
    assert.equal(show(await select(selector, 10000, 60000)), '5+10, 15+10, ∅, 30+10, 40+10, ∅')
  })

  it("A': allow_holes=false raises ContainsHoles", async (t) => {
    const { selector } = await indexOf(t, A)
    await assert.rejects(select(selector, 10000, 60000, false), { code: 'SEGMESH_ERR_CONTAINS_HOLES' })
  })

  it('B, C, C3, C6', async (t) => {
    const { selector } = await indexOf(t, A)
    assert.equal(show(await select(selector, 15000, 25000)), '15+10')
    assert.equal(show(await select(selector, 25000, 35000)), '∅, 30+10')
    assert.equal(show(await select(selector, 26000, 29000)), '∅')
    assert.equal(show(await select(selector, 0, 5000)), '∅')
  })

  it('C4 (fixed quirk): a segment starting exactly at the end is not appended', async (t) => {
    const { selector } = await indexOf(t, A)
    assert.equal(show(await select(selector, 20000, 30000)), '15+10, ∅')
  })

  it('I: nothing at all', async (t) => {
    const { selector } = await indexOf(t, [])
    assert.equal(show(await select(selector, 0, 10000)), '∅')
  })

  it('D, D2: a larger full wins; duration beats size; suspect and partial lose to any full', async (t) => {
    const D: Spec[] = [
      { at: 0, dur: 2000, size: 100, seed: 'a' },
      { at: 0, dur: 2000, size: 200, seed: 'b' },
      { at: 0, dur: 2000, type: 'suspect', size: 900 },
      { at: 0, dur: 2000, type: 'partial', size: 1000 }
    ]
    const d = await indexOf(t, D)
    const [best] = await select(d.selector, 0, 2000)
    assert.equal(best?.size, 200)
    assert.equal(best?.type, 'full')
    const d2 = await indexOf(t, [...D, { at: 0, dur: 2500, size: 50, seed: 'e' }])
    assert.equal(show(await select(d2.selector, 0, 2000)), '0+2.5')
  })

  it('D3: equal fulls are broken by the highest hash bytes', async (t) => {
    const low = Buffer.alloc(32, 0x11)
    const high = Buffer.alloc(32, 0x22)
    const { selector } = await indexOf(t, [
      { at: 0, dur: 2000, hash: high },
      { at: 0, dur: 2000, hash: low }
    ])
    const [best] = await select(selector, 0, 2000)
    assert.equal(best?.file, ref({ at: 0, dur: 2000, hash: high }).file)
  })

  it('E, E2: suspect beats partial; a HOLE follows every non-full segment', async (t) => {
    const e = await indexOf(t, [
      { at: 0, dur: 2000, type: 'suspect', size: 10 },
      { at: 0, dur: 2000, type: 'partial', size: 1000 },
      { at: 2000, dur: 2000 }
    ])
    assert.equal(show(await select(e.selector, 0, 4000)), '0+2 suspect, ∅, 2+2')
    const e2 = await indexOf(t, [
      { at: 0, dur: 2000, type: 'partial', size: 10, seed: 'x' },
      { at: 0, dur: 2000, type: 'partial', size: 1000, seed: 'y' }
    ])
    const sel = await select(e2.selector, 0, 2000)
    assert.equal(show(sel), '0+2 partial, ∅')
    assert.equal(sel[0]?.size, 1000)
  })

  it('F: ±10 ms tolerance, inclusive', async (t) => {
    const { selector } = await indexOf(t, [
      { at: 0, dur: 2000 },
      { at: 2005, dur: 2000 },
      { at: 4020, dur: 2000 },
      { at: 6010, dur: 2000 },
      { at: 7980, dur: 2000 }
    ])
    assert.equal(show(await select(selector, 0, 10000)), '0+2, 2.005+2, ∅, 4.02+2, 6.01+2, ∅')
  })

  it('F2: a 10 ms overlap joins, 11 ms is dropped', async (t) => {
    const { selector } = await indexOf(t, [
      { at: 0, dur: 2000 },
      { at: 1990, dur: 2000 },
      { at: 3979, dur: 2000 }
    ])
    assert.equal(show(await select(selector, 0, 6000)), '0+2, 1.99+2, ∅')
  })

  it('G: the hour before the start is searched', async (t) => {
    const hour = 3600_000
    const { selector } = await indexOf(t, [
      { at: hour - 1000, dur: 3000 },
      { at: hour + 2000, dur: 3000 }
    ])
    assert.equal(show(await select(selector, hour + 1000, hour + 4000)), '3599+3, 3602+3')
  })

  it("K, L, L'", async (t) => {
    const k = await indexOf(t, [
      { at: 0, dur: 2000 },
      { at: 2000, dur: 2000, type: 'partial' },
      { at: 4000, dur: 2000 }
    ])
    assert.equal(show(await select(k.selector, 0, 6000)), '0+2, 2+2 partial, ∅, 4+2')
    const l = await indexOf(t, [
      { at: 0, dur: 2000 },
      { at: 2000, dur: 2000 },
      { at: 4000, dur: 2000 }
    ])
    assert.equal(show(await select(l.selector, 0, 4000)), '0+2, 2+2')
    const sel = await l.selector.select('c', 'q', T0, T0 + 4_000_001)
    assert.equal(show(sel), '0+2, 2+2, 4+2')
  })

  it('M: no tolerance at the start', async (t) => {
    const { selector } = await indexOf(t, [
      { at: 5, dur: 2000 },
      { at: 2005, dur: 2000 }
    ])
    assert.equal(show(await select(selector, 0, 4000)), '∅, 0.005+2, 2.005+2')
  })

  it('N: an overlapping segment is dropped whole', async (t) => {
    const { selector } = await indexOf(t, [
      { at: 0, dur: 2000 },
      { at: 1000, dur: 6000 },
      { at: 7000, dur: 2000 }
    ])
    assert.equal(show(await select(selector, 0, 9000)), '0+2, ∅, 7+2')
  })

  it('O: a partial alone', async (t) => {
    const { selector } = await indexOf(t, [{ at: 0, dur: 2000, type: 'partial' }])
    assert.equal(show(await select(selector, 500, 1500)), '0+2 partial, ∅')
  })

  it('H and P: temp, tombstoned, hidden and junk files on disk are ignored', async (t) => {
    const { store, index, segmentsDir } = await openStore(t)
    const dir = join(segmentsDir, 'c', 'q', '2020-01-01T00')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, '00:00.000000-2.0-temp-0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts'), 'x')
    for (const at of [2000, 4000]) {
      const r = ref({ at, dur: 2000, seed: `h${at}` })
      await writeFile(join(dir, r.file), bytesFor(`h${at}`))
      if (at === 4000) await writeFile(join(dir, tombstoneFileName(r.file)), '')
    }
    await writeFile(join(dir, `.${ref({ at: 6000, dur: 2000 }).file}`), 'hidden')
    await writeFile(join(dir, '00:06.000000-2.0.json'), '{}')
    await writeFile(join(dir, 'garbage.ts'), 'junk')
    const report = await new Reconciler(store).reconcileAll({ tempGraceMs: null })
    assert.equal(report.badNames, 2) // garbage.ts and the .json
    assert.equal(report.tempFiles, 1)
    const selector = new SegmentSelector(index)
    assert.equal(show(await select(selector, 0, 8000)), '∅, 2+2, ∅')
    assert.equal(show(await select(selector, 0, 2000)), '∅')
  })
})

describe('best-segment selection: caching and sharing', () => {
  it('sees a new segment in a cached hour, and a tombstone hides one at once', async (t) => {
    const { index, selector } = await indexOf(t, [{ at: 0, dur: 2000 }])
    assert.equal(show(await select(selector, 0, 4000)), '0+2, ∅')
    await index.apply([{ op: 'put-segment', ref: ref({ at: 2000, dur: 2000 }), size: 1, mtimeMs: 1 }])
    assert.equal(show(await select(selector, 0, 4000)), '0+2, 2+2')
    const r = ref({ at: 2000, dur: 2000 })
    await index.apply([{ op: 'put-tombstone', channel: 'c', quality: 'q', start: r.start, segment: r.file, mtimeMs: 1 }])
    assert.equal(show(await select(selector, 0, 4000)), '0+2, ∅')
  })

  it('identical concurrent selections share one promise', async (t) => {
    const { selector } = await indexOf(t, A)
    const a = selector.select('c', 'q', T0, T0 + 60_000_000)
    const b = selector.select('c', 'q', T0, T0 + 60_000_000)
    const [x, y] = await Promise.all([a, b])
    assert.equal(x, y)
    const z = await selector.select('c', 'q', T0, T0 + 60_000_000)
    assert.notEqual(z, x)
    assert.deepEqual(z, x)
  })

  it('refuses end before start', async (t) => {
    const { selector } = await indexOf(t, A)
    await assert.rejects(select(selector, 10, 5), RangeError)
  })
})

describe('best-segment selection: hostile ranges and the cache bounds', () => {
  /** The widest range a request can name (params.ts accepts years 1685 to 2254). */
  const CENTURIES = { start: Date.UTC(1685, 0, 1) * 1000, end: Date.UTC(2254, 11, 31) * 1000 }

  it('a range of centuries visits only the hours the index holds, and caches only those', async (t) => {
    // Two data hours 30 years apart: everything between, around and before is empty.
    const far = 30 * 365 * 24 * 3600_000
    const { index, selector } = await indexOf(t, [
      { at: 0, dur: 2000 },
      { at: far, dur: 2000 }
    ])
    const versions = mock.method(index, 'hourVersion')
    for (const allowHoles of [true, false]) {
      const sel = selector.select('c', 'q', CENTURIES.start, CENTURIES.end, { allowHoles })
      if (allowHoles) assert.equal(show(await sel), '∅, 0+2, ∅, 946080000+2, ∅')
      else await assert.rejects(sel, { code: 'SEGMESH_ERR_CONTAINS_HOLES' })
    }
    // Five million hours in the range; one read per hour that exists (and per selection).
    assert.ok(versions.mock.callCount() <= 4, `${versions.mock.callCount()} hour lookups`)
    assert.equal(selector.cacheUsage.hours, 2)
  })

  it('the per-hour cache stays within its hours and bytes, empty hours counted, under a flood of distinct hours', async (t) => {
    const { index } = await openStore(t)
    // 300 hours of data (one 2 s segment each) and 300 hours that hold only a tombstone (no candidates).
    const changes = []
    for (let h = 0; h < 300; h++) {
      changes.push({ op: 'put-segment' as const, ref: ref({ at: h * 3600_000, dur: 2000 }), size: 1, mtimeMs: 1 })
      const gone = ref({ at: (1000 + h) * 3600_000, dur: 2000 })
      changes.push({ op: 'put-tombstone' as const, channel: 'c', quality: 'q', start: gone.start, segment: gone.file, mtimeMs: 1 })
    }
    await index.apply(changes)
    const byHours = new SegmentSelector(index, { cacheHours: 50 })
    const byBytes = new SegmentSelector(index, { cacheBytes: 40 * cacheCost(0) })
    for (const selector of [byHours, byBytes]) {
      for (let h = 0; h < 1300; h++) selector.hourCandidates('c', 'q', T0 + h * MICROS_PER_HOUR)
      // And one century-long selection on top.
      await selector.select('c', 'q', CENTURIES.start, CENTURIES.end, { allowHoles: true })
      const usage = selector.cacheUsage
      assert.ok(usage.hours <= usage.maxHours && usage.bytes <= usage.maxBytes, JSON.stringify(usage))
    }
    assert.equal(byHours.cacheUsage.hours, 50)
    // Empty (tombstone-only) hours cost their key: 40 of them fill the byte budget.
    assert.ok(byBytes.cacheUsage.hours <= 40, JSON.stringify(byBytes.cacheUsage))
  })
})
