import assert from 'node:assert/strict'
import { chmod, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tempDir } from '../test/helpers/tree.ts'
import { NODE_KEY_FILE, loadOrCreateNodeKey } from './node-key.ts'

const peerIdOf = (key: PrivateKey): string => peerIdFromPrivateKey(key).toString()

describe('node key', () => {
  it('is created once as a 0600 Ed25519 protobuf and loads back as the same key', async (t) => {
    const dir = await tempDir(t, 'segmesh-key-')
    const key = await loadOrCreateNodeKey(dir)
    assert.equal(key.type, 'Ed25519')
    const path = join(dir, NODE_KEY_FILE)
    const st = await stat(path)
    assert.equal(st.mode & 0o777, 0o600)
    assert.deepEqual(new Uint8Array(await readFile(path)), privateKeyToProtobuf(key))
    assert.equal(st.size, 68)
    assert.deepEqual(await readdir(dir), [NODE_KEY_FILE], 'no temp file left behind')

    const again = await loadOrCreateNodeKey(dir)
    assert.ok(again.equals(key))
    assert.equal(peerIdOf(again), peerIdOf(key))
    assert.match(peerIdOf(key), /^12D3KooW/)
  })

  it('creates a missing data directory', async (t) => {
    const dir = join(await tempDir(t, 'segmesh-key-'), 'a', 'b')
    const key = await loadOrCreateNodeKey(dir)
    assert.equal((await stat(join(dir, NODE_KEY_FILE))).mode & 0o777, 0o600)
    assert.equal(peerIdOf(await loadOrCreateNodeKey(dir)), peerIdOf(key))
  })

  it('tightens a key readable by others to 0600 and says so', async (t) => {
    const dir = await tempDir(t, 'segmesh-key-')
    const key = await loadOrCreateNodeKey(dir)
    const path = join(dir, NODE_KEY_FILE)
    await chmod(path, 0o644)
    const warnings: object[] = []
    const log = { error: () => {}, info: () => {}, debug: () => {}, warn: (o: object) => warnings.push(o) }
    const loaded = await loadOrCreateNodeKey(dir, { log })
    assert.ok(loaded.equals(key))
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.deepEqual(warnings, [{ path, mode: '644' }])
  })

  it('refuses a corrupt key, a key of another type and a symlink, with a clear error', async (t) => {
    const dir = await tempDir(t, 'segmesh-key-')
    const path = join(dir, NODE_KEY_FILE)
    await writeFile(path, 'not a key', { mode: 0o600 })
    await assert.rejects(loadOrCreateNodeKey(dir), { name: 'NodeKeyError', code: 'SEGMESH_ERR_NODE_KEY', message: /corrupt/ })
    assert.equal(await readFile(path, 'utf8'), 'not a key', 'a bad key is never overwritten')

    await writeFile(path, privateKeyToProtobuf(await generateKeyPair('secp256k1')), { mode: 0o600 })
    await assert.rejects(loadOrCreateNodeKey(dir), { code: 'SEGMESH_ERR_NODE_KEY', message: /expected Ed25519/ })

    const other = await tempDir(t, 'segmesh-key-')
    await loadOrCreateNodeKey(other)
    await rm(path)
    await symlink(join(other, NODE_KEY_FILE), path)
    await assert.rejects(loadOrCreateNodeKey(dir), { code: 'SEGMESH_ERR_NODE_KEY', message: /symlink/ })
  })
})
