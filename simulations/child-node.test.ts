import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { it } from 'node:test'
import { childNodes } from '../test/helpers/child-nodes.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { noCrashes } from './checkers.ts'
import { synthesize } from './segments.ts'
import { OWN_ONLY, getJson } from './sim-node.ts'

it('a child node that exits on its own is a crash with its log; a scheduled kill or stop is not', async (t) => {
  const node = await (await childNodes(t))(0)
  await node.start(null)
  await node.kill()
  await node.start(null)
  await node.stop()
  assert.equal(node.crashes.length, 0)
  assert.ok(noCrashes([]).ok)

  await node.start(null)
  process.kill(node.pid!, 'SIGKILL')
  while (node.up) await sleep(20)
  // The crash is recorded once its log tail has been read.
  while (node.crashes.length === 0) await sleep(20)
  assert.equal(node.crashes.length, 1)
  assert.equal(node.crashes[0]!.signal, 'SIGKILL')
  assert.match(node.crashes[0]!.logTail, /segmesh (peer id|multiaddr|public url)/)
  const check = noCrashes(node.crashes.map((c) => ({ node: 0, ...c })))
  assert.equal(check.ok, false)
  assert.match(check.violations[0]!, /^node 0 exited on its own \(SIGKILL\); its log ends: /)
  assert.doesNotMatch(check.violations[0]!, /\n/)
})

it("the simulation hook runs in the node's main thread only: the hash worker does not overwrite its counters", async (t) => {
  // NODE_OPTIONS reaches worker threads too: a second hook in the store's hash worker used to write
  // its own empty stats.json over the node's (and race it on the temp file until one thread threw).
  const childNode = await childNodes(t)
  const a = await childNode(0)
  const b = await childNode(1)
  await a.start(null)
  await b.start(a.multiaddr)
  const seg = synthesize({ quality: 'source', slot: 0, seed: 'hook', size: 50_000 }, hourStart(Date.now() * 1000) - MICROS_PER_HOUR)
  await a.write(seg)
  const { channel, quality, hour, file } = seg.ref
  for (;;) {
    const { body } = await getJson(`${b.url}/files/${channel}/${quality}/${hour}`, OWN_ONLY)
    if (Array.isArray(body) && body.includes(file)) break
    await sleep(50)
  }
  // B backfilled the segment, so its hash worker runs. Stats are written every 500 ms: wait for the
  // first that counts the fetch (however slow a busy machine makes it), then watch several.
  while ((await b.counters()).segmentsFetched === 0) await sleep(100)
  const seen: number[] = []
  for (let i = 0; i < 8; i++) {
    seen.push((await b.counters()).segmentsFetched)
    await sleep(300)
  }
  assert.ok(
    seen.every((n) => n === 1),
    `segmentsFetched over 2.4 s: ${seen.join(', ')}`
  )
  assert.equal(b.crashes.length, 0)
})
