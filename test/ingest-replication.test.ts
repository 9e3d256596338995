/**
 * A node started with --record stores the live stream and its peers get it through replication,
 * like any other segment; /status and /metrics report the recorder.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { HlsOrigin } from './helpers/hls-origin.ts'
import { startNode, until } from './helpers/network.ts'

describe('recording node', () => {
  it('records a live stream and a second node replicates it byte for byte', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 4, window: 2, initial: 2 })
    // Digests only on connection (hello): what is recorded later must travel by announcement.
    const recorder = await startNode(t, {
      digestIntervalSeconds: 3600,
      extra: { record: [`live=${origin.masterUrl}`], 'record-poll-ms': '100' }
    })
    const peer = await startNode(t, { bootstrap: [recorder], digestIntervalSeconds: 3600 })
    const count = (node: typeof recorder): number => node.index.segmentsStartingIn('live', 'source', 0, Number.MAX_SAFE_INTEGER).length
    await until('the first window recorded and replicated', () => count(recorder) === 2 && count(peer) === 2, 30_000)
    origin.advance(2)
    await until('the whole stream recorded', () => count(recorder) === 4)
    await until('the whole stream replicated', () => count(peer) === 4, 30_000)
    const segs = peer.index.segmentsStartingIn('live', 'source', 0, Number.MAX_SAFE_INTEGER)
    for (const [i, seg] of segs.entries()) {
      assert.equal(seg.type, 'full')
      assert.equal(seg.start, origin.segments[i]!.start)
      assert.ok((await readFile(peer.store.pathOf(seg))).equals(origin.segments[i]!.bytes), `replicated bytes of ${i}`)
    }

    const status = (await (await request(`${recorder.url}/status`)).body.json()) as {
      recording: Array<{ channel: string; quality: string; state: string; recorded: { full: number } }>
    }
    assert.equal(status.recording.length, 1)
    const [worker] = status.recording
    assert.deepEqual([worker!.channel, worker!.quality, worker!.state, worker!.recorded.full], ['live', 'source', 'up', 4])
    const metrics = await (await request(`${recorder.url}/metrics`)).body.text()
    assert.match(metrics, /segmesh_ingest_segments_total\{channel="live",quality="source",type="full"\} 4/)
    assert.match(metrics, /http_request_duration_seconds/, 'the HTTP metrics are still there')
  })
})
