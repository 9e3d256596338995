/**
 * `/status` and `/healthz` over a real socket: the node's folders only for this machine; a node
 * whose index or selector fails says so on `/healthz` (503).
 */
import assert from 'node:assert/strict'
import { type TestContext, describe, it } from 'node:test'
import { request } from 'undici'
import { SegmentSelector } from '../storage/best-segments.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import { openStore, ref } from '../test/helpers/tree.ts'
import { buildHttpApp } from './app.ts'
import type { HttpInit } from './components.ts'

async function started(
  t: TestContext,
  init: HttpInit
): Promise<{ dir: string; index: SegmentIndex; selector: SegmentSelector; base: string }> {
  const { dir, index, store } = await openStore(t)
  await index.apply([{ op: 'put-segment', ref: ref({ at: 0, dur: 2000 }), size: 1, mtimeMs: 1 }])
  const selector = new SegmentSelector(index)
  const app = await buildHttpApp({ index, store, selector }, { metrics: false, dataDir: dir, ...init })
  t.after(async () => await app.close())
  return { dir, index, selector, base: await app.listen({ host: '127.0.0.1', port: 0 }) }
}

async function json(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(url)
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> }
}

describe('/status', () => {
  it('shows the data folders to this machine, never to a remote client', async (t) => {
    const local = await started(t, {})
    assert.equal((await json(`${local.base}/status`)).body.dataDir, local.dir)

    const remote = await started(t, { isLoopback: () => false })
    const { status, body } = await json(`${remote.base}/status`)
    assert.equal(status, 200)
    assert.equal(body.dataDir, null)
    assert.equal(body.segmentsDir, null)
    assert.ok(!JSON.stringify(body).includes(remote.dir))
  })
})

describe('/healthz', () => {
  it('is ok while the node can serve, and 503 with a JSON reason once its selection fails', async (t) => {
    const node = await started(t, {})
    assert.deepEqual(await json(`${node.base}/healthz`), { status: 200, body: { ok: true } })
    // What broke every range route on 954b268: the selector's cache refusing new entries.
    t.mock.method(node.selector, 'hourCandidates', () => {
      throw new RangeError('Map maximum size exceeded')
    })
    const res = await json(`${node.base}/healthz`)
    t.mock.restoreAll()
    assert.equal(res.status, 503)
    assert.equal(res.body.error, 'unhealthy')
    assert.match(String(res.body.message), /Map maximum size exceeded/)
  })

  it('is 503 once the index cannot be read', async (t) => {
    const node = await started(t, {})
    await node.index.stop()
    const res = await json(`${node.base}/healthz`)
    assert.equal(res.status, 503)
    assert.equal(res.body.error, 'unhealthy')
  })
})
