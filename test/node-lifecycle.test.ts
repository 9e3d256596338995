/**
 * The node's lifecycle (lib/lifecycle.ts): a start that fails halfway leaves nothing running, and
 * a started node stops every part.
 */
import assert from 'node:assert/strict'
import { isDeepStrictEqual } from 'node:util'
import { createServer, connect } from 'node:net'
import { describe, it } from 'node:test'
import pino from 'pino'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { tempDir } from './helpers/tree.ts'

/** Handles of the kinds a part leaves open (servers, sockets, timers), counted by kind. */
function openHandles(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const kind of process.getActiveResourcesInfo()) {
    if (/TCP|Timeout|Immediate|FSEvent|StatWatcher/.test(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  }
  return counts
}

async function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}

describe('the node lifecycle', () => {
  it('a part that fails to start (the p2p port is taken) leaves every earlier part stopped and no handle open', async (t) => {
    const dataDir = await tempDir(t)
    const squatter = createServer()
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve))
    const takenPort = (squatter.address() as { port: number }).port
    t.after(() => squatter.close())
    const before = openHandles()
    const config = resolveConfig({
      flags: {
        data: dataDir,
        'http-host': '127.0.0.1',
        'http-port': '0',
        'p2p-host': '127.0.0.1',
        'p2p-port': String(takenPort),
        watch: true
      }
    })
    const node = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
    await assert.rejects(node.start(), /EADDRINUSE|address already in use/i)
    // The HTTP listener had started (it comes before libp2p): it is closed again.
    assert.ok(await refused(node.url), `${node.url} still accepts connections`)
    // The index is closed: reading it throws, and the folder opens again.
    assert.throws(() => node.index.channels(), /not open/)
    const again = SegmentIndex.open(`${dataDir}/index`)
    assert.deepEqual(again.channels(), [])
    await again.stop()
    // Timers of libp2p's dials and the watcher's rescans are cleared; closes land within moments
    // (on a loaded box, an Immediate of a closing socket was seen still pending after 200 ms).
    const deadline = Date.now() + 3000
    while (!isDeepStrictEqual(openHandles(), before) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.deepEqual(openHandles(), before)
    // Stopping after the failed start is harmless (start-command.ts does it).
    await node.stop(0)
  })

  it('a started node stops every part: listener closed, index closed, no handle left', async (t) => {
    const dataDir = await tempDir(t)
    const before = openHandles()
    const config = resolveConfig({
      flags: {
        data: dataDir,
        'http-host': '127.0.0.1',
        'http-port': '0',
        'p2p-host': '127.0.0.1',
        'p2p-port': '0',
        watch: true,
        'retention-days': '30'
      }
    })
    const node = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
    await node.start()
    assert.ok(!(await refused(node.url)))
    await node.stop(1000)
    assert.ok(await refused(node.url))
    assert.throws(() => node.index.channels(), /not open/)
    // libp2p debounces one address update by 1 s (@libp2p/utils debounce): it runs once, then nothing is left.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    assert.deepEqual(openHandles(), before)
  })
})
