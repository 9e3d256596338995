/**
 * A kept peer that stops answering, with real processes: node b is SIGSTOPped, so its kernel still
 * acknowledges every TCP segment (no reset, no timeout at the TCP level) while nothing reads them,
 * which is how a hung or swapped-out machine looks from outside. Libp2p's own ping would notice
 * after a minute or more; the liveness probes (replication/liveness.ts) must close the connection
 * within a few seconds of the next write to it, and the peers must find each other again when b
 * wakes up.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { it } from 'node:test'
import { LIVENESS_DEFAULTS } from '../replication/liveness.ts'
import { childNodes } from './helpers/child-nodes.ts'
import { synthesize } from '../simulations/segments.ts'
import { OWN_ONLY, getJson } from '../simulations/sim-node.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'

interface StatusPeer {
  url: string
  connected: boolean
  kept: boolean
}

it('a stopped process is cut off within seconds of a write to it, and rejoins when it resumes', async (t) => {
  const node = await childNodes(t, { digestIntervalSeconds: 30 })
  const a = await node(0)
  const b = await node(1)
  await a.start(null)
  await b.start(a.multiaddr)
  const peerB = async (): Promise<StatusPeer | undefined> => {
    const { body } = await getJson(`${a.url}/status`)
    return (body as { peers: StatusPeer[] }).peers.find((p) => p.url === b.url)
  }
  // a keeps b (b joined through a, so b lets a go once it has others; a keeps what it learned).
  for (let p = await peerB(); p?.connected !== true || !p.kept; p = await peerB()) await sleep(100)

  process.kill(b.pid!, 'SIGSTOP')
  const hour = hourStart(Date.now() * 1000) - MICROS_PER_HOUR
  const seg = synthesize({ quality: 'source', slot: 0, seed: 'stopped', size: 20_000 }, hour)
  // a's announcement of the new segment is written to b's connection: the probes start.
  await a.write(seg)
  const wrote = performance.now()
  while ((await peerB())?.connected === true) {
    assert.ok(performance.now() - wrote < 30_000, 'a still holds a connection to the stopped node after 30 s')
    await sleep(100)
  }
  const cutAfter = performance.now() - wrote
  const bound = 2 * LIVENESS_DEFAULTS.intervalMs + LIVENESS_DEFAULTS.timeoutMs + LIVENESS_DEFAULTS.tickMs
  console.log(`# the connection to the stopped node closed ${(cutAfter / 1000).toFixed(2)} s after the write`)
  assert.ok(cutAfter < bound + 3000, `closed ${cutAfter.toFixed(0)} ms after the write (probes: ${bound} ms at most)`)

  process.kill(b.pid!, 'SIGCONT')
  const { channel, quality, hour: hourName, file } = seg.ref
  for (const resumed = performance.now(); ; await sleep(100)) {
    const { body } = await getJson(`${b.url}/files/${channel}/${quality}/${hourName}`, OWN_ONLY)
    if (Array.isArray(body) && body.includes(file)) break
    assert.ok(performance.now() - resumed < 60_000, 'b did not catch up within 60 s of resuming')
  }
  for (let p = await peerB(); p?.connected !== true; p = await peerB()) await sleep(100)
  assert.equal(a.crashes.length + b.crashes.length, 0)
})
