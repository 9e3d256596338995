import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tempDir } from '../test/helpers/tree.ts'
import { resolveConfig } from './load.ts'

describe('record option', () => {
  it('takes NAME=URL flags, filling in --qualities', () => {
    const c = resolveConfig({
      flags: { record: ['db=https://o.test/master.m3u8', 'other=http://o.test/x.m3u8?a=1'], qualities: ['source,480p'] }
    })
    assert.deepEqual(c.record, [
      { channel: 'db', url: 'https://o.test/master.m3u8', qualities: ['source', '480p'], important: false },
      { channel: 'other', url: 'http://o.test/x.m3u8?a=1', qualities: ['source', '480p'], important: false }
    ])
    assert.equal(c.recordPollMs, 2000)
    assert.deepEqual(resolveConfig({}).record, [])
    assert.deepEqual(resolveConfig({}).qualities, ['source'])
  })

  it('takes comma-separated entries from the environment', () => {
    const c = resolveConfig({ env: { SEGMESH_RECORD: 'a=http://o.test/a.m3u8,b=http://o.test/b.m3u8' } })
    assert.deepEqual(
      c.record.map((r) => [r.channel, r.url, r.qualities]),
      [
        ['a', 'http://o.test/a.m3u8', ['source']],
        ['b', 'http://o.test/b.m3u8', ['source']]
      ]
    )
  })

  it('takes channel objects in a config file', async (t) => {
    const dir = await tempDir(t)
    const file = join(dir, 'c.json')
    await writeFile(
      file,
      JSON.stringify({
        qualities: ['720p'],
        record: { db: { url: 'https://o.test/m.m3u8', qualities: ['source', '480p'], important: true }, plain: 'https://o.test/p.m3u8' }
      })
    )
    assert.deepEqual(resolveConfig({ file }).record, [
      { channel: 'db', url: 'https://o.test/m.m3u8', qualities: ['source', '480p'], important: true },
      { channel: 'plain', url: 'https://o.test/p.m3u8', qualities: ['720p'], important: false }
    ])
    await writeFile(file, JSON.stringify({ record: [{ channel: 'db', url: 'https://o.test/m.m3u8' }] }))
    assert.deepEqual(
      resolveConfig({ file }).record.map((r) => r.channel),
      ['db']
    )
  })

  it('names the key of a bad entry', async (t) => {
    assert.throws(() => resolveConfig({ flags: { record: ['db'] } }), { key: '--record', message: /'db' is not NAME=URL/ })
    assert.throws(() => resolveConfig({ flags: { record: ['db=ftp://x'] } }), { key: '--record', message: /not an http\(s\) playlist URL/ })
    assert.throws(() => resolveConfig({ env: { SEGMESH_RECORD_POLL_MS: '5' } }), { key: 'SEGMESH_RECORD_POLL_MS', message: /at least 100/ })
    const dir = await tempDir(t)
    const file = join(dir, 'c.json')
    await writeFile(file, JSON.stringify({ record: { db: { url: 'https://o.test/m.m3u8', quality: 'source' } } }))
    assert.throws(() => resolveConfig({ file }), { key: `${file}: record`, message: /unknown field 'quality'/ })
    await writeFile(file, JSON.stringify({ record: { db: { url: 'https://o.test/m.m3u8', important: 'yes' } } }))
    assert.throws(() => resolveConfig({ file }), { message: /important of 'db' must be true or false/ })
  })
})
