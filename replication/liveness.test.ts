/**
 * The probing logic against in-memory streams (the real connection path is measured by
 * bench/netns-partition.ts, which needs root): an answered peer is never closed, a silent one is
 * after its timeout (so is one that leaves the opening of its stream unanswered as long), a peer
 * that does not speak the protocol is left alone, and the echo end closes a stream that probes
 * faster than allowed. test/stopped-peer.test.ts does it with real processes.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Stream } from '@libp2p/interface'
import { silentLogger } from '../lib/logger.ts'
import { RateLimiter } from '../lib/rate-limit.ts'
import { Liveness, echoProbes } from './liveness.ts'

/** Two ends of a stream: what one sends arrives at the other as a 'message' event (unless it is mute). */
function pair(): {
  near: Stream & { aborted: boolean; closeUnderneath: () => void }
  far: Stream & { aborted: boolean; mute: boolean; closeUnderneath: () => void }
} {
  const make = () => Object.assign(new EventTarget(), { aborted: false, mute: false, other: null as EventTarget | null })
  const a = make()
  const b = make()
  a.other = b
  b.other = a
  for (const end of [a, b]) {
    Object.assign(end, {
      send: (data: Uint8Array) => {
        if (!end.aborted && !end.mute) queueMicrotask(() => end.other!.dispatchEvent(Object.assign(new Event('message'), { data })))
        return true
      },
      abort: () => {
        end.aborted = true
        end.dispatchEvent(new Event('close'))
      },
      closeUnderneath: () => {
        // libp2p's streams throw on a write once closed.
        Object.assign(end, {
          send: () => {
            throw new Error('Cannot write to a stream that is closed')
          }
        })
      }
    })
  }
  return { near: a as never, far: b as never }
}

describe('Liveness', () => {
  it('keeps a peer that answers, closes one that went silent, and leaves alone one without the protocol', async () => {
    const streams = new Map([
      ['answers', pair()],
      ['silent', pair()],
      ['flaky', pair()]
    ])
    for (const { far } of streams.values()) echoProbes(far, () => true)
    const dead: string[] = []
    let flaky = 0
    const live = new Liveness({
      // 'flaky' fails to open twice, then has a stream: it is asked again each round.
      open: async (peer) => {
        if (peer === 'flaky' && ++flaky <= 2) throw new Error('stream reset')
        return streams.get(peer)?.near ?? null
      },
      dead: (peer) => dead.push(peer),
      log: silentLogger,
      intervalMs: 40,
      timeoutMs: 60
    })
    const peers = ['answers', 'silent', 'old-version', 'flaky']
    // Probed only after something was written to the connection: as a busy node writes to all.
    const round = async (): Promise<void> => {
      for (const p of peers) live.wrote(p)
      await sleep(25)
      live.tick(peers)
    }
    live.tick(peers)
    for (let i = 0; i < 5; i++) await round()
    assert.deepEqual(dead, [], 'all answered so far')
    assert.equal(flaky, 3, 'opened again after each failure, then kept')
    streams.get('silent')!.far.mute = true
    for (let i = 0; i < 8; i++) await round()
    assert.deepEqual(dead, ['silent'])
    assert.equal(live.closed, 1)
    assert.ok(streams.get('silent')!.near.aborted)
    assert.ok(!streams.get('answers')!.near.aborted)
    assert.ok(!streams.get('flaky')!.near.aborted)
    // A peer no longer kept: its stream goes.
    live.tick(['silent'])
    assert.ok(streams.get('answers')!.near.aborted)
    live.stop()
  })

  it('a stream closed under it (throwing on write) is dropped and opened again, never thrown out of a round', async () => {
    let opened = 0
    const ends = [pair(), pair()]
    for (const e of ends) echoProbes(e.far, () => true)
    const live = new Liveness({
      open: async () => ends[opened++]!.near,
      dead: () => assert.fail('not dead'),
      log: silentLogger,
      intervalMs: 20,
      timeoutMs: 200
    })
    live.tick(['p'])
    ends[0]!.near.closeUnderneath()
    ends[0]!.far.closeUnderneath() // the echo end too: its send throws, the listener must not
    for (let i = 0; i < 4; i++) {
      live.wrote('p')
      await sleep(25)
      live.tick(['p'])
    }
    assert.equal(opened, 2)
    live.stop()
  })

  it('a peer that leaves the opening of its stream unanswered for a timeout is closed; a quick failure is retried', async () => {
    const dead: string[] = []
    let opens = 0
    const live = new Liveness({
      // 'hung' answers nothing: the open fails when its timeout (the host's, as long as a probe's) ends.
      open: async (peer) => {
        opens++
        if (peer === 'hung') await sleep(40)
        throw new Error('The operation was aborted due to timeout')
      },
      dead: (peer) => dead.push(peer),
      log: silentLogger,
      intervalMs: 10,
      timeoutMs: 30
    })
    live.tick(['hung', 'refusing'])
    await sleep(60)
    assert.deepEqual(dead, ['hung'])
    assert.equal(live.closed, 1)
    live.tick(['refusing'])
    await sleep(5)
    assert.equal(opens, 3, 'the quick failure was opened again')
    assert.deepEqual(dead, ['hung'])
    live.stop()
  })

  it('sends no probe over a connection nothing was written to (an idle network probes nothing)', async () => {
    const { near, far } = pair()
    let probes = 0
    far.addEventListener('message', () => probes++)
    echoProbes(far, () => true)
    const live = new Liveness({
      open: async () => near,
      dead: () => assert.fail('not dead'),
      log: silentLogger,
      intervalMs: 10,
      timeoutMs: 30
    })
    for (let i = 0; i < 6; i++) {
      live.tick(['p'])
      await sleep(15)
    }
    assert.equal(probes, 0)
    live.wrote('p')
    live.tick(['p'])
    await sleep(5)
    assert.equal(probes, 1)
    live.stop()
  })

  it('the echo end closes a stream that probes faster than allowed', async () => {
    const { near, far } = pair()
    const limiter = new RateLimiter({ ratePerSecond: 4, burst: 4 })
    echoProbes(far, () => limiter.take('peer'))
    for (let i = 0; i < 6; i++) near.send(new Uint8Array([1]))
    await sleep(5)
    assert.ok(far.aborted)
  })
})
