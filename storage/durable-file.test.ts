import assert from 'node:assert/strict'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tempDir } from '../test/helpers/tree.ts'
import { mkdirDurable, replaceFile } from './durable-file.ts'

describe('durable files', () => {
  it('mkdirDurable creates every missing folder and is a no-op when they exist', async (t) => {
    const root = await tempDir(t)
    const dir = join(root, 'a', 'b', 'c')
    await mkdirDurable(dir)
    assert.ok((await stat(dir)).isDirectory())
    await mkdirDurable(dir)
    await mkdirDurable(join(root, 'a', 'b', 'd'))
    assert.deepEqual((await readdir(join(root, 'a', 'b'))).sort(), ['c', 'd'])
  })

  it('replaceFile swaps the content whole, with the exact mode, leaving no temp file', async (t) => {
    const root = await tempDir(t)
    const path = join(root, 'key')
    await writeFile(path, 'old')
    const umask = process.umask(0o077)
    try {
      await replaceFile(path, 'new', { mode: 0o640 })
    } finally {
      process.umask(umask)
    }
    assert.equal(await readFile(path, 'utf8'), 'new')
    assert.equal((await stat(path)).mode & 0o777, 0o640)
    assert.deepEqual(await readdir(root), ['key'])
  })
})
