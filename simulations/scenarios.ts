/**
 * The scenario catalogue. Each adds its faults to a PlanBuilder over the fault phase [0, D];
 * the runner then heals everything at D and measures convergence. Writes and tombstones run
 * through the whole phase on whichever nodes are up.
 */
import { GRUDGE_KINDS } from './grudge.ts'
import type { PlanBuilder } from './plan.ts'

export interface Scenario {
  name: string
  summary: string
  /** Needs real processes (SIGKILL). In one process a kill is an abrupt stop. */
  prefersChild?: boolean
  faults: (b: PlanBuilder) => void
}

const D = (b: PlanBuilder, share: number): number => b.durationMs * share

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'baseline',
    summary: 'no faults: writes and tombstones only (the cost of replication itself)',
    faults: () => {}
  },
  {
    name: 'partition-halves',
    summary: 'two random halves cut apart (libp2p and HTTP) for most of the run, then healed',
    faults: (b) => {
      b.partition('halves', D(b, 0.15), D(b, 1))
    }
  },
  {
    name: 'isolate-one',
    summary: 'one random node cut off from every other node, then healed',
    faults: (b) => {
      b.partition('isolate', D(b, 0.15), D(b, 1))
    }
  },
  {
    name: 'majorities-ring',
    summary: 'Jepsen majorities ring: every node sees a majority, no two the same one',
    faults: (b) => {
      b.partition('majorities-ring', D(b, 0.15), D(b, 1))
    }
  },
  {
    name: 'bridge',
    summary: 'two halves cut apart except for one node in the middle that reaches both',
    faults: (b) => {
      b.partition('bridge', D(b, 0.15), D(b, 1))
    }
  },
  {
    name: 'flapping',
    summary: 'a new random grudge (halves, isolate, ring, bridge) every few seconds, with short heals',
    faults: (b) => {
      const rng = b.rng.fork('flapping')
      const slice = b.durationMs / 6
      for (let i = 0; i < 5; i++) {
        const from = slice * (i + 0.3)
        b.partition(rng.pick(GRUDGE_KINDS), from, from + slice * 0.6)
      }
    }
  },
  {
    name: 'gossip-loss',
    summary: 'every node drops 40 % of received gossip: announcements get lost, digests must repair',
    faults: (b) => {
      b.add(0, { op: 'gossip', nodes: b.nodes, loss: 0.4, delayMs: 0 })
      b.add(D(b, 1), { op: 'gossip', nodes: b.nodes, loss: 0, delayMs: 0 })
    }
  },
  {
    name: 'latency',
    summary: 'gossip delayed 50–150 ms and every HTTP answer delayed 100 ms (proxies in front of every node)',
    faults: (b) => {
      for (const n of b.nodes) {
        b.proxy(n)
        b.add(0, { op: 'toxic', node: n, toxic: { latencyMs: 100 } })
        b.add(D(b, 1), { op: 'toxic', node: n, toxic: null })
      }
      b.add(0, { op: 'gossip', nodes: b.nodes, loss: 0, delayMs: 100 })
      b.add(D(b, 1), { op: 'gossip', nodes: b.nodes, loss: 0, delayMs: 0 })
    }
  },
  {
    name: 'slow-peer',
    summary: 'one node answers HTTP after 1 s at 16 KiB/s: peers must not wait on it for what others have',
    faults: (b) => {
      const slow = b.rng.fork('slow').pick(b.nodes)
      b.proxy(slow)
      b.add(0, { op: 'toxic', node: slow, toxic: { latencyMs: 1000, bytesPerSecond: 16 * 1024 } })
      b.add(D(b, 1), { op: 'toxic', node: slow, toxic: null })
    }
  },
  {
    name: 'lying-peer',
    summary: 'one node serves corrupted segment bytes: every copy must be refused by hash, taken elsewhere',
    faults: (b) => {
      const liar = b.rng.fork('liar').pick(b.nodes)
      b.proxy(liar)
      b.add(0, { op: 'toxic', node: liar, toxic: { corrupt: true } })
      b.add(D(b, 1), { op: 'toxic', node: liar, toxic: null })
    }
  },
  {
    name: 'sybil-flood',
    summary: 'a hostile peer relays digests signed by a fresh key each (200/s) through one connection to one node, with a lying URL',
    faults: (b) => {
      b.add(D(b, 0.1), { op: 'attack', node: b.rng.fork('sybil').pick(b.nodes), attack: 'sybil-flood' })
      b.add(D(b, 1), { op: 'end-attacks' })
    }
  },
  {
    name: 'slow-bodies',
    summary: 'three hostile peers announce names, then every segment written, and send bodies that never end',
    faults: (b) => {
      b.add(D(b, 0.1), { op: 'attack', node: b.rng.fork('slow-bodies').pick(b.nodes), attack: 'slow-bodies' })
      b.add(D(b, 1), { op: 'end-attacks' })
    }
  },
  {
    name: 'kill-restart',
    summary: 'SIGKILL random nodes while they write and fetch, restart them on the same ports and data',
    prefersChild: true,
    faults: (b) => {
      const rng = b.rng.fork('kills')
      const victims = rng.shuffle(b.nodes).slice(0, Math.max(2, Math.floor(b.nodes.length / 3)))
      for (const [i, v] of victims.entries()) {
        const at = D(b, 0.1 + (0.8 * i) / victims.length)
        b.add(at, { op: 'kill', node: v })
        // The last one stays down until the heal: its catch-up after a restart is what is measured.
        if (i < victims.length - 1) b.add(at + D(b, 0.1 + 0.1 * rng.next()), { op: 'restart', node: v })
      }
    }
  },
  {
    name: 'tombstone-split',
    summary: 'halves apart; each side tombstones and purges what the other still holds and re-announces',
    faults: (b) => {
      const rng = b.rng.fork('split')
      // Segments every node holds before the cut (the partition starts after they spread).
      const shared = Array.from({ length: 6 }, (_, i) => b.write(D(b, (0.02 * i) / 6), b.upNode(0, rng)!, rng))
      const { sides } = b.partition('halves', D(b, 0.2), D(b, 1))
      // Each side tombstones some of them (both sides one in common) and purges the bytes; the
      // other side keeps serving and listing them until the heal.
      for (const [i, side] of sides.entries()) {
        const targets = [shared[0]!, ...shared.slice(1 + i * 2, 3 + i * 2)]
        for (const [j, w] of targets.entries()) {
          const at = D(b, 0.3 + 0.1 * j)
          const by = rng.pick(side)
          b.add(at, { op: 'tombstone', node: by, write: w })
          b.add(at + 1, { op: 'purge', node: by })
        }
      }
    }
  },
  {
    name: 'mixed',
    summary: 'Jepsen-style random nemesis: grudges of every kind, gossip loss and kills, one after another',
    prefersChild: true,
    faults: (b) => {
      const rng = b.rng.fork('mixed')
      const slice = b.durationMs / 5
      for (let i = 0; i < 4; i++) {
        const from = slice * (i + 0.25)
        const to = from + slice * 0.7
        const what = rng.int(3)
        if (what === 0) b.partition(rng.pick(GRUDGE_KINDS), from, to)
        if (what === 1) {
          b.add(from, { op: 'gossip', nodes: b.nodes, loss: 0.5, delayMs: 50 })
          b.add(to, { op: 'gossip', nodes: b.nodes, loss: 0, delayMs: 0 })
        }
        if (what === 2) {
          const v = rng.pick(b.nodes)
          if (!b.downAt(from).has(v)) {
            b.add(from, { op: 'kill', node: v })
            b.add(to, { op: 'restart', node: v })
          }
        }
      }
    }
  }
]

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name)
}
