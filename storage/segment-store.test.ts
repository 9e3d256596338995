/**
 * The store makes folders only for what it writes: a failed write (bytes that do not match the
 * name, a body cut off) in an hour or channel it did not have leaves no folder behind, while a
 * concurrent write into the same new hour still lands.
 */
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { sha256 } from './segment-hash.ts'
import { bytesFor, openStore, ref } from '../test/helpers/tree.ts'

async function* cutOff (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
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
