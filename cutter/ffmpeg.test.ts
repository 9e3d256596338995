import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { segmentFiles } from '../test/helpers/media.ts'
import { FfmpegError } from './errors.ts'
import { probeJson, run } from './ffmpeg.ts'
import { childPids } from '../test/helpers/child-processes.ts'

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** An ffmpeg that runs for a minute unless stopped. */
const LONG = ['-re', '-f', 'lavfi', '-i', 'anullsrc', '-t', '60', '-f', 'null', '-']

describe('ffmpeg wrapper', () => {
  it('resolves on success and reports progress', async () => {
    const seen: number[] = []
    await run('ffmpeg', ['-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=30', '-t', '1', '-f', 'null', '-'], {
      onProgress: (us) => seen.push(us)
    }).exited
    assert.ok(seen.length > 0 && seen.at(-1)! >= 900_000, `progress ${seen.join(',')}`)
  })

  it('fails with what ffmpeg printed on stderr', async () => {
    await assert.rejects(run('ffmpeg', ['-i', 'file:/nonexistent/segment.ts', '-f', 'null', '-']).exited, (err: unknown) => {
      assert.ok(err instanceof FfmpegError)
      assert.equal(err.code, 'SEGMESH_ERR_FFMPEG')
      assert.equal(err.tool, 'ffmpeg')
      assert.notEqual(err.exitCode, 0)
      assert.match(err.stderr, /No such file or directory/)
      assert.match(err.message, /exited with code \d+: .*No such file/)
      return true
    })
  })

  it('parses ffprobe JSON', async () => {
    const out = (await probeJson(['-f', 'lavfi', '-i', 'testsrc=size=32x16', '-show_entries', 'stream=width,height'])) as {
      streams: Array<{ width: number; height: number }>
    }
    assert.deepEqual(out.streams[0], { width: 32, height: 16 })
  })

  it('on abort kills ffmpeg and rejects with the reason', async () => {
    const stop = new AbortController()
    const proc = run('ffmpeg', LONG, { signal: stop.signal })
    assert.ok((await childPids()).includes(proc.pid!))
    setTimeout(() => stop.abort(new Error('client left')), 100)
    await assert.rejects(proc.exited, /client left/)
    assert.equal(alive(proc.pid!), false)
    assert.ok(!(await childPids()).includes(proc.pid!))
    assert.throws(() => run('ffmpeg', LONG, { signal: stop.signal }), /client left/)
  })

  it('kills ffmpeg that takes too long', async () => {
    await assert.rejects(run('ffmpeg', LONG, { timeoutMs: 100 }).exited, /took longer than 100 ms/)
  })

  it('stops an ffmpeg blocked on a stdout nobody reads', async () => {
    const proc = run('ffmpeg', ['-f', 'lavfi', '-i', 'testsrc=size=320x180', '-t', '60', '-f', 'rawvideo', 'pipe:1'], { stdout: true })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const t = performance.now()
    proc.kill()
    await assert.rejects(proc.exited, FfmpegError)
    assert.ok(performance.now() - t < 2000)
    assert.equal(alive(proc.pid!), false)
  })

  it('treats ffmpeg closing its input early as normal (EPIPE)', async () => {
    const [file] = await segmentFiles(12)
    const bytes = await readFile(file!)
    // 300 copies of a segment; ffmpeg stops reading after one frame.
    const input = (async function* () {
      for (let i = 0; i < 300; i++) yield bytes
    })()
    await run('ffmpeg', ['-f', 'mpegts', '-i', 'pipe:0', '-frames:v', '1', '-f', 'null', '-'], { input }).exited
  })

  it('fails when its input cannot be read', async () => {
    const [file] = await segmentFiles(12)
    const bytes = await readFile(file!)
    const input = (async function* () {
      yield bytes
      throw Object.assign(new Error('segment vanished'), { code: 'ENOENT' })
    })()
    await assert.rejects(
      run('ffmpeg', ['-f', 'mpegts', '-i', 'pipe:0', '-f', 'null', '-'], { input }).exited,
      /input failed: segment vanished/
    )
  })
})
