/**
 * NetworkListings against hostile peers over real HTTP on 127.0.0.1, with a real LMDB index: what
 * it keeps stays under its byte bound however many hours a peer lists, names that are not of the
 * hour or past what an hour holds are refused, and requests to peers are capped.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { SegmentSelector } from '../storage/best-segments.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import { fakeSegmentRefs, lyingHourDigest, startFakePeerHttp } from '../test/helpers/hostile-peers.ts'
import { namedBytes, openStore } from '../test/helpers/tree.ts'
import { HttpError } from './errors.ts'
import { NetworkListings } from './network-listings.ts'

const BASE = hourStart(Date.now() * 1000) - 100 * MICROS_PER_HOUR

async function listings(
  t: import('node:test').TestContext,
  url: string,
  init: { cacheBytes?: number; maxActive?: number } = {},
  opened?: Awaited<ReturnType<typeof openStore>>
) {
  const { index } = opened ?? (await openStore(t))
  const network = new NetworkListings({
    index,
    selector: new SegmentSelector(index),
    peers: () => [
      {
        url,
        connected: true,
        roots: new Map([
          ['c/q', 'theirs'],
          ['c/r', 'theirs']
        ])
      }
    ],
    ourRoots: () => new Map(),
    windowStart: () => BASE - MICROS_PER_HOUR,
    copiesEveryMs: 0,
    ...init
  })
  await network.start()
  t.after(async () => await network.stop())
  return network
}

describe('network listings against hostile peers', () => {
  it('keeps at most its byte bound of listings, however many full hours a peer lists', async (t) => {
    const hours = Array.from({ length: 40 }, (_, i) => BASE + i * MICROS_PER_HOUR)
    const names = new Map(
      hours.map((h) => [`c/q/${formatHour(h)}`, fakeSegmentRefs(1800, { hourStart: h, channel: 'c', quality: 'q' }).map((r) => r.file)])
    )
    const peer = await startFakePeerHttp({
      digests: new Map([['c/q', hours.map((h) => lyingHourDigest(formatHour(h), 1800))]]),
      listings: names
    })
    t.after(async () => await peer.close())
    const cacheBytes = 1024 * 1024
    const network = await listings(t, peer.url, { cacheBytes })
    let peak = 0
    for (const h of hours) {
      const listed = await network.listHour('c', 'q', h)
      assert.equal(listed.merged, true)
      assert.deepEqual(listed.value, names.get(`c/q/${formatHour(h)}`))
      peak = Math.max(peak, network.cacheUsage.bytes)
    }
    // One hour of 1,800 names costs ~230 KB as counted: the bound holds four, plus the digests.
    assert.ok(peak <= cacheBytes, `peak ${peak} ≤ ${cacheBytes}`)
    assert.ok(network.cacheUsage.entries < 10, `${network.cacheUsage.entries} entries kept`)
  })

  it('refuses a listing longer than an hour can hold, and drops names that are not segment names', async (t) => {
    const hour = BASE
    const good = fakeSegmentRefs(3, { hourStart: hour, channel: 'c', quality: 'q' }).map((r) => r.file)
    const peer = await startFakePeerHttp({
      digests: new Map([['c/q', [lyingHourDigest(formatHour(hour), 6), lyingHourDigest(formatHour(hour + 2 * MICROS_PER_HOUR), 20_000)]]]),
      listings: new Map([
        [`c/q/${formatHour(hour)}`, [...good, 'not-a-segment.ts', `${good[0]}/../x`, '../../etc/passwd']],
        [
          `c/q/${formatHour(hour + 2 * MICROS_PER_HOUR)}`,
          fakeSegmentRefs(16_385, { hourStart: hour + 2 * MICROS_PER_HOUR, channel: 'c', quality: 'q', duration: 200_000 }).map(
            (r) => r.file
          )
        ]
      ])
    })
    t.after(async () => await peer.close())
    const network = await listings(t, peer.url)
    assert.deepEqual((await network.listHour('c', 'q', hour)).value, [...good].sort())
    const tooMany = await network.listHour('c', 'q', hour + 2 * MICROS_PER_HOUR)
    assert.deepEqual(tooMany, { value: [], merged: false })
    assert.ok(network.stats.failures >= 1)
  })

  it('answers 503 past its limit of requests to peers, and serves again once they end', async (t) => {
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const hour = BASE
    const server = createServer((req, res) => {
      void held.then(() => {
        res.setHeader('content-type', 'application/json')
        if (req.url?.startsWith('/replication/digests') === true) {
          res.end(JSON.stringify({ qualities: [{ channel: 'c', quality: 'q', hours: [lyingHourDigest(formatHour(hour), 1)] }] }))
        } else res.end('[]')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const network = await listings(t, url, { maxActive: 1 })
    const first = network.listHour('c', 'q', hour)
    await new Promise((resolve) => setTimeout(resolve, 50))
    // Another channel/quality needs a request of its own: past the one allowed.
    await assert.rejects(network.listHour('c', 'r', hour), (err: unknown) => err instanceof HttpError && err.statusCode === 503)
    assert.equal(network.stats.busy, 1)
    release()
    assert.equal((await first).merged, false)
    assert.equal((await network.listHour('c', 'q', hour)).merged, false)
  })

  it('counts the hours of the window held by fewer than --min-copies nodes (the metric)', async (t) => {
    const opened = await openStore(t)
    for (const hourUs of [BASE, BASE + MICROS_PER_HOUR]) {
      for (let i = 0; i < 2; i++) {
        const { ref, body } = namedBytes(`copies-${hourUs}-${i}`, 300, { channel: 'c', quality: 'q', start: hourUs + i * 2_000_000 })
        await opened.store.writeSegment(ref, body)
      }
    }
    const [first] = opened.index.hourSummaries('c', 'q', BASE, BASE + 1)
    // The peer holds the first hour as we do, and something else of the second.
    const peer = await startFakePeerHttp({
      digests: new Map([
        [
          'c/q',
          [{ ...first!, hour: formatHour(BASE) }, lyingHourDigest(formatHour(BASE + MICROS_PER_HOUR), 2)].map((h) => ({
            hour: h.hour,
            digest: h.digest,
            segments: h.segments,
            tombstones: h.tombstones
          }))
        ]
      ])
    })
    t.after(async () => await peer.close())
    const network = await listings(t, peer.url, {}, opened)
    await network.checkCopies()
    assert.deepEqual([...network.belowMinCopies], [['c/q', 1]])
  })
})
