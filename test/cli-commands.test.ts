/**
 * The CLI through the real launcher (bin/segmesh): help generated from the option table, `config
 * print`, and `tombstone` / `peers` against real nodes on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { OPTIONS, envName, flagName } from '../config/options.ts'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { writeAdminKeyPair } from '../replication/tombstone-signature.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, formatInstant, hourStart } from '../storage/time.ts'
import { ADMIN_TOKEN, startNode, until } from './helpers/network.ts'
import { bytesFor, tempDir } from './helpers/tree.ts'

const execFileAsync = promisify(execFile)
const SEGMESH = fileURLToPath(new URL('../bin/segmesh', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Run bin/segmesh with only the environment given (no SEGMESH_* leaking in from the test's). */
async function segmesh(args: string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(SEGMESH, args, {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env },
      cwd: '/'
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/**
 * Record `count` 2 s demo/source segments back to back on `a` from the start of the last hour (the
 * bytes seeded by `label`), then wait until `b` has them all.
 */
async function replicatedSegments(
  a: SegmeshNode,
  b: SegmeshNode,
  count: number,
  label: string
): Promise<{ hour: number; refs: SegmentRef[] }> {
  const hour = hourStart(Date.now() * 1000) - MICROS_PER_HOUR
  const refs: SegmentRef[] = []
  for (let i = 0; i < count; i++) {
    const written = await a.store.recordSegment(
      { channel: 'demo', quality: 'source', start: hour + i * 2_000_000, duration: 2_000_000, type: 'full' },
      bytesFor(`${label}-${i}`, 500)
    )
    refs.push(written.ref)
  }
  await until("B has A's segments", () => refs.every((r) => b.index.getSegment(r) != null))
  return { hour, refs }
}

describe('segmesh CLI', () => {
  it('lists every option with its default and environment variable in --help and start --help', async () => {
    for (const args of [['--help'], ['start', '--help']]) {
      const { code, stdout } = await segmesh(args)
      assert.equal(code, 0)
      for (const o of OPTIONS) {
        const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`--${flagName(o)} `) || l.trim() === `--${flagName(o)}`)
        assert.ok(line != null, `${args.join(' ')} lists --${flagName(o)}`)
        // Once: in brackets, or in the description when the default derives from another option.
        assert.equal(line.match(/[[(]default: /g)?.length, 1, `--${flagName(o)} shows its default once: ${line}`)
        assert.ok(line.includes(envName(o)), `--${flagName(o)} names ${envName(o)}`)
      }
    }
    const top = await segmesh(['--help'])
    for (const command of ['start', 'scan', 'config', 'tombstone', 'peers', 'demo'])
      assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'))
  })

  it('config print: effective values, their sources, secrets masked; bad keys named', async (t) => {
    const dir = await tempDir(t)
    const file = join(dir, 'node.yaml')
    await writeFile(file, 'dataDir: /srv/segmesh\nadminToken: file-secret\nhttpPort: 9000\n')
    const env = { SEGMESH_CONFIG: file, SEGMESH_HTTP_PORT: '9001' }
    const json = await segmesh(['config', 'print', '--p2p-port', '4100'], env)
    assert.equal(json.code, 0, json.stderr)
    const printed = JSON.parse(json.stdout) as { config: Record<string, unknown>; sources: Record<string, string> }
    assert.deepEqual(Object.keys(printed.config).sort(), OPTIONS.map((o) => o.key).sort())
    assert.equal(printed.config.dataDir, '/srv/segmesh')
    assert.equal(printed.config.segmentsDir, '/srv/segmesh/segments')
    assert.equal(printed.config.httpPort, 9001)
    assert.equal(printed.config.p2pPort, 4100)
    assert.equal(printed.config.adminToken, '********')
    assert.doesNotMatch(json.stdout, /file-secret/)
    assert.equal(printed.sources.dataDir, `file ${file}`)
    assert.equal(printed.sources.httpPort, 'env SEGMESH_HTTP_PORT')
    assert.equal(printed.sources.p2pPort, 'flag --p2p-port')
    assert.equal(printed.sources.logLevel, 'default')
    for (const o of OPTIONS.filter((x) => x.secret === true))
      assert.ok(printed.config[o.key] === null || printed.config[o.key] === '********', `${o.key} masked`)

    const yaml = await segmesh(['config', 'print', '--yaml', '--config', file, '--admin-token', 'flag-secret'])
    assert.equal(yaml.code, 0, yaml.stderr)
    assert.match(yaml.stdout, /^httpPort: 9000 # file /m)
    assert.match(yaml.stdout, /^adminToken: null # flag --admin-token \(set; not printed/m)
    assert.doesNotMatch(yaml.stdout, /flag-secret/)
    assert.equal((parseYaml(yaml.stdout) as { dataDir: string }).dataDir, '/srv/segmesh', 'the YAML reads back as a config')
    // ... and loads as one, as printed (nulls and all), giving the same effective values.
    const printedFile = join(dir, 'printed.yaml')
    await writeFile(printedFile, yaml.stdout)
    const again = await segmesh(['config', 'print', '--config', printedFile])
    assert.equal(again.code, 0, again.stderr)
    const reread = JSON.parse(again.stdout) as { config: Record<string, unknown> }
    for (const o of OPTIONS.filter((x) => x.secret !== true))
      assert.deepEqual(reread.config[o.key], (parseYaml(yaml.stdout) as Record<string, unknown>)[o.key] ?? null, o.key)
    // The mask is never taken for the secret.
    await writeFile(printedFile, yaml.stdout.replace(/^adminToken: null/m, 'adminToken: "********"'))
    const masked = await segmesh(['config', 'print', '--config', printedFile])
    assert.equal(masked.code, 64)
    assert.match(masked.stderr, /adminToken: is the mask/)
    const maskedEnv = await segmesh(['config', 'print'], { SEGMESH_ADMIN_TOKEN: '********' })
    assert.equal(maskedEnv.code, 64)

    await writeFile(file, 'dataDir: /x\nretentionDay: 3\n')
    const badKey = await segmesh(['config', 'print', '--config', file])
    assert.equal(badKey.code, 64)
    assert.match(badKey.stderr, /retentionDay: unknown option/)
    const badEnv = await segmesh(['config', 'print'], { SEGMESH_RETENTION_DAY: '3' })
    assert.equal(badEnv.code, 64)
    assert.match(badEnv.stderr, /SEGMESH_RETENTION_DAY: unknown environment variable/)
    const badSub = await segmesh(['config', 'show'])
    assert.equal(badSub.code, 64)
  })

  it('tombstone and peers talk to a running node, with clear errors', async (t) => {
    const a = await startNode(t)
    const b = await startNode(t, { bootstrap: [a] })
    const { hour, refs } = await replicatedSegments(a, b, 3, 'cli')
    const token = { SEGMESH_ADMIN_TOKEN: ADMIN_TOKEN }

    const one = await segmesh(['tombstone', '--node', a.url, '--segment', segmentRelPath(refs[0]!), '--reason', 'test: takedown'], token)
    assert.equal(one.code, 0, one.stderr)
    assert.match(one.stdout, new RegExp(`^tombstoned  ${segmentRelPath(refs[0]!).replace(/[.]/g, '\\.')}$`, 'm'))
    assert.ok(a.index.isTombstoned(refs[0]!))
    await until('the tombstone on B', () => b.index.isTombstoned(refs[0]!))

    const range = await segmesh([
      'tombstone',
      '--node',
      b.url,
      '--token',
      ADMIN_TOKEN,
      '--json',
      '--channel',
      'demo',
      '--quality',
      'source',
      '--start',
      formatInstant(hour),
      '--end',
      formatInstant(hour + 4_000_000)
    ])
    assert.equal(range.code, 0, range.stderr)
    assert.deepEqual(JSON.parse(range.stdout), { tombstoned: [segmentRelPath(refs[1]!)], alreadyTombstoned: [segmentRelPath(refs[0]!)] })
    assert.equal(a.index.getSegment(refs[2]!)?.file, refs[2]!.file, 'outside the range: untouched')

    const wrong = await segmesh(['tombstone', '--node', a.url, '--segment', segmentRelPath(refs[2]!)], { SEGMESH_ADMIN_TOKEN: 'nope' })
    assert.equal(wrong.code, 1)
    assert.match(wrong.stderr, /answered 403.*--token.*wrong admin token/)
    const badSegment = await segmesh(['tombstone', '--node', a.url, '--segment', 'demo/source/x.ts'], token)
    assert.equal(badSegment.code, 1)
    assert.match(badSegment.stderr, /answered 400.*segment/)
    const unreachable = await segmesh(['tombstone', '--node', 'http://127.0.0.1:1', '--segment', segmentRelPath(refs[2]!)], token)
    assert.equal(unreachable.code, 1)
    assert.match(unreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:1.*ECONNREFUSED/)
    for (const args of [
      ['--segment', 'x'],
      ['--node', a.url, '--channel', 'demo'],
      ['--node', 'ftp://x', '--segment', 'x'],
      ['--node', a.url, '--segment', 'x', '--start', 'y']
    ]) {
      const r = await segmesh(['tombstone', ...args], token)
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, /bad option --/)
    }
    assert.equal((await segmesh(['tombstone', '--node', a.url, '--segment', 'x'])).code, 64, 'no token at all')
    assert.ok(!a.index.isTombstoned(refs[2]!))

    const peers = await segmesh(['peers', '--node', a.url])
    assert.equal(peers.code, 0, peers.stderr)
    assert.match(peers.stdout, new RegExp(`^node ${a.host!.peerId}: 1 peer known, 1 connected`, 'm'))
    assert.match(peers.stdout, /^PEER ID\s+CONNECTED\s+LAG\s+LAST SEEN\s+URL\s+ADDRESSES$/m)
    assert.match(
      peers.stdout,
      new RegExp(
        `^${b.host!.peerId}\\s+yes\\s+\\d+ s\\s+\\d+ s ago\\s+${b.url.replace(/[.]/g, '\\.')}\\s+/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${b.host!.peerId}`,
        'm'
      )
    )
    const peersJson = JSON.parse((await segmesh(['peers', '--node', b.url, '--json'])).stdout) as {
      peerId: string
      peers: Array<{ peerId: string }>
    }
    assert.equal(peersJson.peerId, b.host!.peerId)
    assert.deepEqual(
      peersJson.peers.map((p) => p.peerId),
      [a.host!.peerId]
    )
    const notNode = await segmesh(['peers', '--node', `${a.url}/nowhere`])
    assert.equal(notNode.code, 1)
    assert.match(notNode.stderr, /answered 404/)
  })

  it('tombstone --signing-key signs client-side for a network that accepts only signed tombstones', async (t) => {
    const dir = await tempDir(t)
    const key = join(dir, 'admin.key')
    const { publicKeyPath } = await writeAdminKeyPair(key)
    const verifying = { 'admin-public-key': publicKeyPath }
    const a = await startNode(t, { extra: verifying })
    const b = await startNode(t, { bootstrap: [a], extra: verifying })
    const { hour, refs } = await replicatedSegments(a, b, 2, 'signed')
    const token = { SEGMESH_ADMIN_TOKEN: ADMIN_TOKEN }

    const unsigned = await segmesh(['tombstone', '--node', a.url, '--segment', segmentRelPath(refs[0]!)], token)
    assert.equal(unsigned.code, 1)
    assert.match(unsigned.stderr, /answered 400.*signature_required/)

    const one = await segmesh(
      ['tombstone', '--node', a.url, '--segment', segmentRelPath(refs[0]!), '--signing-key', key, '--reason', 'signed takedown'],
      token
    )
    assert.equal(one.code, 0, one.stderr)
    const signedRange = async (start: string, end: string): Promise<Run> =>
      await segmesh(
        ['tombstone', '--node', a.url, '--channel', 'demo', '--quality', 'source', '--signing-key', key, '--start', start, '--end', end],
        token
      )
    const range = await signedRange(formatInstant(hour + 2_000_000), formatInstant(hour + 3_000_000))
    assert.equal(range.code, 0, range.stderr)
    // Signed proofs travel: B, which checks them, hides both.
    await until('both signed tombstones on B', () => refs.every((r) => b.index.isTombstoned(r) && b.index.getSegment(r) == null))

    const badKey = await segmesh(
      ['tombstone', '--node', a.url, '--segment', segmentRelPath(refs[1]!), '--signing-key', publicKeyPath],
      token
    )
    assert.equal(badKey.code, 64)
    assert.match(badKey.stderr, /bad option --signing-key/)
    const badTime = await signedRange('yesterday', 'now')
    assert.equal(badTime.code, 64)
    assert.match(badTime.stderr, /bad option --start/)
  })
})
