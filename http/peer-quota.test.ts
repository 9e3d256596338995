/**
 * The `/replication/*` quota over a real socket: counted on the route the router matched, however
 * the path was spelled. The app is told 127.0.0.1 is not this machine, so the quota applies.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { describe, it } from 'node:test'
import { SegmentSelector } from '../storage/best-segments.ts'
import { openStore } from '../test/helpers/tree.ts'
import { buildHttpApp } from './app.ts'

const BURST = 3

async function status(base: string, path: string): Promise<number> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    // The path goes out exactly as written: no client-side decoding of %72.
    http
      .get({ hostname, port, path }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode!))
      })
      .on('error', reject)
  })
}

describe('replication quota', () => {
  it('counts percent-encoded spellings of the replication routes like the plain ones', async (t) => {
    const { index, store } = await openStore(t)
    // One token a minute after the burst: nothing refills during the test.
    const app = await buildHttpApp(
      { index, store, selector: new SegmentSelector(index) },
      { metrics: false, isLoopback: () => false, peerQuota: { ratePerSecond: 1 / 60, burst: BURST } }
    )
    t.after(async () => await app.close())
    const base = await app.listen({ host: '127.0.0.1', port: 0 })

    for (const path of ['/%72eplication/digests?from=0', '/replication/%64igests', '/%72eplication/tombstones/c/q/2020-01-01T10']) {
      assert.equal(await status(base, path), 200, `${path} is routed`)
    }
    // The burst is spent by the encoded spellings above: the plain path and any spelling are now refused.
    assert.equal(await status(base, '/replication/digests'), 429)
    assert.equal(await status(base, '/%72eplication/digests'), 429)
    // Viewers' routes are not under the quota.
    assert.equal(await status(base, '/files'), 200)
  })

  it('spares loopback clients by default', async (t) => {
    const { index, store } = await openStore(t)
    const app = await buildHttpApp(
      { index, store, selector: new SegmentSelector(index) },
      { metrics: false, peerQuota: { ratePerSecond: 1 / 60, burst: 1 } }
    )
    t.after(async () => await app.close())
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    for (let i = 0; i < 5; i++) assert.equal(await status(base, '/replication/digests'), 200)
  })
})
