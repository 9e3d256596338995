/**
 * Test-only: the simulation hook inside a child `bin/segmesh start`. It is loaded only through
 * NODE_OPTIONS set by simulations/child-node.ts and stays inert unless SEGSIM_DIR names the node's
 * simulation folder. There it:
 * - installs the probe (instrument.ts): every event of this process belongs to this one node,
 *   and gives the node the probe's hooks when it is created (the segmesh:node:create channel);
 * - applies `control.json` (partition side, gossip faults) whenever it changes, and confirms
 *   with `applied.json`; a restarted node reads it before its host exists, so it starts cut off;
 * - appends probe events to `events.jsonl` and writes `stats.json` (counters) every 500 ms.
 */
import '../../node/compat.ts'
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type NodeCreateMessage, nodeCreateChannel } from '../../lib/diagnostics.ts'
import type { NodeHooks } from '../../node/hooks.ts'
import type { SegmeshNode } from '../../node/segmesh-node.ts'
import { countersOf } from '../counters.ts'
import { installInstrumentation, watchPorts } from '../instrument.ts'
import { type GossipFaults, NodeProbe, setDefaultProbe } from '../probe.ts'

export interface Control {
  version: number
  blockedPeers: string[]
  blockedUrls: string[]
  gossip: GossipFaults
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text)
  renameSync(`${path}.tmp`, path)
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T
  } catch {
    return null
  }
}

function activate(dir: string): void {
  const node = Number(process.env.SEGSIM_NODE ?? 0)
  const probe = new NodeProbe(node, Number(process.env.SEGSIM_SEED ?? 0), (e) =>
    appendFileSync(join(dir, 'events.jsonl'), `${JSON.stringify(e)}\n`)
  )
  setDefaultProbe(probe)
  installInstrumentation()
  nodeCreateChannel.subscribe((message) => {
    const { node, hooks } = message as NodeCreateMessage<SegmeshNode, NodeHooks>
    probe.segmesh = node
    Object.assign(hooks, probe.hooks())
  })
  const cluster = readJson<{ p2pPorts: number[]; httpPorts: number[] }>(join(dir, '..', 'cluster.json'))
  for (const [i, p] of (cluster?.p2pPorts ?? []).entries()) watchPorts(p, cluster!.httpPorts[i]!)

  let applied = -1
  let busy = false
  const apply = async (): Promise<void> => {
    if (busy) return
    busy = true
    try {
      const control = readJson<Control>(join(dir, 'control.json'))
      if (control == null || control.version === applied) return
      probe.faults = control.gossip
      await probe.setBlocked(control.blockedPeers, control.blockedUrls)
      applied = control.version
      writeAtomic(join(dir, 'applied.json'), JSON.stringify({ version: applied }))
    } catch (err) {
      process.stderr.write(`segsim: could not apply control: ${String(err)}\n`)
    } finally {
      busy = false
    }
  }
  // The blocked sets are filled before apply's first await, so before the node builds its host.
  void apply()
  setInterval(() => {
    void apply()
  }, 50).unref()
  setInterval(() => {
    const { rss, heapUsed } = process.memoryUsage()
    writeAtomic(join(dir, 'stats.json'), JSON.stringify({ t: Date.now(), counters: countersOf(probe), memory: { rss, heapUsed } }))
  }, 500).unref()
}

const dir = process.env.SEGSIM_DIR
if (dir != null && dir !== '') activate(dir)
