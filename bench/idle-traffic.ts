/**
 * What an idle network costs each node: libp2p bytes written per node per minute once N nodes
 * (in one process, joined through one bootstrap) have settled and nothing is recorded. Each
 * variant is a fresh network; variants alternate round by round, so the machine's noise falls on
 * both. The baseline is libp2p's own connection-monitor ping interval (10 s) against ours.
 *
 *   node --import tsx --import ./node/compat.ts bench/idle-traffic.ts [--quick]
 *   IDLE_NODES=50 … (default 20; 8 with --quick); IDLE_ROUNDS=1 … (default 2)
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { P2P_DEFAULTS } from '../replication/host-defaults.ts'
import { QUICK, machineInfo, table } from './common.ts'
import { Cluster, WireCounter } from './replication-net.ts'

const NODES = Number(process.env.IDLE_NODES ?? (QUICK ? 8 : 20))
/** After the last node joined: peer exchange, kept-peer choice and the first push-pull rounds. */
const SETTLE_S = QUICK ? 20 : 40
const WINDOW_S = QUICK ? 30 : 60
const ROUNDS = Number(process.env.IDLE_ROUNDS ?? (QUICK ? 1 : 2))

const VARIANTS: ReadonlyArray<{ label: string; pingSeconds: number }> = [
  { label: "libp2p's ping interval (10 s)", pingSeconds: 10 },
  { label: `segmesh's (${P2P_DEFAULTS.pingIntervalMs / 1000} s)`, pingSeconds: P2P_DEFAULTS.pingIntervalMs / 1000 }
]

interface Run {
  bytesPerNodeMinute: number
  connections: number[]
  hellosPerNodeMinute: number
}

/** One counter for the whole process (its socket subscriptions stay); each run reads its own difference. */
const wire = new WireCounter().install()

async function idleRun(pingSeconds: number): Promise<Run> {
  const cluster = new Cluster('idle-')
  try {
    const flags = { 'p2p-ping-seconds': String(pingSeconds) }
    const first = await cluster.start({ flags })
    wire.watch(first)
    for (let i = 1; i < NODES; i++) wire.watch(await cluster.start({ bootstrap: [first], flags }))
    await sleep(SETTLE_S * 1000)
    const before = wire.snapshot().p2p
    const hellos = (): number => cluster.nodes.reduce((sum, n) => sum + n.replicator!.stats.digestsCompared, 0)
    const hellosBefore = hellos()
    await sleep(WINDOW_S * 1000)
    const minutes = WINDOW_S / 60
    return {
      bytesPerNodeMinute: (wire.snapshot().p2p - before) / NODES / minutes,
      connections: cluster.nodes.map((n) => n.host!.connectedPeers().length).sort((a, b) => a - b),
      hellosPerNodeMinute: (hellos() - hellosBefore) / NODES / minutes
    }
  } finally {
    await cluster.stopAll()
  }
}

console.log(`idle traffic: ${NODES} nodes in one process, ${SETTLE_S} s to settle, then ${WINDOW_S} s measured; ${machineInfo()}`)
const runs = new Map<string, Run[]>(VARIANTS.map((v) => [v.label, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const v of VARIANTS) {
    const run = await idleRun(v.pingSeconds)
    runs.get(v.label)!.push(run)
    console.log(`  round ${round + 1} ${v.label.padEnd(32)} ${Math.round(run.bytesPerNodeMinute)} B/node/min`)
  }
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
const baseline = mean(runs.get(VARIANTS[0]!.label)!.map((r) => r.bytesPerNodeMinute))
console.log(
  table(
    ['variant', 'idle libp2p B/node/min', '÷ baseline', 'connections per node (min / median / max)', 'hello exchanges per node per min'],
    VARIANTS.map((v) => {
      const rs = runs.get(v.label)!
      const bytes = mean(rs.map((r) => r.bytesPerNodeMinute))
      const conns = rs.at(-1)!.connections
      return [
        v.label,
        `${(bytes / 1024).toFixed(1)} KiB`,
        `${(bytes / baseline).toFixed(2)}×`,
        `${conns[0]} / ${conns[Math.floor(conns.length / 2)]} / ${conns.at(-1)}`,
        mean(rs.map((r) => r.hellosPerNodeMinute)).toFixed(1)
      ]
    })
  )
)
process.exit(0)
