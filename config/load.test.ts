import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tempDir } from '../test/helpers/tree.ts'
import { resolveConfig } from './load.ts'

describe('config', () => {
  it('has embedded defaults', () => {
    const c = resolveConfig({ cwd: '/srv' })
    assert.equal(c.dataDir, '/srv/data')
    assert.equal(c.segmentsDir, '/srv/data/segments')
    assert.equal(c.watch, true)
    assert.ok(Object.isFrozen(c))
  })

  it('layers file < env < flags', async (t) => {
    const dir = await tempDir(t)
    const file = join(dir, 'segmesh.json')
    await writeFile(file, JSON.stringify({ dataDir: 'from-file', tempGraceSeconds: 5, rescanIntervalSeconds: 7 }))
    const c = resolveConfig({
      cwd: '/x',
      file,
      env: { SEGMESH_TEMP_GRACE_SECONDS: '6', SEGMESH_WATCH: 'false', PATH: '/bin' },
      flags: { 'temp-grace-seconds': '8', 'segments-dir': '/wub' }
    })
    assert.equal(c.dataDir, '/x/from-file')
    assert.equal(c.tempGraceSeconds, 8)
    assert.equal(c.rescanIntervalSeconds, 7)
    assert.equal(c.watch, false)
    assert.equal(c.segmentsDir, '/wub')
  })

  it('names the bad key', async (t) => {
    const dir = await tempDir(t)
    const file = join(dir, 'bad.json')
    await writeFile(file, JSON.stringify({ dataDri: 'x' }))
    assert.throws(() => resolveConfig({ file }), { code: 'SEGMESH_ERR_CONFIG', message: /dataDri: unknown option/ })
    assert.throws(() => resolveConfig({ env: { SEGMESH_DATA: 'x' } }), { key: 'SEGMESH_DATA' })
    assert.throws(() => resolveConfig({ flags: { 'temp-grace-seconds': 'soon' } }), { key: '--temp-grace-seconds', message: /must be an integer/ })
    assert.throws(() => resolveConfig({ flags: { 'temp-grace-seconds': '-1' } }), { message: /at least 0/ })
    assert.throws(() => resolveConfig({ env: { SEGMESH_WATCH: 'yes' } }), { key: 'SEGMESH_WATCH', message: /true or false/ })
    assert.throws(() => resolveConfig({ flags: { 'log-level': 'loud' } }), { key: '--log-level' })
    await writeFile(file, '{ not json')
    assert.throws(() => resolveConfig({ file }), { key: '--config', message: /not valid JSON/ })
  })
})
