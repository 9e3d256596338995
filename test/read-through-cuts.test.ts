/**
 * Read-through cuts and frames between real nodes (libp2p over TCP and HTTP on 127.0.0.1, segments
 * ffmpeg made): a node that holds none of an hour (outside its window, so replication never copies
 * it) cuts it as the holder does, fetching the segments it needs first, and keeps them.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { request } from 'undici'
import { READ_THROUGH_HEADER } from '../http/read-through.ts'
import { MICROS_PER_HOUR, formatInstant, hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'
import { FPS, recordSegments } from './helpers/media.ts'
import { tempDir } from './helpers/tree.ts'

const run = promisify(execFile)

async function get(url: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const res = await request(url)
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) }
}

/** Video frames ffprobe decodes from a file. */
async function frames(path: string): Promise<number> {
  // biome-ignore format: command-line flags read best as flag/value pairs on a line
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path])
  // An MPEG-TS lists the stream under its program too: the first line is the count.
  const n = Number(stdout.trim().split('\n')[0])
  if (Number.isNaN(n)) throw new Error(`ffprobe said ${JSON.stringify(stdout)}`)
  return n
}

describe('read-through cuts and frames', () => {
  it('a node that holds none of a range cuts it as the holder does, and keeps the segments', async (t) => {
    const holder = await startNode(t)
    // Five hours ago: outside the reader's one-hour window.
    const start = hourStart(Date.now() * 1000) - 5 * MICROS_PER_HOUR
    await recordSegments(holder.store, 'live', 'source', start, 8)
    const reader = await startNode(t, { bootstrap: [holder], extra: { 'window-hours': '1' } })
    await until(
      'the reader to know the holder and its roots',
      () => (reader.replicator!.peers.get(holder.host!.peerId)?.roots.size ?? 0) === 1
    )
    const range = `start=${formatInstant(start + 1_000_000)}&end=${formatInstant(start + 9_000_000)}`

    // Rough: the same bytes as the holder's (whole segments, streamed as each arrives).
    const rough = await get(`${reader.url}/cut/live/source.ts?${range}&type=rough`)
    assert.equal(rough.status, 200, rough.body.subarray(0, 300).toString())
    assert.equal(rough.headers[READ_THROUGH_HEADER], 'peer')
    const direct = await get(`${holder.url}/cut/live/source.ts?${range}&type=rough`)
    assert.ok(rough.body.equals(direct.body), 'the holder’s rough cut, byte for byte')
    // Five segments cover [1 s, 9 s): the reader now holds them.
    assert.equal(reader.index.listHour('live', 'source', start).length, 5)

    // Fast, over a range that starts where the reader holds nothing yet: frame-exact, as on the holder.
    const later = `start=${formatInstant(start + 9_000_000)}&end=${formatInstant(start + 15_000_000)}`
    const fast = await get(`${reader.url}/cut/live/source.ts?${later}&type=fast`)
    assert.equal(fast.status, 200, fast.body.subarray(0, 300).toString())
    const dir = await tempDir(t)
    await writeFile(join(dir, 'fast.ts'), fast.body)
    assert.equal(await frames(join(dir, 'fast.ts')), 6 * FPS)

    // A frame of a segment still only on the holder.
    const frame = await get(`${reader.url}/frame/live/source.png?timestamp=${formatInstant(start + 15_500_000)}`)
    assert.equal(frame.status, 200, frame.body.subarray(0, 300).toString())
    assert.ok(frame.body.subarray(1, 4).equals(Buffer.from('PNG')))
    assert.equal(reader.index.listHour('live', 'source', start).length, 8)
  })

  it('a cut through a node whose peer lists a segment but does not serve it answers 502, and that segment is not stored', async (t) => {
    const holder = await startNode(t, { announce: false })
    const start = hourStart(Date.now() * 1000) - 5 * MICROS_PER_HOUR
    const written = await recordSegments(holder.store, 'live', 'source', start, 3)
    const reader = await startNode(t, { bootstrap: [holder], announce: false, extra: { 'window-hours': '1' } })
    await until(
      'the reader to know the holder and its roots',
      () => (reader.replicator!.peers.get(holder.host!.peerId)?.roots.size ?? 0) === 1
    )
    // The second segment's file goes from the holder's disk; its index still lists it.
    await rm(holder.store.pathOf(written[1]!.ref))
    const range = `start=${formatInstant(start)}&end=${formatInstant(start + 6_000_000)}`
    const fast = await get(`${reader.url}/cut/live/source.ts?${range}&type=fast`)
    assert.equal(fast.status, 502, fast.body.toString())
    assert.equal(JSON.parse(fast.body.toString()).error, 'read_through_failed')
    assert.equal(reader.index.getSegment(written[1]!.ref), null)
  })
})
