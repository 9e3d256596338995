/**
 * Read-through listings and playlists between real nodes (libp2p over TCP and HTTP on 127.0.0.1):
 * a node that holds an hour in part, and another quality not at all (both outside its window, so
 * replication never copies them), lists and plays what its peer holds as the peer itself does.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { NETWORK_HEADER } from '../http/network-listings.ts'
import { PEER_HEADER } from '../replication/fetch-http.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, formatHour, formatInstant, hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'
import { namedBytes } from './helpers/tree.ts'

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; header: unknown; text: string }> {
  const res = await request(url, { headers })
  return { status: res.statusCode, header: res.headers[NETWORK_HEADER], text: await res.body.text() }
}

async function metric(base: string, name: string): Promise<number> {
  const text = (await get(`${base}/metrics`)).text
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  assert.ok(line != null, `${name} is exported`)
  return Number(line.split(' ')[1])
}

describe('read-through listings and playlists', () => {
  it('a node lists and plays an hour it holds in part, and a quality it lacks, as the holder does', async (t) => {
    const holder = await startNode(t)
    // Five hours ago: outside the reader's one-hour window.
    const hourUs = hourStart(Date.now() * 1000) - 5 * MICROS_PER_HOUR
    const hour = formatHour(hourUs)
    const refs: Record<string, SegmentRef[]> = { source: [], '480p': [] }
    for (const quality of ['source', '480p']) {
      for (let i = 0; i < 20; i++) {
        const { ref, body } = namedBytes(`${quality}-${i}`, 2000, { channel: 'live', quality, start: hourUs + i * 2_000_000 })
        await holder.store.writeSegment(ref, body)
        refs[quality]!.push(ref)
      }
    }
    const reader = await startNode(t, { bootstrap: [holder], extra: { 'window-hours': '1' } })
    // The reader holds the first half of the source hour itself.
    for (let i = 0; i < 10; i++) {
      const { ref, body } = namedBytes(`source-${i}`, 2000, { channel: 'live', quality: 'source', start: hourUs + i * 2_000_000 })
      await reader.store.writeSegment(ref, body)
    }
    await until(
      'the reader to know the holder and its roots',
      () => (reader.replicator!.peers.get(holder.host!.peerId)?.roots.size ?? 0) === 2
    )

    const files = await get(`${reader.url}/files/live`)
    assert.deepEqual(JSON.parse(files.text), ['480p', 'source'])
    assert.equal(files.header, 'merged')
    assert.deepEqual(JSON.parse((await get(`${reader.url}/files/live`, { 'cache-control': 'only-if-cached' })).text), ['source'])

    for (const quality of ['source', '480p']) {
      const path = `/files/live/${quality}/${hour}`
      const listing = await get(`${reader.url}${path}`)
      assert.equal(listing.text, (await get(`${holder.url}${path}`)).text, `${quality}: the holder's listing`)
      assert.equal(listing.header, 'merged')
      assert.deepEqual(JSON.parse((await get(`${reader.url}/files/live/${quality}`)).text), [hour])

      const range = `start=${formatInstant(hourUs)}&end=${formatInstant(hourUs + 40_000_000)}`
      const playlist = await get(`${reader.url}/playlist/live/${quality}.m3u8?${range}`)
      assert.equal(playlist.status, 200)
      assert.equal(
        playlist.text,
        (await get(`${holder.url}/playlist/live/${quality}.m3u8?${range}`)).text,
        `${quality}: the holder's playlist`
      )
      assert.equal(playlist.header, 'merged')
      assert.match(playlist.text, /#EXT-X-ENDLIST/)
    }
    const master = await get(`${reader.url}/playlist/live.m3u8`)
    assert.equal(master.text, (await get(`${holder.url}/playlist/live.m3u8`)).text)

    // A repeated request costs no round trip: the holder's root and hour digest are unchanged.
    const asked = await metric(reader.url, 'segmesh_network_listing_requests_total')
    assert.ok(asked > 0)
    await get(`${reader.url}/files/live/source/${hour}`)
    await get(`${reader.url}/playlist/live/480p.m3u8?start=${formatInstant(hourUs)}&end=${formatInstant(hourUs + 40_000_000)}`)
    assert.equal(await metric(reader.url, 'segmesh_network_listing_requests_total'), asked)

    // A peer's request is answered from the reader's own disk: lookups never cascade.
    const peerView = await get(`${reader.url}/files/live/source/${hour}`, { [PEER_HEADER]: 'http://127.0.0.1:1' })
    assert.deepEqual(
      JSON.parse(peerView.text),
      refs.source!.slice(0, 10).map((r) => r.file)
    )
    assert.equal(peerView.header, undefined)
  })

  it('a name tombstoned here stays out of the merged listing and playlist, whatever peers list', async (t) => {
    const holder = await startNode(t, { announce: false })
    const hourUs = hourStart(Date.now() * 1000) - 5 * MICROS_PER_HOUR
    const refs: SegmentRef[] = []
    for (let i = 0; i < 5; i++) {
      const { ref, body } = namedBytes(`t-${i}`, 1000, { channel: 'live', quality: 'source', start: hourUs + i * 2_000_000 })
      await holder.store.writeSegment(ref, body)
      refs.push(ref)
    }
    const reader = await startNode(t, { bootstrap: [holder], announce: false, extra: { 'window-hours': '1' } })
    await reader.store.writeTombstone(refs[2]!)
    await until(
      'the reader to know the holder and its roots',
      () => (reader.replicator!.peers.get(holder.host!.peerId)?.roots.size ?? 0) === 1
    )

    const listing = await get(`${reader.url}/files/live/source/${formatHour(hourUs)}`)
    assert.deepEqual(
      JSON.parse(listing.text),
      [0, 1, 3, 4].map((i) => refs[i]!.file)
    )
    const range = `start=${formatInstant(hourUs)}&end=${formatInstant(hourUs + 10_000_000)}`
    const playlist = await get(`${reader.url}/playlist/live/source.m3u8?${range}`)
    assert.equal(playlist.status, 200)
    assert.doesNotMatch(playlist.text, new RegExp(encodeURIComponent(refs[2]!.file)))
    assert.match(playlist.text, /#EXT-X-DISCONTINUITY/)
    const segment = await request(`${reader.url}/segments/live/source/${formatHour(hourUs)}/${refs[2]!.file}`)
    assert.equal(segment.statusCode, 404)
    await segment.body.dump()
  })
})
