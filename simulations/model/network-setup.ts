/**
 * A network as the benches and simulations start one: node 0 first, every other node joining
 * through it (one bootstrap address, the "star" of docs/SIMULATIONS.md) at a fixed gap, each
 * node's push-pull rounds and redial timer running from its start.
 */
import type { Costs } from './costs.ts'
import { type Micros, US_PER_MS } from './events.ts'
import { Membership } from './membership.ts'
import { PushPull } from './pushpull.ts'
import { type LatencyModel, Network } from './topology.ts'

export interface SetupOptions {
  nodes: number
  seed: number
  costs: Costs
  latency: LatencyModel
  /** Channel/qualities whose roots ride in every hello (0 in the idle bench: nothing recorded). */
  roots: number
  /** Between two nodes' starts (the in-process bench: ~175 ms a node at 100 nodes). */
  joinGapUs?: Micros
}

export interface Setup {
  net: Network
  membership: Membership
  pushPull: PushPull
  /** When the last node started. */
  lastJoin: Micros
}

export function setUpNetwork(options: SetupOptions): Setup {
  const net = new Network({ nodes: options.nodes, seed: options.seed, costs: options.costs, latency: options.latency })
  const membership = new Membership(net)
  const pushPull = new PushPull(net, membership, options.roots)
  net.onConnect = (a, b) => pushPull.connected(a, b)
  const gap = options.joinGapUs ?? 175 * US_PER_MS
  for (let i = 0; i < options.nodes; i++) {
    net.queue.at(i * gap, () => {
      const node = net.nodes[i]!
      node.started = true
      if (i > 0) node.bootstrap = 0
      pushPull.start(i)
      membership.redialLoop(i)
      if (i > 0) net.dial(i, 0, () => {})
    })
  }
  return { net, membership, pushPull, lastJoin: (options.nodes - 1) * gap }
}
