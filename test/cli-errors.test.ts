/**
 * What an operator sees when a command line or a start-up goes wrong: one plain line naming the
 * flag to change, a sysexits code (64 bad usage, 73 a port or folder it cannot take; 74 and 70 in
 * node/start-failure.test.ts), no stack.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { tempDir } from './helpers/tree.ts'

const SEGMESH = fileURLToPath(new URL('../bin/segmesh', import.meta.url))

/** Exit code and stderr of one run (bounded: a node that did start is killed after 30 s). */
async function fails(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return await new Promise((resolve) => {
    execFile(SEGMESH, args, { timeout: 30_000 }, (err, _stdout, stderr) =>
      resolve({ code: err == null ? 0 : ((err as { code?: number }).code ?? null), stderr })
    )
  })
}

/** One line, no stack, no libp2p advice. */
function oneLine(stderr: string): string {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('{"level":30'))
  assert.equal(lines.length, 1, stderr)
  assert.doesNotMatch(stderr, /\bat .*\(.*:\d+:\d+\)|faultTolerance/)
  return lines[0]!
}

async function busyPort(t: { after: (fn: () => Promise<void>) => void }): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    await new Promise((resolve) => server.close(resolve))
  })
  return (server.address() as { port: number }).port
}

describe('command-line mistakes', () => {
  it('a misspelled flag or command gets one line with the nearest name', async () => {
    let r = await fails(['start', '--http-prot', '8081'])
    assert.equal(r.code, 64)
    assert.match(oneLine(r.stderr), /--http-prot: unknown option \(did you mean --http-port\?\)/)
    r = await fails(['start', '--p2p-port', '-5'])
    assert.equal(r.code, 64)
    assert.match(oneLine(r.stderr), /--p2p-port: needs a value/)
    r = await fails(['strat'])
    assert.equal(r.code, 64)
    assert.match(oneLine(r.stderr), /unknown command 'strat' \(did you mean 'start'\?\)/)
  })

  it('scan refuses a folder that does not exist (and does not create it) or a file', async (t) => {
    const dir = await tempDir(t)
    const missing = join(dir, 'typo')
    let r = await fails(['scan', '--data', missing])
    assert.equal(r.code, 64)
    assert.match(oneLine(r.stderr), /does not exist/)
    await assert.rejects(access(missing), 'the folder was not created')
    const file = join(dir, 'afile')
    await writeFile(file, 'x')
    r = await fails(['scan', '--data', file])
    assert.equal(r.code, 64)
    assert.match(oneLine(r.stderr), /is a file, not a folder/)
  })
})

describe('start-up failures', () => {
  it('--data that is a file', async (t) => {
    const file = join(await tempDir(t), 'afile')
    await writeFile(file, 'x')
    const r = await fails([
      'start',
      '--data',
      file,
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--p2p-host',
      '127.0.0.1',
      '--p2p-port',
      '0'
    ])
    assert.equal(r.code, 64)
    assert.match(oneLine(r.stderr), /--data must be a folder/)
  })

  it('an HTTP or p2p port in use names the flag', async (t) => {
    const port = await busyPort(t)
    let r = await fails([
      'start',
      '--data',
      await tempDir(t),
      '--http-host',
      '127.0.0.1',
      '--http-port',
      String(port),
      '--p2p-host',
      '127.0.0.1',
      '--p2p-port',
      '0'
    ])
    assert.equal(r.code, 73)
    assert.match(oneLine(r.stderr), new RegExp(`port ${port} is already in use .*change --http-port$`))
    r = await fails([
      'start',
      '--data',
      await tempDir(t),
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--p2p-host',
      '127.0.0.1',
      '--p2p-port',
      String(port)
    ])
    assert.equal(r.code, 73)
    assert.match(oneLine(r.stderr), new RegExp(`port ${port} is already in use .*change --p2p-port$`))
  })
})
