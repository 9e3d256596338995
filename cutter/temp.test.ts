import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tempDir } from '../test/helpers/tree.ts'
import { makeJobDir, sweepJobDirs } from './temp.ts'

describe('cut temp folders', () => {
  it('sweeps the folders of processes that are gone, and only those', async (t) => {
    const root = await tempDir(t)
    // A pid that existed and is gone: a child that has exited.
    const dead = spawnSync('true').pid
    const mine = await makeJobDir(root)
    await writeFile(join(mine, 'edge.ts'), 'x')
    await mkdir(join(root, `segmesh-cut-${dead}-abc123`))
    await writeFile(join(root, `segmesh-cut-${dead}-abc123`, 'cut.mp4'), 'x')
    await mkdir(join(root, 'something-else'))
    assert.equal(await sweepJobDirs(root), 1)
    assert.deepEqual((await readdir(root)).sort(), [mine.split('/').at(-1)!, 'something-else'].sort())
    assert.equal(await sweepJobDirs(join(root, 'missing')), 0)
  })
})
