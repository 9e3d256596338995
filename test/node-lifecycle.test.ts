/**
 * `segmesh start` as a real child process: the URL line, graceful drain on SIGTERM with a slow
 * client in flight, and a multi-GB response that leaves the server's memory flat.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdir, open, readFile, truncate } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { finished } from 'node:stream/promises'
import { describe, it, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { formatSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { tempDir } from './helpers/tree.ts'

const SEGMESH = fileURLToPath(new URL('../bin/segmesh', import.meta.url))
const START = Date.UTC(2020, 0, 1, 10) * 1000

/** A segment file of `size` zero bytes (sparse, so it costs no disk), placed under its real name. */
async function zeroSegment (segmentsDir: string, size: number): Promise<string> {
  const hash = createHash('sha256')
  const block = Buffer.alloc(1024 * 1024)
  for (let left = size; left > 0; left -= block.length) hash.update(left >= block.length ? block : block.subarray(0, left))
  const ref = formatSegmentRef({ channel: 'big', quality: 'source', start: START, duration: 2_000_000, type: 'full', hash: hash.digest() })
  const path = join(segmentsDir, segmentRelPath(ref))
  await mkdir(join(path, '..'), { recursive: true })
  await (await open(path, 'w')).close()
  await truncate(path, size)
  return `/segments/${ref.channel}/${ref.quality}/${ref.hour}/${encodeURIComponent(ref.file)}`
}

async function startNode (t: TestContext, data: string, extra: string[] = []): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(SEGMESH, ['start', '--data', data, '--http-host', '127.0.0.1', '--http-port', '0', '--log-level', 'warn', '--no-watch', '--p2p-host', '127.0.0.1', '--p2p-port', '0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { if (child.exitCode == null) child.kill('SIGKILL') })
  const lines = createInterface({ input: child.stdout! })
  for await (const line of lines) {
    const m = /^segmesh listening on (http:\/\/\S+)$/.exec(line)
    if (m != null) return { child, url: m[1]! }
  }
  throw new Error('segmesh exited before printing its URL')
}

async function vmHwmKb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+)/.exec(status)![1])
}

function hashName (path: string): string {
  return decodeURIComponent(path).slice(-46, -3)
}

describe('segmesh start', () => {
  it('drains a slow client on SIGTERM, refuses new work, and exits 0', async (t) => {
    const data = await tempDir(t)
    const path = await zeroSegment(join(data, 'segments'), 64 * 1024 * 1024)
    const { child, url } = await startNode(t, data, ['--shutdown-grace-seconds', '30'])
    const { hostname, port } = new URL(url)

    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ hostname, port, path }, resolve).on('error', reject)
    })
    assert.equal(res.statusCode, 200)
    const hash = createHash('sha256')
    let received = 0
    res.on('data', (c: Buffer) => { hash.update(c); received += c.length })
    res.pause() // a slow client: the server is stuck on backpressure when the signal comes
    await new Promise((resolve) => setTimeout(resolve, 300))
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.equal(child.exitCode, null, 'still draining')
    await assert.rejects(new Promise((resolve, reject) => {
      http.get({ hostname, port, path: '/healthz', agent: false }, resolve).on('error', reject)
    }), { code: 'ECONNREFUSED' }, 'no new connections while draining')
    res.resume()
    await once(res, 'end')
    assert.equal(received, 64 * 1024 * 1024)
    assert.equal(hash.digest('base64url'), hashName(path))
    const [code, signal] = await exited
    assert.deepEqual([code, signal], [0, null])
  })

  it('cuts off a client that outlives the drain time, still exiting 0', async (t) => {
    const data = await tempDir(t)
    const path = await zeroSegment(join(data, 'segments'), 64 * 1024 * 1024)
    const { child, url } = await startNode(t, data, ['--shutdown-grace-seconds', '1'])
    const { hostname, port } = new URL(url)
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ hostname, port, path }, resolve).on('error', reject)
    })
    res.pause()
    const exited = once(child, 'exit')
    child.kill('SIGINT')
    const [code] = await exited
    assert.equal(code, 0)
    res.resume()
    await assert.rejects(finished(res), 'the response was cut, not completed')
    assert.equal(res.complete, false)
  })

  it('streams a multi-GB segment with flat server memory', async (t) => {
    const data = await tempDir(t)
    const size = 2 * 1024 * 1024 * 1024
    const path = await zeroSegment(join(data, 'segments'), size)
    const { child, url } = await startNode(t, data)
    const before = await vmHwmKb(child.pid!)
    const hash = createHash('sha256')
    let received = 0
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${url}${path}`, resolve).on('error', reject)
    })
    assert.equal(Number(res.headers['content-length']), size)
    for await (const chunk of res) {
      hash.update(chunk as Buffer)
      received += (chunk as Buffer).length
    }
    const peak = await vmHwmKb(child.pid!)
    assert.equal(received, size)
    assert.equal(hash.digest('base64url'), hashName(path))
    t.diagnostic(`server peak RSS ${Math.round(before / 1024)} MiB before, ${Math.round(peak / 1024)} MiB after 2 GiB`)
    assert.ok(peak - before < 64 * 1024, `server peak RSS grew by ${Math.round((peak - before) / 1024)} MiB while streaming 2 GiB`)
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
  })
})
