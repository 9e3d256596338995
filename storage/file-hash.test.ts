import assert from 'node:assert/strict'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { bytesFor, tempDir } from '../test/helpers/tree.ts'
import { hashFile } from './file-hash.ts'
import { sha256 } from './segment-hash.ts'

describe('hashFile (worker thread)', () => {
  it('answers the sha256, length and mtime of what is on disk, many at once', async (t) => {
    const dir = await tempDir(t)
    // Sizes around the worker's 1 MiB read buffer, and an empty file.
    const sizes = [0, 1, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 17]
    const files = await Promise.all(
      sizes.map(async (size, i) => {
        const path = join(dir, `f${i}`)
        const bytes = bytesFor(`file ${i}`, size)
        await writeFile(path, bytes)
        return { path, bytes }
      })
    )
    const results = await Promise.all(files.map(async (f) => await hashFile(f.path)))
    for (const [i, r] of results.entries()) {
      assert.ok(r.digest.equals(sha256(files[i]!.bytes)), `digest of ${sizes[i]} bytes`)
      assert.equal(r.size, sizes[i])
      assert.equal(r.mtimeMs, (await stat(files[i]!.path)).mtimeMs)
    }
  })

  it('fails with the error code of the read, and keeps working after', async (t) => {
    const dir = await tempDir(t)
    await assert.rejects(hashFile(join(dir, 'missing')), { code: 'ENOENT' })
    await assert.rejects(hashFile(dir), { code: 'EISDIR' })
    await writeFile(join(dir, 'present'), 'abc')
    assert.ok((await hashFile(join(dir, 'present'))).digest.equals(sha256(Buffer.from('abc'))))
  })
})
