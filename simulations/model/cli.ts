/**
 * The model from the command line:
 *
 *   node --import tsx --import ./node/compat.ts simulations/model/cli.ts --nodes N --seed S \
 *     [--scenario idle|partition-halves|announce|repair-cost] [--profile field|bench]
 *
 * `bench` runs as the real runs were made (for the check), `field` as one node per machine on a
 * WAN (the projection). Prints the figures as a table and, with --json, as one JSON line.
 */
import { parseArgs } from 'node:util'
import { announceBytes, helloBytes } from './sizes.ts'
import { runAnnounce } from './announce.ts'
import { runHeal } from './heal.ts'
import { runIdle } from './idle.ts'
import { BENCH, FIELD } from './profiles.ts'
import { WalkCosts, walkOnce } from './range-walk.ts'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
    scenario: { type: 'string', default: 'idle' },
    profile: { type: 'string', default: 'field' },
    json: { type: 'boolean', default: false }
  }
})
const nodes = Number(values.nodes)
const seed = Number(values.seed)
if (!Number.isSafeInteger(nodes) || nodes < 2) throw new Error('--nodes: an integer ≥ 2')
if (!Number.isSafeInteger(seed)) throw new Error('--seed: an integer')
const profile = values.profile === 'bench' ? BENCH : values.profile === 'field' ? FIELD : null
if (profile == null) throw new Error('--profile: bench or field')

function print(title: string, rows: Array<[string, string | number]>, raw: unknown): void {
  if (values.json === true) {
    console.log(JSON.stringify(raw))
    return
  }
  console.log(`${title} (${nodes} nodes, seed ${seed}, profile ${profile!.name})`)
  for (const [k, v] of rows) console.log(`  ${k.padEnd(44)} ${v}`)
}

const kbit = (bytesPerMinute: number): string => `${((bytesPerMinute * 8) / 60 / 1000).toFixed(2)} kbit/s`

switch (values.scenario) {
  case 'idle': {
    const r = runIdle({
      nodes,
      seed,
      costs: profile.costs,
      latency: profile.latency,
      roots: profile.idleRoots,
      joinGapUs: profile.joinGapUs,
      settleUs: profile.idleSettleUs,
      windowUs: profile.idleWindowUs
    })
    print(
      'idle',
      [
        [
          'libp2p bytes written per node per minute',
          `mean ${r.bytesPerNodeMinute.mean.toFixed(0)} B (${(r.bytesPerNodeMinute.mean / 1024).toFixed(2)} KiB)`
        ],
        [
          '  as a rate: mean / median / busiest node',
          `${kbit(r.bytesPerNodeMinute.mean)} / ${kbit(r.bytesPerNodeMinute.median)} / ${kbit(r.bytesPerNodeMinute.max)}`
        ],
        ['messages written per node per minute', r.messagesPerNodeMinute.toFixed(1)],
        ['hello exchanges asked per node per minute', r.hellosPerNodeMinute.toFixed(2)],
        ['CPU, % of a core: mean / busiest', `${r.cpuPercentOfCore.mean.toFixed(2)} / ${r.cpuPercentOfCore.max.toFixed(2)}`],
        [
          'connections per node min / median / max (mean)',
          `${r.connections.min} / ${r.connections.median} / ${r.connections.max} (${r.connections.mean.toFixed(1)})`
        ],
        ['known peers min / median / max', `${r.known.min} / ${r.known.median} / ${r.known.max}`],
        ['hello answer, 3 peers / 16 peers (B)', `${helloBytes(profile.idleRoots, 3)} / ${helloBytes(profile.idleRoots, 16)}`],
        ['model events / wall time', `${r.events} / ${r.wallMs} ms`]
      ],
      r
    )
    break
  }
  case 'announce': {
    const r = runAnnounce({ nodes, seed, profile })
    print(
      'announce',
      [
        ['name known after (ms): p50 / p99 / slowest', `${r.knownMs.p50} / ${r.knownMs.p99} / ${r.knownMs.max}`],
        ['nodes that never got it (all announcements)', r.missed],
        ['copies received per node per announcement', r.copiesPerNode.toFixed(2)],
        ['  of which duplicates', r.duplicatesPerNode.toFixed(2)],
        ['gossip bytes per node per announcement', `${r.bytesPerNodePerAnnouncement.toFixed(0)} B (message ${announceBytes(1)} B)`],
        ['mesh degree median / max', `${r.meshDegree.median} / ${r.meshDegree.max}`],
        ['wall time', `${r.wallMs} ms`]
      ],
      r
    )
    break
  }
  case 'partition-halves': {
    const h = profile.heal
    const walks = await WalkCosts.build(h.archive, profile.costs)
    const r = runHeal({ nodes, seed, costs: profile.costs, latency: profile.latency, walks, ...h, steadyUs: 60_000_000 })
    print(
      'partition-halves',
      [
        ['writes / tombstones in the fault phase', `${r.writes} / ${r.tombstones}`],
        ['names lacked at the heal (sum over nodes)', r.lackedAtHeal],
        [
          'convergence after the heal: min / median / p90 / max',
          r.lagMs == null
            ? `not within the timeout (${r.converged} converged)`
            : `${(r.lagMs.min / 1000).toFixed(1)} / ${(r.lagMs.median / 1000).toFixed(1)} / ${(r.lagMs.p90 / 1000).toFixed(1)} / ${(r.lagMs.max / 1000).toFixed(1)} s`
        ],
        ['repair sessions (walks), whole run', r.walks],
        ['walk requests / bytes', `${r.walkRequests} / ${(r.walkBytes / 1024).toFixed(0)} KiB`],
        ['spreads', r.spreads],
        ['downloads; request to stored median / p90', `${r.downloads}; ${r.downloadMs.median} / ${r.downloadMs.p90} ms`],
        ['first download after the heal, median node', `${r.firstDownloadAfterHealMs} ms`],
        ['CPU while converging (shared box)', r.cpuBusyPercent == null ? 'one machine per node' : `${r.cpuBusyPercent} %`],
        [
          'then 60 s idle: libp2p B/node/min; connections',
          r.steady == null
            ? '-'
            : `${r.steady.bytesPerNodeMinute} B (${(r.steady.bytesPerNodeMinute / 1024).toFixed(1)} KiB); median ${r.steady.connections.median}, max ${r.steady.connections.max}, mean ${r.steady.connections.mean.toFixed(1)}`
        ],
        ['model events / wall time', `${r.events} / ${r.wallMs} ms`]
      ],
      r
    )
    break
  }
  case 'repair-cost': {
    const rows: Array<[string, string | number]> = []
    const out: unknown[] = []
    for (const days of [14, 30]) {
      for (const d of [1, 10, 100, 1000]) {
        const w = await walkOnce({ windowHours: days * 24, namesPerHour: 1800, newestHourNames: 1800 }, profile.costs, d, 0)
        rows.push([
          `${days} days at 1,800 names/h, d = ${d}`,
          `${w.partRequests + w.nameRequests} requests, ${w.rounds} round trips, ${(w.bytes / 1024).toFixed(1)} KiB`
        ])
        out.push({ days, d, ...w })
      }
    }
    print('repair cost of one channel/quality differing by d names (range walk, bodies + headers)', rows, out)
    break
  }
  default:
    throw new Error('--scenario: idle, announce, partition-halves or repair-cost')
}
