import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sha256 } from '../storage/segment-hash.ts'
import { formatSegmentRef, tombstoneFileName } from '../storage/segment-name.ts'
import { T0, bytesFor, tempDir } from './helpers/tree.ts'

const run = promisify(execFile)
const SEGMESH = fileURLToPath(new URL('../bin/segmesh', import.meta.url))

describe('segmesh scan', () => {
  it('reconciles a tree and prints its counts, from any working directory', async (t) => {
    const data = await tempDir(t)
    for (const [i, type] of (['full', 'full', 'suspect'] as const).entries()) {
      const bytes = bytesFor(`cli${i}`, 100 + i)
      const ref = formatSegmentRef({
        channel: 'desertbus',
        quality: 'source',
        start: T0 + i * 2_000_000,
        duration: 2_000_000,
        type,
        hash: sha256(bytes)
      })
      const dir = join(data, 'segments', ref.channel, ref.quality, ref.hour)
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, ref.file), bytes)
      if (i === 1) await writeFile(join(dir, tombstoneFileName(ref.file)), '')
      if (i === 2) await writeFile(join(dir, 'garbage.ts'), 'x')
    }
    const { stdout } = await run(SEGMESH, ['scan', '--data', data, '--json', '--log-level', 'warn'], { cwd: '/' })
    const report = JSON.parse(stdout)
    assert.equal(report.channels, 1)
    assert.equal(report.hours, 1)
    assert.deepEqual(report.segments, { full: 1, suspect: 1, partial: 0 })
    assert.equal(report.tombstones, 1)
    assert.equal(report.badNames, 1)
    assert.equal(report.bytes, 100 + 102)
    assert.match(String(report.seconds), /^\d+(\.\d{1,3})?$/, 'seconds to the millisecond, not a float tail')

    const text = await run(SEGMESH, ['scan', '--data', data, '--log-level', 'silent'])
    assert.match(text.stdout, /segments\s+2 \(full 1, suspect 1, partial 0\)/)
    assert.match(text.stdout, /index changes\s+0 added, 0 removed/)
  })

  it('explains itself and names bad options', async () => {
    const help = await run(SEGMESH, ['--help'])
    assert.match(help.stdout, /scan/)
    const scanHelp = await run(SEGMESH, ['scan', '--help'])
    assert.match(scanHelp.stdout, /--data VALUE.*\[default: \.\/data\]/)
    assert.match(scanHelp.stdout, /SEGMESH_SEGMENTS_DIR/)
    await assert.rejects(run(SEGMESH, ['scan', '--dta', '/tmp']), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 64)
      assert.match(err.stderr, /--dta/)
      return true
    })
    await assert.rejects(run(SEGMESH, ['scan', '--temp-grace-seconds', 'x']), { code: 64 })
    await assert.rejects(run(SEGMESH, ['frobnicate']), { code: 64 })
  })
})
