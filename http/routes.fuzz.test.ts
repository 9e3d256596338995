/**
 * Every HTTP route under fuzzing, on a real node (real fastify on 127.0.0.1, real LMDB, segments
 * ffmpeg made): arbitrary path parameters, query strings, Range headers and admin bodies. Each
 * answer must have an allowed status (never a 5xx), every 4xx must be JSON with `error`, and no
 * answer may carry bytes of a file outside the segments folder: canary files sit next to the data
 * folder and inside it, and their tokens must never come back. Seed: test/helpers/fuzz.ts.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import pino from 'pino'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { parseSegmentFileName } from '../storage/segment-name.ts'
import type { WriteResult } from '../storage/segment-store.ts'
import { formatInstant } from '../storage/time.ts'
import { fuzzRuns, hostileString } from '../test/helpers/fuzz.ts'
import { recordSegments } from '../test/helpers/media.ts'
import { tempDirFor } from '../test/helpers/tree.ts'

const TOKEN = 'fuzz-admin-token'
const START = Date.UTC(2020, 0, 1, 10) * 1000
const CANARY = `CANARY-${randomUUID()}`
/** Everything a route may answer. 5xx is never allowed: bad input is the client's fault. */
const ALLOWED = new Set([200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 406, 410, 413, 414, 415, 416, 431])

let node: SegmeshNode
let written: WriteResult[]
let dataDir: string

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/** Send the path exactly as written (no client-side normalisation of `..` or `%2e`). */
async function send(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const { hostname, port } = new URL(node.url)
  return await new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** One path component: raw when HTTP allows it (so `..` and `%2e%2e` reach the server), else escaped. */
function component(text: string, raw: boolean): string {
  return raw && /^[\x21-\x7e]*$/.test(text) && !/[?#]/.test(text) ? text : encodeURIComponent(text)
}

function checkAnswer(what: string, res: Answer): void {
  assert.ok(ALLOWED.has(res.status), `${what} → ${res.status} ${res.body.toString().slice(0, 300)}`)
  if (res.status >= 400 && res.headers['content-length'] !== '0' && res.body.length > 0) {
    assert.match(String(res.headers['content-type']), /application\/json/, `${what} → ${res.status} not JSON`)
    const json = JSON.parse(res.body.toString()) as { error?: unknown; message?: unknown }
    assert.equal(typeof json.error, 'string', `${what}: no error code`)
    assert.equal(typeof json.message, 'string', `${what}: no message`)
  }
  assert.ok(!res.body.includes(CANARY), `${what} served the canary`)
}

before(async () => {
  const root = await tempDirFor('segmesh-fuzz-http-')
  dataDir = join(root, 'data')
  const config = resolveConfig({
    flags: {
      data: dataDir,
      'http-host': '127.0.0.1',
      'http-port': '0',
      watch: false,
      replication: false,
      'admin-token': TOKEN,
      'cut-concurrency': '1'
    }
  })
  node = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
  await node.start()
  written = await recordSegments(node.store, 'c', 'q', START, 3)
  await node.store.writeTombstone(written[2]!.ref)
  // Canaries: next to the data folder, in it, and beside the segments as a name a client might guess.
  await writeFile(join(root, 'canary.ts'), CANARY)
  await writeFile(join(dataDir, 'canary.ts'), CANARY)
  await writeFile(join(dataDir, 'segments', 'canary.ts'), CANARY)
})

after(async () => {
  await node?.stop(1000)
})

describe('HTTP routes under fuzzing', () => {
  it('arbitrary path parameters, queries and ranges get an allowed status, JSON errors and no outside bytes', async (t) => {
    const files = (): string[] => written.map((w) => w.ref.file)
    const part = (valid: string[]): fc.Arbitrary<string> =>
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...valid) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '..',
            '.',
            '%2e%2e',
            '%2F',
            '..%2F..%2Fcanary.ts',
            'canary.ts',
            '../canary.ts',
            '%00',
            '',
            '2020-01-01T11',
            '0050-01-01T10'
          )
        },
        { weight: 3, arbitrary: hostileString(valid) }
      )
    const time = fc.oneof(
      fc.integer({ min: START - 4_000_000, max: START + 10_000_000 }).map(formatInstant),
      hostileString(['2020-01-01T10:00:00Z', '2020-01-01T10:00:02.5'])
    )
    const query = fc
      .record(
        {
          start: fc.option(time),
          end: fc.option(time),
          timestamp: fc.option(time),
          type: fc.option(fc.oneof(fc.constantFrom('rough', 'rough', 'fast', 'full'), hostileString())),
          tombstones: fc.option(fc.oneof(fc.constantFrom('true', 'false'), hostileString())),
          from: fc.option(hostileString(['0', '1577872800000000'])),
          range: fc.option(hostileString([`${formatInstant(START)},${formatInstant(START + 2_000_000)}`, ','])),
          allow_holes: fc.option(fc.constantFrom('true', 'x')),
          channel: fc.option(part(['c'])),
          quality: fc.option(part(['q'])),
          hours: fc.option(hostileString(['1', '24', '0', '-1'])),
          junk: fc.option(hostileString()),
          // A parameter given a second time (fastify hands the route an array).
          twice: fc.option(
            fc.constantFrom('start', 'end', 'timestamp', 'type', 'tombstones', 'from', 'range', 'channel', 'quality', 'hours', 'junk')
          )
        },
        { requiredKeys: [] }
      )
      .map(({ twice, ...q }) => {
        const params = new URLSearchParams()
        for (const [k, v] of Object.entries(q)) if (v != null) params.append(k, v)
        const again = twice == null ? undefined : q[twice]
        if (twice != null && again != null) params.append(twice, again)
        return params.size === 0 ? '' : `?${params}`
      })
    const routes = fc.oneof(
      { weight: 4, arbitrary: fc.constant('/segments/{c}/{q}/{h}/{f}') },
      fc.constantFrom(
        '/files/{c}',
        '/files/{c}/{q}',
        '/files/{c}/{q}/{h}',
        '/segments/{c}/{q}/{h}/{f}',
        '/playlist/{c}.m3u8',
        '/playlist/{c}/{q}.m3u8',
        '/cut/{c}/{q}.ts',
        '/cut/{c}/{q}.mp4',
        '/frame/{c}/{q}.png',
        '/frame/{c}/{q}.jpg',
        '/replication/digests',
        '/admin/tombstones',
        '/status',
        '/healthz',
        '/metrics',
        '/files',
        '/{c}/{q}/{h}/{f}',
        '/segments/{f}',
        '/coverage/{c}/{q}',
        '/ui/{f}',
        '/ui/{c}',
        '/player',
        '/',
        '/replication/tombstones/{c}/{q}/{h}'
      )
    )
    const request = fc.record({
      route: routes,
      c: part(['c']),
      q: part(['q']),
      h: part(['2020-01-01T10']),
      f: part(files()),
      raw: fc.boolean(),
      query,
      method: fc.constantFrom('GET', 'GET', 'HEAD'),
      range: fc.option(
        fc.oneof(fc.constantFrom('bytes=0-10', 'bytes=-5', 'bytes=5-', 'bytes=9999999-', 'bytes=0-0,2-3'), hostileString(['bytes=', '-']))
      ),
      auth: fc.boolean()
    })
    let served = 0
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const path = r.route.replace(/\{([cqhf])\}/g, (_m, k: 'c' | 'q' | 'h' | 'f') => component(r[k], r.raw)) + r.query
        const headers: Record<string, string> = {}
        if (r.range != null && /^[\x20-\x7e]*$/.test(r.range)) headers.range = r.range
        if (r.auth) headers.authorization = `Bearer ${TOKEN}`
        const res = await send(r.method, path, headers)
        checkAnswer(`${r.method} ${path}`, res)
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        // Segment bytes that come back are exactly a stored segment's (or a slice of it).
        if (path.startsWith('/segments/') && res.status === 200 && r.method === 'GET') {
          served++
          const name = parseSegmentFileName(decodeURIComponent(path.split('/')[5]!.split('?')[0]!))
          assert.ok(name.ok && sha256(res.body).equals(name.value.hash!), `${path}: bytes do not match the name`)
        }
      }),
      fuzzRuns(400)
    )
    t.diagnostic(
      `statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}, ${served} segments served whole`
    )
    assert.ok(served > 0, 'no fuzzed request ever fetched a real segment: the generators miss the valid space')
  })

  it('arbitrary admin bodies get an allowed status and a JSON error', async () => {
    const body = fc.oneof(
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify({ segment: v })),
      fc
        .record({
          channel: fc.constantFrom('c', '..', ''),
          quality: fc.constantFrom('q', 'q/..'),
          start: hostileString(['2020-01-01T10:00:00Z']),
          end: hostileString(['2020-01-01T10:00:02Z'])
        })
        .map((b) => JSON.stringify(b)),
      hostileString(['{', '}', '"segment":', `c/q/2020-01-01T10/${written[0]!.ref.file}`])
    )
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/admin/tombstone', '/admin/purge'),
        body,
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
        fc.boolean(),
        async (path, text, type, auth) => {
          const headers: Record<string, string> = { 'content-type': type }
          if (auth) headers.authorization = `Bearer ${TOKEN}`
          checkAnswer(`POST ${path} ${text.slice(0, 80)}`, await send('POST', path, headers, text))
        }
      ),
      fuzzRuns(300)
    )
    // Whatever the bodies did, nothing outside the segments folder was touched or served.
    checkAnswer('GET /status', await send('GET', '/status'))
  })
})
