/**
 * What counting copies costs while a peer records: a real node holding a 30-day, 8-quality archive
 * that this node's index holds too, except what the peer records live. Its root differs after every
 * new segment, so every check asks it; only the live edge may cost bytes, and what changes in an
 * old hour must still be seen. Counted at the sockets (every byte both HTTP ends wrote).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type net from 'node:net'
import { describe, it } from 'node:test'
import { NetworkListings } from '../http/network-listings.ts'
import { ONE_HOST_FLAGS } from '../simulations/sim-node.ts'
import { SocketBytes, watchSockets } from '../simulations/socket-bytes.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import type { IndexChange, SegmentIndex } from '../storage/segment-index.ts'
import { type SegmentRef, formatSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import { startNode } from './helpers/network.ts'
import { openStore } from './helpers/tree.ts'

const QUALITIES = ['c0', 'c1', 'c2', 'c3'].flatMap((c) => [`${c}/source`, `${c}/480p`])
const HOURS = 30 * 24

function segment(key: string, start: number): SegmentRef {
  const [channel, quality] = key.split('/') as [string, string]
  const hash = createHash('sha256').update(`${key}/${start}`).digest()
  return formatSegmentRef({ channel, quality, start, duration: 2_000_000, type: 'full', hash })
}

/** A segment in each of the 30 days' hours before `now`'s, of every channel/quality. */
async function fill(index: SegmentIndex, now: number): Promise<void> {
  const batch: IndexChange[] = []
  for (const key of QUALITIES)
    for (let h = HOURS - 1; h >= 1; h--)
      batch.push({ op: 'put-segment', ref: segment(key, now - h * MICROS_PER_HOUR), size: 1000, mtimeMs: 1 })
  await index.apply(batch)
}

describe('copies while a peer records', () => {
  it('a check costs the live edge only, and still sees an old hour change', async (t) => {
    // The hours that no longer grow end where the previous hour starts: a test that crossed an
    // hour's end would see them move. It starts in a new hour if fewer than 30 s are left.
    const left = MICROS_PER_HOUR - ((Date.now() * 1000) % MICROS_PER_HOUR)
    if (left < 30_000_000) await new Promise((resolve) => setTimeout(resolve, Math.ceil(left / 1000) + 100))
    const NOW = hourStart(Date.now() * 1000)
    const peer = await startNode(t, {
      announce: false,
      digestIntervalSeconds: 3600,
      extra: { ...ONE_HOST_FLAGS, 'window-hours': String(HOURS) }
    })
    const { index } = await openStore(t)
    await fill(peer.index, NOW)
    await fill(index, NOW)
    let generation = 0
    const roots = (): Map<string, string> => new Map(QUALITIES.map((k) => [k, `peer-${generation}`]))
    const network = new NetworkListings({
      index,
      selector: new SegmentSelector(index),
      peers: () => [{ url: peer.url, connected: true, roots: roots() }],
      ourRoots: () => new Map(QUALITIES.map((k) => [k, 'ours'])),
      windowStart: () => NOW - HOURS * MICROS_PER_HOUR,
      copiesEveryMs: 0,
      // Every check asks again (a root that changed is otherwise trusted for a second).
      freshMs: 0
    })
    await network.start()
    t.after(async () => await network.stop())

    const port = Number(new URL(peer.url).port)
    const http = new SocketBytes<'http'>()
    const track = (socket: net.Socket): void => {
      if (socket.localPort === port || socket.remotePort === port) http.track(socket, 'http')
    }
    watchSockets({ accepted: track, opening: () => track })
    /** Bytes both ends wrote during one check of every channel/quality. */
    const check = async (): Promise<number> => {
      const before = http.totals(['http']).http
      generation++
      await network.checkCopies()
      return http.totals(['http']).http - before
    }
    const copiesOf = async (key: string, hourUs: number): Promise<number | undefined> => {
      const [channel, quality] = key.split('/') as [string, string]
      const view = await network.copies(channel, quality, hourUs, hourUs + 1)
      return view.hours.find((h) => h.hour === formatHour(hourUs))?.copies
    }

    const cold = await check()
    assert.equal(network.belowMinCopies.get('c0/source'), 0, 'every hour held by both')
    // The peer records: a new segment of the live hour, then another.
    const warm: number[] = []
    for (let i = 0; i < 2; i++) {
      await peer.index.apply([{ op: 'put-segment', ref: segment('c0/source', NOW + i * 2_000_000), size: 1000, mtimeMs: 1 }])
      warm.push(await check())
    }
    assert.ok(network.stats.unchanged >= 2 * QUALITIES.length, `closed hours revalidated, not read again (${network.stats.unchanged})`)
    // An old hour changes there (a copy taken late): seen at the next check.
    const old = NOW - 100 * MICROS_PER_HOUR
    await peer.index.apply([{ op: 'put-segment', ref: segment('c0/source', old + 2_000_000), size: 1000, mtimeMs: 1 }])
    const changed = await check()
    await index.apply([{ op: 'put-segment', ref: segment('c0/source', NOW - 50 * MICROS_PER_HOUR + 2_000_000), size: 1000, mtimeMs: 1 }])
    assert.equal(await copiesOf('c0/source', old), 1, 'the old hour the peer changed is held alike by this node alone')
    assert.equal(await copiesOf('c0/source', NOW - 200 * MICROS_PER_HOUR), 2)
    console.log(
      `# ${QUALITIES.length} × ${HOURS} hours: cold check ${cold} B; while the peer records ${warm.join(', ')} B; after an old hour changed ${changed} B`
    )
    // 8 channel/qualities, two requests each (a 304 and the live edge): ~1 KB each.
    for (const bytes of warm) assert.ok(bytes <= 16 * 1024, `a check while recording moved ${bytes} B`)
    assert.ok(cold > 20 * Math.max(...warm), `cold ${cold} B against ${warm.join(', ')} B`)
  })
})
