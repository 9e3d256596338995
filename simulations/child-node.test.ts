import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { it } from 'node:test'
import { tempDir } from '../test/helpers/tree.ts'
import { noCrashes } from './checkers.ts'
import { ChildNode } from './child-node.ts'
import { freePorts } from './cluster.ts'

it('a child node that exits on its own is a crash with its log; a scheduled kill or stop is not', async (t) => {
  const dir = await tempDir(t, 'segmesh-child-node-')
  const [httpPort, p2pPort] = await freePorts(2) as [number, number]
  const node = new ChildNode({ id: 0, dir, httpPort, p2pPort, publicUrl: `http://127.0.0.1:${httpPort}`, digestIntervalSeconds: 2, seed: 1 })
  t.after(async () => await node.kill())

  await node.start(null)
  await node.kill()
  await node.start(null)
  await node.stop()
  assert.equal(node.crashes.length, 0)
  assert.ok(noCrashes([]).ok)

  await node.start(null)
  const pid = node.pid!
  process.kill(pid, 'SIGKILL')
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
