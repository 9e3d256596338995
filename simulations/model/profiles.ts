/**
 * The two settings the model runs in. `bench`: as the real runs were made (every node on this
 * 2-vCPU box; the idle bench in one process with nothing recorded; the partition runs as 20 child
 * processes sharing 2 cores), for the check against them. `field`: one node per machine on a WAN,
 * 8 channel/qualities recorded live, for the projection.
 */
import { type Costs, MEASURED, OWN_MACHINE } from './costs.ts'
import type { HealOptions } from './heal.ts'
import { type Micros, US_PER_MS, US_PER_S } from './events.ts'
import type { ArchiveShape } from './range-walk.ts'
import { LOOPBACK, type LatencyModel, WAN } from './topology.ts'

export interface Profile {
  name: 'bench' | 'field'
  costs: Costs
  latency: LatencyModel
  /** Channel/qualities held (roots in every hello). */
  idleRoots: number
  joinGapUs: Micros
  idleSettleUs: Micros
  idleWindowUs: Micros
  /** The heal scenario's settings (its options but the run's own), and the archive its walks are costed over. */
  heal: Omit<HealOptions, 'nodes' | 'seed' | 'costs' | 'latency' | 'walks' | 'faultUs' | 'joinGapUs'> & {
    archive: ArchiveShape
    joinGapUs: Micros
  }
}

export const BENCH: Profile = Object.freeze({
  name: 'bench',
  costs: MEASURED,
  latency: LOOPBACK,
  // bench/idle-traffic.ts records nothing: hellos carry no roots.
  idleRoots: 0,
  // Measured in the 100-node in-process run: 17.6 s for 99 joins.
  joinGapUs: 175 * US_PER_MS,
  idleSettleUs: 40 * US_PER_S,
  idleWindowUs: 60 * US_PER_S,
  heal: {
    // The simulator's runs: 2 qualities, 1 write/s (15 % tombstoned), 8 KiB segments, nothing older.
    keys: 2,
    archive: { windowHours: 336, namesPerHour: 0, newestHourNames: 40 },
    // 20 child processes on 2 cores, each idling at ~1.4 s of CPU a minute (docs/SIMULATIONS.md).
    cpu: { sharedCores: 2, baselineCoresPerNode: 1.4 / 60 },
    // Calibrated: run A-1 (docs/SIMULATIONS.md) kept 2 cores 90–94 % busy for ~9 s to move the
    // ~550 names the nodes lacked (~470 downloads, the rest tombstones): ~16.6 core-s, less the
    // idle baseline (20 × 1.4 s/min × 9 s ≈ 4 core-s), over ~500 downloads ≈ 25 ms each.
    downloadCpuUs: 25 * US_PER_MS,
    // Estimates (not measured): a range answer from the index and its HTTP exchange; noise + identify.
    rangeCpuUs: 5 * US_PER_MS,
    connectCpuUs: 10 * US_PER_MS,
    segmentBytes: 8192,
    linkBytesPerSecond: null,
    writesPerSecond: 1,
    tombstoneRatio: 0.15,
    recorders: null,
    // Child processes start slowly (tsx compiles each): about a second apiece.
    joinGapUs: 1 * US_PER_S
  }
})

export const FIELD: Profile = Object.freeze({
  name: 'field',
  costs: OWN_MACHINE,
  latency: WAN,
  idleRoots: 8,
  joinGapUs: 175 * US_PER_MS,
  // Long enough for the first rounds' 1, 2, 4 … s to reach the scaled interval everywhere.
  idleSettleUs: 600 * US_PER_S,
  idleWindowUs: 300 * US_PER_S,
  heal: {
    // docs/SIMULATIONS.md's projection: 4 channels × 2 qualities, 2 s segments of 800 KB, recorded
    // by 8 nodes: 4 new segments a second network-wide; the 14-day window at 1,800 names an hour.
    keys: 8,
    archive: { windowHours: 336, namesPerHour: 1800, newestHourNames: 1800 },
    cpu: { sharedCores: null, baselineCoresPerNode: 0 },
    // Assumed for a node alone on a machine: sha256 of 800 KB (~2 ms), HTTP both ends, index update.
    downloadCpuUs: 10 * US_PER_MS,
    rangeCpuUs: 2 * US_PER_MS,
    connectCpuUs: 5 * US_PER_MS,
    segmentBytes: 800_000,
    // 100 Mbit/s each way per node.
    linkBytesPerSecond: 12_500_000,
    writesPerSecond: 4,
    tombstoneRatio: 0.15,
    recorders: 8,
    joinGapUs: 175 * US_PER_MS
  }
})
