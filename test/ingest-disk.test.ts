/**
 * A recording node whose disk is "full" (free space under --min-free-bytes) downloads nothing:
 * the recorder pauses with the store's writes instead of fetching bytes it cannot keep.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HlsOrigin } from './helpers/hls-origin.ts'
import { startNode, until } from './helpers/network.ts'

describe('recording with the disk full', () => {
  it('polls the playlist but fetches no segment while writes are paused', async (t) => {
    const origin = await HlsOrigin.start(t, { count: 3, window: 3 })
    // More free space than any disk has: writes are paused from the start.
    const node = await startNode(t, {
      extra: { record: [`live=${origin.mediaUrl()}`], 'record-poll-ms': '100', 'min-free-bytes': String(2 ** 52) }
    })
    assert.equal(node.space.full, true)
    await until('the playlist read', () => (origin.requests.get('/source/index.m3u8') ?? 0) >= 1)
    await until('the worker holding its entries back', () => node.recorder!.status()[0]!.state === 'up')
    // Unpaused, the first download is under way the moment the worker is up.
    const status = node.recorder!.status()[0]!
    assert.equal(status.downloading, 0)
    assert.equal(
      Object.values(status.recorded).reduce((a, b) => a + b, 0),
      0
    )
    assert.deepEqual(
      [...origin.requests.keys()].filter((p) => p.endsWith('.ts')),
      []
    )
    assert.equal(node.index.segmentsStartingIn('live', 'source', 0, Number.MAX_SAFE_INTEGER).length, 0)
  })
})
