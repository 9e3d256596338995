import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ref } from '../test/helpers/tree.ts'
import { Announcer } from './announcer.ts'
import { RunningDownloads } from './running-downloads.ts'
import { type AnnouncedItem, itemPath } from './messages.ts'

function announcer(): { announcer: Announcer; downloads: RunningDownloads; batches: string[][] } {
  const batches: string[][] = []
  const downloads = new RunningDownloads()
  const a = new Announcer({
    send: (items: AnnouncedItem[]) => batches.push(items.map((i) => `${itemPath(i)}${i.proof != null ? ` ${i.proof}` : ''}`)),
    tombstoneProof: (r) => (r.start % 2_000_000 === 0 ? 'proof' : null),
    delayMs: 5,
    downloading: (key) => downloads.has(key)
  })
  return { announcer: a, downloads, batches }
}

describe('Announcer', () => {
  it("batches what the node gained itself; never what it downloaded or a peer's tombstone", async () => {
    const { announcer: a, downloads, batches } = announcer()
    const [own, fetched, twice, theirs, mine] = [0, 2000, 4000, 6000, 8000].map((at) => ref({ at, dur: 2000 }))
    a.changed({ kind: 'segment', ref: own! })
    const done = downloads.begin(fetched!)
    a.changed({ kind: 'segment', ref: fetched! })
    // Two downloads of one name: still not announced until both end.
    const first = downloads.begin(twice!)
    const second = downloads.begin(twice!)
    first()
    first() // ending twice counts once
    a.changed({ kind: 'segment', ref: twice! })
    await a.receiving(theirs!, async () => a.changed({ kind: 'tombstone', ref: theirs! }))
    a.changed({ kind: 'tombstone', ref: mine! })
    await sleep(30)
    assert.deepEqual(batches, [[itemPath({ kind: 'segment', ref: own! }), `${itemPath({ kind: 'tombstone', ref: mine! })} proof`]])
    done()
    second()
    // Once their downloads ended, the same names are this node's own changes again (a re-record).
    a.changed({ kind: 'segment', ref: fetched! })
    a.changed({ kind: 'segment', ref: twice! })
    a.changed({ kind: 'tombstone', ref: theirs! })
    await sleep(30)
    assert.equal(batches.length, 2)
    assert.equal(batches[1]!.length, 3)
  })

  it('stop() drops the batch not yet sent', async () => {
    const { announcer: a, batches } = announcer()
    a.changed({ kind: 'segment', ref: ref({ at: 0, dur: 2000 }) })
    a.stop()
    await sleep(30)
    assert.deepEqual(batches, [])
  })
})
