import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { SegmentSelector } from '../storage/best-segments.ts'
import { recordSegments } from '../test/helpers/media.ts'
import { T0, openStore, tempDir } from '../test/helpers/tree.ts'
import { Cutter } from './cutter.ts'
import { runsOf } from './plan.ts'
import { childPids } from '../test/helpers/child-processes.ts'

const S = 1_000_000

async function setup(
  t: import('node:test').TestContext
): Promise<{ cutter: Cutter; temp: string; runs: ReturnType<typeof runsOf>; range: { start: number; end: number } }> {
  const { store, index } = await openStore(t)
  await recordSegments(store, 'c', 'q', T0, 12)
  const temp = join(await tempDir(t), 'cut-temp')
  const cutter = new Cutter({ store, tempDir: temp, concurrency: 1 })
  const range = { start: T0 + 1.5 * S, end: T0 + 23 * S }
  const runs = runsOf(await new SegmentSelector(index).select('c', 'q', range.start, range.end), range)
  return { cutter, temp, runs, range }
}

async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + 10_000
  while (!(await check())) {
    assert.ok(Date.now() < end, 'timed out')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const entries = async (dir: string): Promise<string[]> => await readdir(dir).catch(() => [])

describe('Cutter', () => {
  it('stop() ends running jobs: ffmpeg killed, temp files removed', async (t) => {
    const { cutter, temp, runs, range } = await setup(t)
    const cut = cutter.cut({ channel: 'c', quality: 'q', ranges: [range], runs, type: 'full', format: 'mp4' })
    cut.catch(() => {})
    await until(async () => (await entries(temp)).length > 0 && (await childPids()).length > 0)
    await cutter.stop()
    await assert.rejects(cut, /stopping/)
    assert.deepEqual(await entries(temp), [])
    assert.deepEqual(await childPids(), [])
    assert.equal(cutter.jobs.status()[0]!.state, 'aborted')
    assert.equal(cutter.jobs.slotsUsed, 0)
  })

  it('a fast cut stream closed early removes its edges and frees its slot', async (t) => {
    const { cutter, temp, runs, range } = await setup(t)
    const result = await cutter.cut({ channel: 'c', quality: 'q', ranges: [range], runs, type: 'fast', format: 'ts' })
    assert.equal(result.kind, 'stream')
    if (result.kind !== 'stream') return
    for await (const _ of result.stream) break
    // The job finishes last, once its temp folder is gone (polling the folder could see it empty
    // while the job was still finishing).
    await cutter.jobs.idle()
    assert.deepEqual(await entries(temp), [])
    assert.equal(cutter.jobs.slotsUsed, 0)
    assert.equal(cutter.jobs.status()[0]!.state, 'aborted')
    assert.deepEqual(await childPids(), [])
  })

  it('a rough cut needs no slot', async (t) => {
    const { cutter, runs, range } = await setup(t)
    const busy = cutter.jobs.acquire({ kind: 'full', channel: 'c', quality: 'q', ranges: [range], format: 'mp4' })
    const result = await cutter.cut({ channel: 'c', quality: 'q', ranges: [range], runs, type: 'rough', format: 'ts' })
    let bytes = 0
    assert.equal(result.kind, 'chunks')
    if (result.kind === 'chunks') for await (const chunk of result.chunks) bytes += chunk.length
    // Every selected segment, whole and untouched.
    assert.equal(
      bytes,
      runs.flatMap((r) => r.segments).reduce((n, s) => n + s.size, 0)
    )
    await assert.rejects(cutter.cut({ channel: 'c', quality: 'q', ranges: [range], runs, type: 'fast', format: 'ts' }), {
      code: 'SEGMESH_ERR_CUTTER_BUSY'
    })
    busy.finish('done')
  })
})
