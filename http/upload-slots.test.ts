/**
 * Upload slots over a real socket: peers past the slots are answered busy with the peers that
 * fetched the segment in full; viewers, HEAD and revalidations never take a slot; a peer that
 * leaves frees its slot and is not named; a flood of peers never holds more than the slots, and
 * the holders remembered stay within their bound.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Dispatcher, request } from 'undici'
import { SegmentSelector } from '../storage/best-segments.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { until } from '../test/helpers/network.ts'
import { T0, namedBytes, openStore } from '../test/helpers/tree.ts'
import { buildHttpApp } from './app.ts'
import { type BusyAnswer, UploadSlots } from './upload-slots.ts'

const PEER = 'x-segmesh-peer'

async function storedSegment(store: Awaited<ReturnType<typeof openStore>>['store'], i: number, size: number): Promise<SegmentRef> {
  const { ref, body } = namedBytes(`upload-${i}`, size, { start: T0 + i * 2_000_000 })
  await store.writeSegment(
    ref,
    (async function* () {
      yield body
    })()
  )
  return ref
}

async function setup(
  t: Parameters<typeof openStore>[0],
  uploads: UploadSlots
): Promise<{ base: string; store: Awaited<ReturnType<typeof openStore>>['store'] }> {
  const { index, store } = await openStore(t)
  const app = await buildHttpApp({ index, store, selector: new SegmentSelector(index), uploads }, { metrics: false })
  t.after(async () => {
    // Bodies a failed assertion left unread would hold app.close() forever.
    app.server.closeAllConnections()
    await app.close()
  })
  return { base: await app.listen({ host: '127.0.0.1', port: 0 }), store }
}

const get = async (base: string, ref: SegmentRef, peer?: string, method: Dispatcher.HttpMethod = 'GET'): Promise<Dispatcher.ResponseData> =>
  await request(`${base}/segments/${segmentRelPath(ref)}`, { method, headers: peer == null ? {} : { [PEER]: peer } })

/** Read a whole body (undici's dump() closes the socket past 128 KiB: the upload would not finish). */
async function drain(res: Dispatcher.ResponseData): Promise<void> {
  for await (const _ of res.body) {
    // discard
  }
}

describe('upload slots', () => {
  it('answers peers past the slots busy, naming who fetched the segment in full; viewers, HEAD and a peer that left', async (t) => {
    const uploads = new UploadSlots({ slots: 2 })
    const { base, store } = await setup(t, uploads)
    // Large enough that an unread body cannot fit in the sockets' buffers: its upload stays open.
    const big = await storedSegment(store, 0, 32 * 1024 * 1024)

    const first = await get(base, big, 'http://p1.example:8080/')
    assert.equal(first.statusCode, 200)
    await drain(first)
    await until('the first upload to close', () => uploads.active === 0, 5000)

    // Two peers take both slots and stop reading.
    const held = [await get(base, big, 'http://p2.example'), await get(base, big, 'http://p3.example')]
    for (const r of held) assert.equal(r.statusCode, 200)
    assert.equal(uploads.active, 2)

    const refused = await get(base, big, 'http://p4.example')
    assert.equal(refused.statusCode, 503)
    assert.equal(refused.headers['retry-after'], '1')
    const answer = (await refused.body.json()) as BusyAnswer
    assert.equal(answer.error, 'busy')
    assert.deepEqual(answer.holders, ['http://p1.example:8080'], 'only a peer that got the whole body is named')
    assert.ok(answer.retryMs > 0)

    // Viewers (no header), HEAD and a header that is not a URL are not counted.
    const viewer = await get(base, big)
    assert.equal(viewer.statusCode, 200)
    viewer.body.destroy()
    const head = await get(base, big, 'http://p5.example', 'HEAD')
    assert.equal(head.statusCode, 200)
    await head.body.dump()
    const notUrl = await get(base, big, 'peer 6')
    assert.equal(notUrl.statusCode, 200)
    notUrl.body.destroy()

    // A peer that leaves mid-body frees its slot and is never named.
    held[0]!.body.destroy()
    await until('the abandoned upload to free its slot', () => uploads.active === 1, 5000)
    const next = await get(base, big, 'http://p4.example')
    assert.equal(next.statusCode, 200)
    next.body.destroy()
    held[1]!.body.destroy()
    await until('every upload to close', () => uploads.active === 0, 5000)
    assert.deepEqual(uploads.stats, { uploads: 4, busy: 1, peak: 2 })
    // p1 is the asker now: a peer is not named to itself.
    const again = [await get(base, big, 'http://p7.example'), await get(base, big, 'http://p8.example')]
    const self = await get(base, big, 'http://p1.example:8080')
    assert.equal(self.statusCode, 503)
    assert.deepEqual(((await self.body.json()) as BusyAnswer).holders, [])
    for (const r of again) r.body.destroy()
  })

  it('a flood of peers never holds more than the slots, and the holders remembered stay bounded', async (t) => {
    const uploads = new UploadSlots({ slots: 3, holdersListed: 2, segmentsRemembered: 8 })
    const { base, store } = await setup(t, uploads)
    const refs: SegmentRef[] = []
    for (let i = 0; i < 24; i++) refs.push(await storedSegment(store, i + 1, 64 * 1024))
    // 24 segments × 10 peers each, all at once: 240 requests against 3 slots.
    const statuses = await Promise.all(
      refs.flatMap((ref, i) =>
        Array.from({ length: 10 }, async (_, p) => {
          const res = await get(base, ref, `http://peer-${i}-${p}.example`)
          await drain(res)
          return res.statusCode
        })
      )
    )
    assert.ok(statuses.every((s) => s === 200 || s === 503))
    assert.equal(uploads.stats.uploads + uploads.stats.busy, 240)
    assert.ok(uploads.stats.peak <= 3, `peak ${uploads.stats.peak}`)
    await until('every upload to close', () => uploads.active === 0, 5000)
    assert.ok(uploads.remembered <= 8, `${uploads.remembered} segments remembered`)
    // Fill the slots, then ask for the newest segment: at most holdersListed names.
    const held = await Promise.all([0, 1, 2].map(async (p) => await get(base, refs[0]!, `http://holder-${p}.example`)))
    const busy = await get(base, refs.at(-1)!, 'http://late.example')
    if (busy.statusCode === 503) assert.ok(((await busy.body.json()) as BusyAnswer).holders.length <= 2)
    else await drain(busy)
    for (const r of held) await drain(r)
  })
})
