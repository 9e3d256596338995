import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { silentLogger } from '../lib/logger.ts'
import { CutterBusyError } from './errors.ts'
import { CutJobs, type JobInfo } from './jobs.ts'

const info: JobInfo = { kind: 'full', channel: 'c', quality: 'q', ranges: [{ start: 0, end: 60_000_000 }], format: 'mp4' }

describe('CutJobs', () => {
  it('hands out `concurrency` slots, then refuses with a retry hint', () => {
    const jobs = new CutJobs({ concurrency: 2, log: silentLogger })
    const a = jobs.acquire(info)
    jobs.acquire(info)
    assert.throws(
      () => jobs.acquire(info),
      (err: unknown) => err instanceof CutterBusyError && err.code === 'SEGMESH_ERR_CUTTER_BUSY' && err.retryAfterSeconds === 5
    )
    // A fast cut gives its slot back once ffmpeg is done, while it keeps streaming.
    a.releaseSlot()
    assert.equal(a.state, 'streaming')
    const c = jobs.acquire(info)
    assert.throws(() => jobs.acquire(info), CutterBusyError)
    c.finish('done')
    assert.equal(jobs.slotsUsed, 1)
  })

  it('estimates Retry-After from the progress of running jobs', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 })
    const jobs = new CutJobs({ concurrency: 1, log: silentLogger })
    const job = jobs.acquire(info)
    // Half done after 10 s: about 10 s to go (not the 5 s guess used without progress).
    t.mock.timers.tick(10_000)
    job.progress(30_000_000, 60_000_000)
    assert.throws(
      () => jobs.acquire(info),
      (err: unknown) => err instanceof CutterBusyError && err.retryAfterSeconds === 10
    )
  })

  it('reports running jobs first, then recent ones; the first outcome wins', () => {
    const jobs = new CutJobs({ concurrency: 3, log: silentLogger, keepFinished: 2 })
    const done = jobs.acquire(info)
    done.progress(15_000_000, 60_000_000)
    assert.equal(jobs.status()[0]!.progress, 0.25)
    done.finish('done')
    done.finish('failed', new Error('late'))
    const failed = jobs.acquire({ ...info, kind: 'fast', format: 'ts' })
    failed.finish('failed', new Error('ffmpeg exited with code 1'))
    const running = jobs.acquire(info)
    const status = jobs.status()
    assert.deepEqual(
      status.map((s) => [s.id, s.state]),
      [
        [running.id, 'running'],
        [failed.id, 'failed'],
        [done.id, 'done']
      ]
    )
    assert.equal(status[1]!.error, 'ffmpeg exited with code 1')
    assert.equal(status[2]!.progress, 1)
    assert.equal(status[2]!.ranges[0]!.start, '1970-01-01T00:00:00.000000Z')
  })

  it('aborts every job and tells when all are over', async () => {
    const jobs = new CutJobs({ concurrency: 2, log: silentLogger })
    const job = jobs.acquire(info)
    job.signal.addEventListener('abort', () => setTimeout(() => job.finish('aborted'), 10))
    jobs.abortAll(new Error('stopping'))
    await jobs.idle()
    assert.equal(job.state, 'aborted')
  })
})
