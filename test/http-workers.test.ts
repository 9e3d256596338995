/**
 * `--http-workers`: worker processes serve the HTTP port. The same requests get the same answers
 * (status, headers, bytes) from a node with workers as from the same data served without them;
 * writes made through the node are seen by the workers at once; a worker that dies is replaced;
 * a stop lets a download in flight finish and leaves no worker behind.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { request } from 'undici'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { ADMIN_TOKEN, startNode, until } from './helpers/network.ts'
import { T0, bytesFor, tempDir } from './helpers/tree.ts'

const SEGMENT_US = 2_000_000
/** Headers a client sees that must agree between the two ways of serving (not Date, Keep-Alive). */
const COMPARED = [
  'content-type',
  'content-length',
  'content-range',
  'etag',
  'cache-control',
  'accept-ranges',
  'last-modified',
  'access-control-allow-origin',
  'x-segmesh-listing'
]

interface Answer {
  status: number
  headers: Record<string, string | undefined>
  body: string
}

async function ask(
  url: string,
  init: { method?: 'GET' | 'HEAD' | 'POST'; headers?: Record<string, string>; body?: string } = {}
): Promise<Answer> {
  const res = await request(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body })
  const body = Buffer.from(await res.body.arrayBuffer())
  const headers: Record<string, string | undefined> = {}
  for (const name of COMPARED) headers[name] = res.headers[name] == null ? undefined : String(res.headers[name])
  // Bodies compared by their hash (segments) or text (JSON, playlists).
  const text =
    headers['content-type']?.startsWith('video/') === true
      ? `${body.length} bytes ${body.subarray(0, 16).toString('hex')}…`
      : body.toString()
  return { status: res.statusCode, headers, body: text }
}

async function record(node: SegmeshNode, i: number, size: number): Promise<string> {
  const { ref } = await node.store.recordSegment(
    { channel: 'c', quality: 'q', start: T0 + i * SEGMENT_US, duration: SEGMENT_US, type: 'full' },
    bytesFor(`w${i}`, size)
  )
  return `/segments/c/q/${ref.hour}/${encodeURIComponent(ref.file)}`
}

describe('HTTP workers', () => {
  it('answer every request as the node alone does, and see its writes at once', { timeout: 120_000 }, async (t) => {
    const data = await tempDir(t, 'segmesh-workers-')
    const plain = await startNode(t, { data, extra: { replication: 'false' } })
    const paths = [await record(plain, 0, 50_000), await record(plain, 1, 3 * 1024 * 1024)]
    const [small, large] = paths as [string, string]
    const etag = `"${decodeURIComponent(small).split('-full-')[1]!.replace('.ts', '')}"`
    const requests: Array<[string, Parameters<typeof ask>[1]]> = [
      [small, {}],
      [large, {}],
      [small, { method: 'HEAD' }],
      [small, { headers: { range: 'bytes=10-99' } }],
      [large, { headers: { range: 'bytes=-1000' } }],
      [small, { headers: { range: 'bytes=999999-' } }],
      [small, { headers: { 'if-none-match': etag } }],
      [small, { headers: { range: 'bytes=0-9', 'if-range': '"other"' } }],
      [small.replace(/-full-[^.]+/, '-full-AAAAAAAAAAAAAAAAAAAAAA'), {}],
      ['/segments/c/q/2020-01-01T00/not-a-segment.ts', {}],
      ['/segments/c/q/2020-01-01T00/..%2F..%2Fetc%2Fpasswd', {}],
      [`${small}?x=1&x=2`, {}],
      ['/files/c/q/2020-01-01T00', {}],
      [`/playlist/c/q.m3u8?start=2020-01-01T00:00:00Z&end=2020-01-01T00:00:10Z`, {}],
      ['/nope', {}]
    ]
    const before: Answer[] = []
    for (const [path, init] of requests) before.push(await ask(plain.url + path, init))
    assert.equal(before[0]!.status, 200)
    assert.equal(before[3]!.status, 206)
    assert.equal(before[5]!.status, 416)
    assert.equal(before[6]!.status, 304)
    await plain.stop(500)

    const node = await startNode(t, { data, extra: { replication: 'false', 'http-workers': '2' } })
    assert.equal(node.httpWorkers?.running, 2)
    for (const [i, [path, init]] of requests.entries())
      assert.deepEqual(
        await ask(node.url + path, init),
        before[i],
        `${init?.method ?? 'GET'} ${path} ${JSON.stringify(init?.headers ?? {})}`
      )

    // The node's own page and status: a client on this machine is shown the folders, one relayed
    // by a proxy (a forwarding header before the worker's) is not.
    const local = JSON.parse((await ask(`${node.url}/status`)).body) as { dataDir?: string }
    assert.equal(local.dataDir, data)
    const relayed = JSON.parse((await ask(`${node.url}/status`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).body) as {
      dataDir?: string
    }
    assert.equal(relayed.dataDir ?? null, null)

    // A tombstone written through a worker (a relayed POST with a body) hides the segment at once,
    // in the workers too; a segment recorded now is served by them at once.
    const tombstone = await ask(`${node.url}/admin/tombstone`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ segment: decodeURIComponent(small.slice('/segments/'.length)) })
    })
    assert.equal(tombstone.status, 201, tombstone.body)
    for (let i = 0; i < 4; i++) assert.equal((await ask(node.url + small)).status, 404)
    const fresh = await record(node, 2, 10_000)
    for (let i = 0; i < 4; i++) assert.equal((await ask(node.url + fresh)).status, 200)

    // Segments came from the workers' disk reads, everything else through the node.
    await until('the workers report their counts', () => node.httpWorkers!.totals.served >= 11, 5000)
    const totals = node.httpWorkers!.totals
    assert.ok(totals.relayed >= 12 && totals.relayFailed === 0, JSON.stringify(totals))
  })

  it('replace a worker that dies; a stop lets a download in flight finish and leaves none behind', { timeout: 40_000 }, async (t) => {
    const node = await startNode(t, { extra: { replication: 'false', 'http-workers': '2' } })
    const path = await record(node, 0, 4 * 1024 * 1024)
    const workers = node.httpWorkers!
    const [victim] = workers.pids
    process.kill(victim!, 'SIGKILL')
    await until('the node sees it gone', () => workers.running === 1, 5000)
    // Connections go to the one left meanwhile.
    for (let i = 0; i < 4; i++) assert.equal((await ask(node.url + path)).status, 200)
    await until('the dead worker replaced', () => workers.running === 2 && !workers.pids.includes(victim!), 10_000)
    assert.equal(workers.totals.restarts, 1)

    // A download begun, then the node stopped while the client still reads.
    const { port } = new URL(node.url)
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`)
    socket.pause()
    let received = 0
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, 200))
    const pids = workers.pids
    const stopped = node.stop(10_000)
    await new Promise((resolve) => setTimeout(resolve, 300))
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length
    })
    socket.resume()
    await Promise.all([stopped, ended])
    assert.ok(received > 4 * 1024 * 1024, `received ${received} bytes`)
    // No worker left, and the port closed.
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/)
    await assert.rejects(request(`${node.url}/healthz`), /ECONNREFUSED/)
  })
})
