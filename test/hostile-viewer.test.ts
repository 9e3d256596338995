/**
 * One anonymous viewer against a real node (fastify on 127.0.0.1, real LMDB, segments ffmpeg made):
 * ranges of centuries on every range route, repeated query parameters, a `+00:00` that the URL
 * turned into a space, and what `/status` tells a stranger.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { forceGc } from '../bench/common.ts'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import type { WriteResult } from '../storage/segment-store.ts'
import { formatInstant } from '../storage/time.ts'
import { recordSegments } from './helpers/media.ts'
import { type RawResponse, rawGet } from './helpers/raw-http.ts'
import { tempDirFor } from './helpers/tree.ts'

const TOKEN = 'hostile-viewer-token'
const START = Date.UTC(2020, 0, 1, 10) * 1000
const QUALITIES = ['source', '480p']
/** The widest range the time grammar accepts. */
const FIRST = '1685-01-01T00:00:00Z'
const LAST = '2254-12-31T00:00:00Z'
/**
 * Each hostile request must be answered within this long. Generous: they take milliseconds now;
 * on 954b268 each took 16-32 s (5 million empty hours walked and cached).
 */
const ANSWER_MS = 10_000
/**
 * Heap (after a full GC) that all the hostile requests together may leave behind. Generous too:
 * a few MiB now; on 954b268 one request left 0.5-1.2 GiB.
 */
const HEAP_GROWTH = 64 * 1024 * 1024

let node: SegmeshNode
let dataDir: string
let written: WriteResult[]

/** GET with the path sent exactly as written (a raw `+` stays a `+`), given up after ANSWER_MS. */
async function get(path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return await rawGet(node.url, path, { headers, timeoutMs: ANSWER_MS })
}

function errorOf(res: RawResponse): { error: string; message: string } {
  assert.match(String(res.headers['content-type']), /application\/json/)
  return JSON.parse(res.body.toString())
}

const at = (seconds: number): string => formatInstant(START + seconds * 1_000_000)

before(async () => {
  dataDir = await tempDirFor('segmesh-hostile-viewer-')
  const config = resolveConfig({
    flags: { data: dataDir, 'http-host': '127.0.0.1', 'http-port': '0', watch: false, replication: false, 'admin-token': TOKEN }
  })
  node = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
  await node.start()
  for (const quality of QUALITIES) written = await recordSegments(node.store, 'c', quality, START, 5)
})

after(async () => {
  await node?.stop(1000)
})

describe('a hostile viewer', () => {
  it('asks for centuries on every range route: answered at once, memory stays bounded, every route works afterwards', async () => {
    const century = `start=${FIRST}&end=${LAST}`
    const hostile = (q: string): Array<[string, number]> => [
      [`/cut/c/${q}.ts?${century}&type=rough&allow_holes=true`, 200],
      [`/cut/c/${q}.ts?range=${FIRST},${LAST}&range=${FIRST},${at(1)}&type=rough&allow_holes=true`, 200],
      [`/cut/c/${q}.ts?${century}&type=fast`, 406],
      [`/cut/c/${q}.mp4?${century}&type=full`, 406],
      [`/playlist/c/${q}.m3u8?${century}`, 200],
      [`/playlist/c.m3u8?${century}`, 200],
      [`/frame/c/${q}.png?timestamp=${FIRST}`, 404],
      [`/coverage/c/${q}?hours=168`, 200]
    ]
    forceGc()
    const heapBefore = process.memoryUsage().heapUsed
    for (let round = 0; round < 3; round++) {
      for (const q of QUALITIES) {
        for (const [path, status] of hostile(q)) {
          const res = await get(path)
          assert.equal(res.status, status, `${path}: ${res.body.subarray(0, 300)}`)
        }
      }
    }
    forceGc()
    const growth = process.memoryUsage().heapUsed - heapBefore
    assert.ok(growth < HEAP_GROWTH, `heap grew ${(growth / 1024 ** 2).toFixed(1)} MiB`)
    // The caches hold the hours that have data, nothing for the empty centuries around them.
    assert.ok(node.selector.cacheUsage.hours <= QUALITIES.length, JSON.stringify(node.selector.cacheUsage))

    const ordinary: Array<[string, RegExp]> = [
      ['/healthz', /json/],
      [`/playlist/c/source.m3u8?start=${at(0)}&end=${at(10)}`, /mpegurl/],
      [`/cut/c/source.ts?start=${at(0)}&end=${at(4)}&type=rough`, /mp2t/],
      [`/frame/c/source.jpg?timestamp=${at(3)}`, /jpeg/],
      ['/coverage/c/source', /json/]
    ]
    for (const [path, type] of ordinary) {
      const res = await get(path)
      assert.equal(res.status, 200, `${path}: ${res.body.subarray(0, 300)}`)
      assert.match(String(res.headers['content-type']), type)
    }
  })

  it('repeats a query parameter: 400 bad_parameter naming it, on every route that takes one', async () => {
    const hour = written[0]!.ref.hour
    const cases: Array<[string, string, Record<string, string>?]> = [
      [`/files/c/source/${hour}?tombstones=true&tombstones=false`, 'tombstones'],
      [`/playlist/c/source.m3u8?start=${at(0)}&start=${at(2)}&end=${at(8)}`, 'start'],
      [`/playlist/c/source.m3u8?start=${at(0)}&end=${at(8)}&end=${at(9)}`, 'end'],
      [`/playlist/c.m3u8?start=${at(0)}&start=${at(2)}`, 'start'],
      [`/cut/c/source.ts?start=${at(0)}&end=${at(4)}&type=rough&type=fast`, 'type'],
      [`/cut/c/source.ts?start=${at(0)}&end=${at(4)}&allow_holes=true&allow_holes=true`, 'allow_holes'],
      [`/frame/c/source.png?timestamp=${at(1)}&timestamp=${at(2)}`, 'timestamp'],
      ['/coverage/c/source?hours=1&hours=2', 'hours'],
      ['/replication/digests?from=0&from=1', 'from'],
      ['/replication/digests?from=0&to=1&to=2', 'to'],
      ['/admin/tombstones?channel=c&channel=d', 'channel', { authorization: `Bearer ${TOKEN}` }],
      ['/admin/tombstones?channel=c&quality=source&quality=480p', 'quality', { authorization: `Bearer ${TOKEN}` }],
      ['/status?x=1&x=2', 'x']
    ]
    for (const [path, name, headers] of cases) {
      const res = await get(path, headers)
      assert.equal(res.status, 400, `${path}: ${res.body}`)
      const body = errorOf(res)
      assert.equal(body.error, 'bad_parameter', path)
      assert.ok(body.message.startsWith(`${name}: given more than once`), `${path}: ${body.message}`)
    }
    // What a cut may repeat (one per range) still works.
    const res = await get(`/cut/c/source.ts?range=${at(0)},${at(2)}&range=${at(4)},${at(6)}&transition=&transition=&type=rough`)
    assert.equal(res.status, 200, res.body.toString().slice(0, 300))
  })

  it("writes +00:00 raw in the URL (it arrives as ' 00:00'): read as UTC; another offset gets a 400 with the hint", async () => {
    const zero = await get(`/playlist/c/source.m3u8?start=${at(0).replace('Z', '+00:00')}&end=${at(6).replace('Z', '+00:00')}`)
    const z = await get(`/playlist/c/source.m3u8?start=${at(0)}&end=${at(6)}`)
    assert.equal(zero.status, 200, zero.body.toString())
    assert.equal(zero.body.toString(), z.body.toString())
    const other = await get(`/playlist/c/source.m3u8?start=${at(0).replace('Z', '+05:00')}&end=${at(6)}`)
    assert.equal(other.status, 400)
    const { error, message } = errorOf(other)
    assert.equal(error, 'bad_parameter')
    assert.match(message, /^start: .*%2B/)
  })

  it('reads /status: the data folders are shown to this machine, not through a proxy on it', async () => {
    const local = JSON.parse((await get('/status')).body.toString())
    assert.equal(local.dataDir, dataDir)
    assert.equal(typeof local.segmentsDir, 'string')
    for (const header of [{ 'x-forwarded-for': '203.0.113.9' }, { forwarded: 'for=203.0.113.9' }] as Array<Record<string, string>>) {
      const relayed = await get('/status', header)
      assert.equal(relayed.status, 200)
      const text = relayed.body.toString()
      assert.ok(!text.includes(dataDir), `the folder went out through a proxy: ${text.slice(0, 200)}`)
      const body = JSON.parse(text)
      assert.equal(body.dataDir, null)
      assert.equal(body.segmentsDir, null)
    }
  })
})
