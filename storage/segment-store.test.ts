/**
 * The store makes folders only for what it writes: a failed write (bytes that do not match the
 * name, a body cut off) in an hour or channel it did not have leaves no folder behind, while a
 * concurrent write into the same new hour still lands.
 */
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { type StoreChangeMessage, type StoreWriteMessage, storeChangeChannel, storeWriteChannel } from '../lib/diagnostics.ts'
import { sha256 } from './segment-hash.ts'
import { bytesFor, openStore, ref } from '../test/helpers/tree.ts'

async function* cutOff(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes.subarray(0, 10)
  throw new Error('connection reset by peer')
}

describe('segment store folders', () => {
  it('leaves no empty hour, quality or channel folder after failed writes; keeps folders that hold a segment', async (t) => {
    const { store, segmentsDir } = await openStore(t)
    const good = bytesFor('good', 500)
    // A name in a channel we never had, with bytes that are not its own.
    const lie = ref({ at: 0, dur: 2000, channel: 'ghost', quality: 'q', hash: sha256(bytesFor('other', 500)) })
    await assert.rejects(store.writeSegment(lie, good), { code: 'SEGMESH_ERR_HASH_MISMATCH' })
    // A body that breaks off, in another new channel.
    const broken = ref({ at: 0, dur: 2000, channel: 'ghost2', hash: sha256(good) })
    await assert.rejects(store.writeSegment(broken, cutOff(good)), /connection reset/)
    assert.deepEqual(await readdir(segmentsDir).catch(() => []), [], 'no folder left for names never written')
    // A real write makes its folders; a failed write beside it leaves them (they hold the segment).
    const real = ref({ at: 0, dur: 2000, channel: 'real', hash: sha256(good) })
    const wrong = ref({ at: 2000, dur: 2000, channel: 'real', hash: sha256(bytesFor('x', 500)) })
    await Promise.all([
      store.writeSegment(real, good),
      assert.rejects(store.writeSegment(wrong, good), { code: 'SEGMESH_ERR_HASH_MISMATCH' })
    ])
    assert.deepEqual(await readdir(segmentsDir), ['real'])
    assert.deepEqual(await readdir(store.hourDir(real)), [real.file])
    assert.ok(store.index.getSegment(real) != null)
  })
})

describe('segment store diagnostics channels', () => {
  it('publishes each change and how each named write ended, with the store folder that tells nodes apart', async (t) => {
    const { store, segmentsDir } = await openStore(t)
    const changes: StoreChangeMessage[] = []
    const writes: StoreWriteMessage[] = []
    const onChange = (m: unknown): void => {
      changes.push(m as StoreChangeMessage)
    }
    const onWrite = (m: unknown): void => {
      writes.push(m as StoreWriteMessage)
    }
    storeChangeChannel.subscribe(onChange)
    storeWriteChannel.subscribe(onWrite)
    t.after(() => {
      storeChangeChannel.unsubscribe(onChange)
      storeWriteChannel.unsubscribe(onWrite)
    })
    const bytes = bytesFor('seen', 300)
    const seen = ref({ at: 0, dur: 2000, hash: sha256(bytes) })
    await store.writeSegment(seen, bytes)
    await store.writeSegment(seen, bytes)
    const gone = ref({ at: 2000, dur: 2000, seed: 'gone' })
    await store.writeTombstone(gone)
    await assert.rejects(store.writeSegment(gone, bytesFor('gone', 300)), { code: 'SEGMESH_ERR_TOMBSTONED' })
    const path = (r: typeof seen): string => `${r.channel}/${r.quality}/${r.hour}/${r.file}`
    // The duplicate rewrites the file under the same name, so it may be published again.
    const mine = changes.filter((m) => m.segmentsDir === segmentsDir)
    assert.deepEqual(new Set(mine.map((m) => `${m.kind} ${m.path}`)), new Set([`segment ${path(seen)}`, `tombstone ${path(gone)}`]))
    assert.deepEqual(
      writes.filter((m) => m.segmentsDir === segmentsDir),
      [
        { segmentsDir, path: path(seen), outcome: 'stored', size: 300 },
        { segmentsDir, path: path(seen), outcome: 'duplicate', size: 300 },
        { segmentsDir, path: path(gone), outcome: 'refused' }
      ]
    )
  })
})
