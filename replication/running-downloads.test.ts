import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { segmentRelPath } from '../storage/segment-name.ts'
import { ref } from '../test/helpers/tree.ts'
import { RunningDownloads } from './running-downloads.ts'

describe('RunningDownloads', () => {
  it('tracks downloads by name until the last ends, and wakes whoever waits on them', async () => {
    const downloads = new RunningDownloads()
    const seg = ref({ at: 0, dur: 2000 })
    const key = segmentRelPath(seg)
    const live = new AbortController().signal
    assert.equal(await downloads.ended(seg, 1000, live), false, 'none runs: false at once')

    const first = downloads.begin(seg)
    const second = downloads.begin(seg)
    assert.ok(downloads.has(key))
    const waited = downloads.ended(seg, 5000, live)
    first()
    first() // ending twice counts once
    assert.ok(downloads.has(key), 'one download of the name still runs')
    second()
    assert.equal(downloads.has(key), false)
    assert.equal(await waited, true)
  })

  it('gives up after its time or when the asker leaves, and forgets the waiter', async () => {
    const downloads = new RunningDownloads()
    const seg = ref({ at: 2000, dur: 2000 })
    const end = downloads.begin(seg)
    assert.equal(await downloads.ended(seg, 20, new AbortController().signal), false)
    const leaving = new AbortController()
    const waited = downloads.ended(seg, 5000, leaving.signal)
    leaving.abort()
    assert.equal(await waited, false)
    const aborted = AbortSignal.abort()
    assert.equal(await downloads.ended(seg, 5000, aborted), false, 'an asker already gone does not wait')
    end()
  })
})
