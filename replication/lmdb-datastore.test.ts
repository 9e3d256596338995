import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Key } from 'interface-datastore'
import { SegmentIndex } from '../storage/segment-index.ts'
import { tempDir } from '../test/helpers/tree.ts'
import { LmdbDatastore } from './lmdb-datastore.ts'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('LmdbDatastore', () => {
  it('stores, queries by prefix, deletes, survives reopening the index, and refuses use once closed', async (t) => {
    const dir = await tempDir(t)
    let index = SegmentIndex.open(join(dir, 'index'))
    let store = new LmdbDatastore(index.sideDatabase('p2p-address-book'))
    await store.put(new Key('/peers/a'), bytes('A'))
    await store.put(new Key('/peers/b'), bytes('B'))
    await store.put(new Key('/other/c'), bytes('C'))
    assert.equal(text(await store.get(new Key('/peers/a'))), 'A')
    assert.equal(await store.has(new Key('/peers/zz')), false)
    assert.throws(() => store.get(new Key('/peers/zz')), { name: 'NotFoundError' })
    const peers = []
    for await (const { key, value } of store.query({ prefix: '/peers' })) peers.push(`${key.toString()}=${text(value)}`)
    assert.deepEqual(peers.sort(), ['/peers/a=A', '/peers/b=B'])
    await store.delete(new Key('/peers/a'))
    const keys = []
    for await (const key of store.queryKeys({})) keys.push(key.toString())
    assert.deepEqual(keys.sort(), ['/other/c', '/peers/b'])

    // The index's segment data and the side database share one environment, and both persist.
    store.close()
    assert.throws(() => store.get(new Key('/peers/b')), /address book is closed/)
    await assert.rejects(store.put(new Key('/peers/x'), bytes('X')), /address book is closed/)
    await index.stop()
    index = SegmentIndex.open(join(dir, 'index'))
    t.after(async () => await index.stop())
    store = new LmdbDatastore(index.sideDatabase('p2p-address-book'))
    assert.equal(text(await store.get(new Key('/peers/b'))), 'B')
    assert.equal(await store.has(new Key('/peers/x')), false)
    assert.throws(() => index.sideDatabase('anything'), /unknown side database/)
  })
})
