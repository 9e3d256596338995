/**
 * Upload slots over a real socket: peers past the slots are answered busy with the peers that
 * fetched the segment in full; viewers, HEAD and revalidations never take a slot; a peer that
 * leaves frees its slot and is not named; a flood of peers never holds more than the slots, and
 * the holders remembered stay within their bound.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { type Dispatcher, request } from 'undici'
import { SegmentSelector } from '../storage/best-segments.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { until } from '../test/helpers/network.ts'
import { T0, namedBytes, openStore } from '../test/helpers/tree.ts'
import { buildHttpApp } from './app.ts'
import { RunningDownloads } from '../replication/running-downloads.ts'
import { DOWNLOAD_WAIT } from './segment-routes.ts'
import { REFERRALS_HEADER, REFERRAL_DEPTH } from '../replication/fetch-http.ts'
import { type BusyAnswer, UploadSlots } from './upload-slots.ts'

const PEER = 'x-segmesh-peer'

async function storedSegment(
  store: Awaited<ReturnType<typeof openStore>>['store'],
  i: number,
  size: number,
  start = T0 + i * 2_000_000
): Promise<SegmentRef> {
  const { ref, body } = namedBytes(`upload-${i}`, size, { start })
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
  uploads: UploadSlots,
  downloads?: RunningDownloads
): Promise<{ base: string; store: Awaited<ReturnType<typeof openStore>>['store'] }> {
  const { index, store } = await openStore(t)
  const app = await buildHttpApp({ index, store, selector: new SegmentSelector(index), uploads, downloads }, { metrics: false })
  t.after(async () => {
    // Bodies a failed assertion left unread would hold app.close() forever.
    app.server.closeAllConnections()
    await app.close()
  })
  return { base: await app.listen({ host: '127.0.0.1', port: 0 }), store }
}

/** A GET as a peer's fetcher sends it (its URL and, as one that stores what it gets, `referrals`), or a viewer's without `peer`. */
const get = async (
  base: string,
  ref: SegmentRef,
  peer?: string,
  method: Dispatcher.HttpMethod = 'GET',
  referrals: string | null = '0'
): Promise<Dispatcher.ResponseData> =>
  await request(`${base}/segments/${segmentRelPath(ref)}`, {
    method,
    headers: peer == null ? {} : { [PEER]: peer, ...(referrals == null ? {} : { [REFERRALS_HEADER]: referrals }) }
  })

const anyPeer = (): boolean => true

/** Read a whole body (undici's dump() closes the socket past 128 KiB: the upload would not finish). */
async function drain(res: Dispatcher.ResponseData): Promise<void> {
  for await (const _ of res.body) {
    // discard
  }
}

describe('upload slots', () => {
  it('answers peers past the slots busy, naming who fetched the segment in full; viewers, HEAD and a peer that left', async (t) => {
    const uploads = new UploadSlots({ slots: 2, knownPeer: anyPeer })
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
    assert.deepEqual(uploads.stats, { uploads: 4, busy: 1, referred: 0, peak: 2 })
    // p1 is the asker now: a peer is not named to itself.
    const again = [await get(base, big, 'http://p7.example'), await get(base, big, 'http://p8.example')]
    const self = await get(base, big, 'http://p1.example:8080')
    assert.equal(self.statusCode, 503)
    assert.deepEqual(((await self.body.json()) as BusyAnswer).holders, [])
    for (const r of again) r.body.destroy()
  })

  it('with slots free, refers askers of a live segment to known peers that fetched it in full, in random order; asked again it serves', async (t) => {
    const uploads = new UploadSlots({ slots: 8, holdersListed: 4, referAfter: 2, knownPeer: (url) => !url.includes('stranger') })
    const { base, store } = await setup(t, uploads)
    // Just stored here: a live segment (those held longer are repairs, not referred: below).
    const ref = await storedSegment(store, 0, 64 * 1024)
    const fetchFrom = async (peer: string, referrals: string | null = '0', segment = ref): Promise<number> => {
      const res = await get(base, segment, peer, 'GET', referrals)
      await drain(res)
      await until('the upload to close', () => uploads.active === 0, 5000)
      return res.statusCode
    }
    // Fetched in full, but not named: a made-up URL, and a read-through (no referrals header: it may not store).
    assert.equal(await fetchFrom('http://stranger.example'), 200)
    assert.equal(await fetchFrom('http://passing.example', null), 200)
    assert.equal(await fetchFrom('http://h1.example'), 200)
    // One holder named: not enough to refer.
    assert.equal(await fetchFrom('http://h2.example'), 200)

    const referred = await get(base, ref, 'http://a1.example')
    assert.equal(referred.statusCode, 503)
    const answer = (await referred.body.json()) as BusyAnswer
    assert.deepEqual([...answer.holders].sort(), ['http://h1.example', 'http://h2.example'])
    assert.deepEqual([uploads.active, uploads.stats.referred], [0, 1], 'a referral takes no slot')
    // Asked again by the asker it referred (which says so with the full depth): served.
    assert.equal(await fetchFrom('http://a1.example', String(REFERRAL_DEPTH)), 200)
    // An asker that came by one referral is sent on once more; one without the header never is.
    assert.equal(await fetchFrom('http://once.example', '1'), 503)
    assert.equal(await fetchFrom('http://old-version.example', null), 200)

    // Askers spread over the holders: the first named is not always the same.
    const firsts = new Set<string>()
    for (let i = 0; i < 40; i++) {
      const res = await get(base, ref, `http://spread-${i}.example`)
      assert.equal(res.statusCode, 503)
      const named = ((await res.body.json()) as BusyAnswer).holders
      assert.ok(!named.some((u) => u.includes('stranger') || u.includes('passing') || u.includes('old-version')), `${named}`)
      firsts.add(named[0]!)
    }
    assert.ok(firsts.size >= 2, `always ${[...firsts]}`)

    // A segment held here for longer than referYoungerThanMs is served whoever has it already.
    const aging = new UploadSlots({ slots: 8, referAfter: 2, referYoungerThanMs: 1000, knownPeer: anyPeer })
    const later = await setup(t, aging)
    const old = await storedSegment(later.store, 7, 1024)
    const fetchOld = async (peer: string): Promise<number> => {
      const res = await get(later.base, old, peer)
      await drain(res)
      await until('the upload to close', () => aging.active === 0, 5000)
      return res.statusCode
    }
    assert.deepEqual([await fetchOld('http://old-1.example'), await fetchOld('http://old-2.example')], [200, 200])
    assert.equal(await fetchOld('http://old-3.example'), 503, 'still live')
    await sleep(1100)
    assert.equal(await fetchOld('http://old-4.example'), 200, 'held for over a second: a repair')

    // referAfter 0: a free slot always serves.
    const plain = new UploadSlots({ slots: 8, referAfter: 0 })
    const other = await setup(t, plain)
    const ref2 = await storedSegment(other.store, 1, 1024)
    for (let i = 0; i < 5; i++) {
      const res = await get(other.base, ref2, `http://p${i}.example`)
      assert.equal(res.statusCode, 200)
      await drain(res)
      await until('the upload to close', () => plain.active === 0, 5000)
    }
    assert.equal(plain.stats.busy, 0)
  })

  it('a flood of peers never holds more than the slots, and the holders remembered stay bounded', async (t) => {
    const uploads = new UploadSlots({ slots: 3, holdersListed: 2, segmentsRemembered: 8, knownPeer: anyPeer })
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

  it('a referred peer asking for a segment this node is downloading waits for its copy; others and late waiters get the 404 at once', async (t) => {
    const downloads = new RunningDownloads()
    const { base, store } = await setup(t, new UploadSlots(), downloads)
    const { ref, body } = namedBytes('arriving', 4096, { start: T0 })
    const end = downloads.begin(ref)
    const waiting = get(base, ref, 'http://asker.example', 'GET', '1')
    // Not sent by a referral: the 404 at once (it may only have queued the name).
    const unreferred = await get(base, ref, 'http://walker.example')
    assert.equal(unreferred.statusCode, 404)
    await unreferred.body.dump()
    // The viewer (no peer header) is not made to wait.
    const viewer = await get(base, ref)
    assert.equal(viewer.statusCode, 404)
    await viewer.body.dump()
    // The copy lands and is indexed, then the download ends.
    await store.writeSegment(
      ref,
      (async function* () {
        yield body
      })()
    )
    end()
    const answered = await waiting
    assert.equal(answered.statusCode, 200)
    assert.deepEqual(Buffer.from(await answered.body.arrayBuffer()), body)

    // A flood of peers asking for a name whose download never ends: the waiters' bound holds, the
    // rest are answered at once, and the waiters get their 404 when the wait runs out.
    const { ref: stuck } = namedBytes('stuck', 1024, { start: T0 + 2_000_000 })
    const endStuck = downloads.begin(stuck)
    t.after(endStuck)
    const started = Date.now()
    const waiters = Array.from(
      { length: DOWNLOAD_WAIT.waiters },
      async (_, i) => await get(base, stuck, `http://w${i}.example`, 'GET', '1')
    )
    await until(
      'the waiters to be waiting',
      async () => {
        const probe = await get(base, stuck, 'http://late.example', 'GET', '1')
        await probe.body.dump()
        return probe.statusCode === 404 && Date.now() - started < DOWNLOAD_WAIT.ms / 2
      },
      DOWNLOAD_WAIT.ms
    )
    for (const r of await Promise.all(waiters)) {
      assert.equal(r.statusCode, 404)
      await r.body.dump()
    }
    assert.ok(Date.now() - started >= DOWNLOAD_WAIT.ms - 50, 'the waiters waited out their time')
  })
})
