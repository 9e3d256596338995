import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tempDir } from '../test/helpers/tree.ts'
import { explainConfig, resolveConfig } from './load.ts'

describe('config', () => {
  it('has embedded defaults', () => {
    const c = resolveConfig({ cwd: '/srv' })
    assert.equal(c.dataDir, '/srv/data')
    assert.equal(c.segmentsDir, '/srv/data/segments')
    assert.equal(c.watch, true)
    assert.ok(Object.isFrozen(c))
  })

  it('listens for libp2p where HTTP listens unless --p2p-host says otherwise', () => {
    assert.equal(resolveConfig({ flags: { 'http-host': '127.0.0.1' } }).p2pHost, '127.0.0.1')
    assert.equal(resolveConfig({}).p2pHost, resolveConfig({}).httpHost)
    assert.equal(resolveConfig({ flags: { 'http-host': '127.0.0.1', 'p2p-host': '0.0.0.0' } }).p2pHost, '0.0.0.0')
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
    assert.throws(() => resolveConfig({ flags: { 'temp-grace-seconds': 'soon' } }), {
      key: '--temp-grace-seconds',
      message: /must be an integer/
    })
    assert.throws(() => resolveConfig({ flags: { 'temp-grace-seconds': '-1' } }), { message: /at least 0/ })
    assert.throws(() => resolveConfig({ env: { SEGMESH_WATCH: 'yes' } }), { key: 'SEGMESH_WATCH', message: /true or false/ })
    assert.throws(() => resolveConfig({ flags: { 'log-level': 'loud' } }), { key: '--log-level' })
    assert.throws(() => resolveConfig({ flags: { keep: ['desertbus', 'a/b/c'] } }), {
      key: '--keep',
      message: /'a\/b\/c' must be CHANNEL or CHANNEL\/QUALITY/
    })
    assert.throws(() => resolveConfig({ flags: { keep: '../x' } }), { key: '--keep', message: /name grammar/ })
    assert.deepEqual(resolveConfig({ flags: { data: dir, keep: ['desertbus', 'other/source,third'] } }).keep, [
      'desertbus',
      'other/source',
      'third'
    ])
    assert.throws(() => resolveConfig({ flags: { 'max-disk-bytes': '1.5T' } }), { key: '--max-disk-bytes', message: /binary unit/ })
    assert.throws(() => resolveConfig({ env: { SEGMESH_MAX_DISK_BYTES: '150%' } }), {
      key: 'SEGMESH_MAX_DISK_BYTES',
      message: /1% to 100%/
    })
    assert.deepEqual(resolveConfig({ flags: { data: dir, 'max-disk-bytes': '2G' } }).maxDiskBytes, { bytes: 2 * 1024 ** 3 })
    assert.deepEqual(resolveConfig({ flags: { data: dir, 'max-disk-bytes': '40%' } }).maxDiskBytes, { percent: 40 })
    assert.equal(resolveConfig({ flags: { data: dir } }).maxDiskBytes, null)
    await writeFile(file, '{ not json')
    assert.throws(() => resolveConfig({ file }), { key: '--config', message: /not valid JSON/ })
  })

  it('reads YAML files with the same keys, and says where each value came from', async (t) => {
    const dir = await tempDir(t)
    const file = join(dir, 'segmesh.yaml')
    await writeFile(
      file,
      '# a comment\ndataDir: /srv/seg\nhttpPort: 9000\nwatch: false\nbootstrap:\n  - /ip4/10.0.0.1/tcp/4001/p2p/12D3KooWabc\n'
    )
    const { config, sources } = explainConfig({
      file,
      env: { SEGMESH_HTTP_PORT: '9001', SEGMESH_ADMIN_TOKEN: 's3cret' },
      flags: { 'p2p-port': '0' }
    })
    assert.equal(config.dataDir, '/srv/seg')
    assert.equal(config.httpPort, 9001)
    assert.equal(config.watch, false)
    assert.deepEqual(config.bootstrap, ['/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWabc'])
    assert.deepEqual(sources.dataDir, { kind: 'file', where: `${file}: dataDir` })
    assert.deepEqual(sources.httpPort, { kind: 'env', where: 'SEGMESH_HTTP_PORT' })
    assert.deepEqual(sources.p2pPort, { kind: 'flag', where: '--p2p-port' })
    assert.deepEqual(sources.logLevel, { kind: 'default', where: 'default' })

    await writeFile(file, 'dataDir: x\nhttpPortt: 1\n')
    assert.throws(() => resolveConfig({ file }), { key: `${file}: httpPortt`, message: /unknown option/ })
    await writeFile(file, 'httpPort: eighty\n')
    assert.throws(() => resolveConfig({ file }), { key: `${file}: httpPort`, message: /must be an integer/ })
    await writeFile(file, 'dataDir: [unclosed\n')
    assert.throws(() => resolveConfig({ file }), { key: '--config', message: /not valid YAML/ })
    await writeFile(file, '- a list\n')
    assert.throws(() => resolveConfig({ file }), { key: '--config', message: /must hold a YAML object/ })
    // The same text in a .json file is read as JSON.
    const json = join(dir, 'segmesh.json')
    await writeFile(json, 'dataDir: x\n')
    assert.throws(() => resolveConfig({ file: json }), { message: /not valid JSON/ })
  })
})
