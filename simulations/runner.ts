/**
 * One simulation run: plan from the seed, start the nodes, wait for the mesh, run the fault phase
 * (writes, tombstones, nemesis), heal everything, measure convergence, read the final state over
 * HTTP, stop the nodes, check their disks, run the checkers and write the report.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import {
  type Check, attribution, convergence, hashesMatch, indexEqualsDisk, noResurrection, nothingLost, nothingUnexpected, tombstonesHold
} from './checkers.ts'
import { Cluster, type Mode } from './cluster.ts'
import { awaitConvergence } from './converge.ts'
import { type NodeCounters, subtractCounters } from './counters.ts'
import { Executor } from './executor.ts'
import { type DiskState, type ServedState, diskState, servedState } from './final-state.ts'
import { History } from './history.ts'
import { installInstrumentation, unattributed } from './instrument.ts'
import { PlanBuilder, type Topology, fingerprint } from './plan.ts'
import { Rng } from './prng.ts'
import { expectedWithinReach } from './reach.ts'
import { type RunReport, fetchStats, rateWindow, spread, sumCounters, writeReport } from './report.ts'
import { type Scenario, findScenario } from './scenarios.ts'

export interface SimOptions {
  scenario: string
  nodes: number
  seed: number
  /** Default: child processes for scenarios that kill nodes, one process otherwise. */
  mode?: Mode
  /** Length of the fault phase, s. */
  durationSeconds: number
  writesPerSecond: number
  tombstoneRatio: number
  segmentBytes: number
  digestIntervalSeconds: number
  convergeTimeoutSeconds: number
  /** Idle time after convergence, measured on its own (steady-state message rates). */
  steadySeconds: number
  /** Reports go into a new folder under this one. */
  outDir: string
  /** Keep the nodes' data folders. */
  keep: boolean
  /** How nodes bootstrap: all through node 0 (star), or each through a random earlier node. */
  topology?: Topology
}

export const SIM_DEFAULTS: Omit<SimOptions, 'scenario' | 'outDir'> = {
  nodes: 5,
  seed: 1,
  durationSeconds: 20,
  writesPerSecond: 2,
  tombstoneRatio: 0.15,
  segmentBytes: 8192,
  digestIntervalSeconds: 5,
  convergeTimeoutSeconds: 60,
  steadySeconds: 0,
  keep: false
}

async function totals (cluster: Cluster): Promise<{ sum: NodeCounters, each: NodeCounters[] }> {
  const each = await Promise.all(cluster.nodes.map(async (n) => await n.counters()))
  return { sum: sumCounters(each), each }
}

/** CPU seconds used so far: this process's in one process, else each child's (a restart resets it). */
async function cpuSeconds (cluster: Cluster): Promise<number[]> {
  const each = await Promise.all(cluster.nodes.map(async (n) => await n.cpuSeconds()))
  if (each.every((c) => c == null)) {
    const { user, system } = process.cpuUsage()
    return [(user + system) / 1e6]
  }
  return each.map((c) => c ?? 0)
}

/** CPU used between two cpuSeconds() readings (a process that restarted counts from 0). */
function cpuBetween (a: number[], b: number[]): number {
  return b.reduce((sum, x, i) => sum + (x >= (a[i] ?? 0) ? x - (a[i] ?? 0) : x), 0)
}

const round2 = (x: number): number => Math.round(x * 100) / 100

async function retry<T> (job: () => Promise<T>, times: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await job()
    } catch (err) {
      if (i >= times) throw err
      await sleep(1000 * i)
    }
  }
}

function modeFor (scenario: Scenario, options: SimOptions): Mode {
  return options.mode ?? (scenario.prefersChild === true ? 'child' : 'in-process')
}

export async function runSimulation (options: SimOptions, log: (line: string) => void = console.error): Promise<{ report: RunReport, dir: string }> {
  const scenario = findScenario(options.scenario)
  if (scenario == null) throw new Error(`unknown scenario '${options.scenario}' (see --list)`)
  const mode = modeFor(scenario, options)
  if (mode === 'in-process') installInstrumentation()

  const builder = new PlanBuilder(options.nodes, options.durationSeconds * 1000, options, new Rng(options.seed))
  scenario.faults(builder)
  builder.workload()
  const plan = builder.build(scenario.name, options.seed, options.topology ?? 'star')
  const startedAt = new Date()
  const dir = join(options.outDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}-${scenario.name}-n${options.nodes}-s${options.seed}`)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'plan.json'), `${JSON.stringify(plan)}\n`)
  const root = await mkdtemp(join(tmpdir(), 'segmesh-sim-'))
  log(`${scenario.name}: ${options.nodes} nodes (${mode}), seed ${options.seed}, schedule ${fingerprint(plan)} with ${plan.steps.length} steps; scratch ${root}`)

  const history = new History()
  const cluster = await Cluster.create({ plan, mode, root, digestIntervalSeconds: options.digestIntervalSeconds, log })
  try {
    const began = Date.now()
    await cluster.startAll()
    const setupMs = Date.now() - began
    const meshComplete = await cluster.waitForMesh(Math.max(30_000, options.digestIntervalSeconds * 6000))
    const meshMs = Date.now() - began - setupMs
    log(`started in ${setupMs} ms; every node knew every other after ${meshMs} ms${meshComplete ? '' : ' (incomplete: went on anyway)'}`)

    // The previous hour: inside every node's window and its watcher's live hours.
    const executor = new Executor(cluster, history, plan, hourStart(Date.now() * 1000) - MICROS_PER_HOUR)
    const before = await totals(cluster)
    const cpuBefore = await cpuSeconds(cluster)
    history.t0 = Date.now()
    await executor.run(plan.steps, log)
    const rest = plan.durationMs - history.now()
    if (rest > 0) await sleep(rest)
    // How far behind each node is when the faults end (what convergence has to make up).
    const live = history.live()
    const dead = history.tombstoned()
    const atHeal = await Promise.all(cluster.nodes.map(async (n) => n.up ? await servedState(n, []).catch(() => null) : null))
    const missingAtHeal = atHeal.map((s) => s == null ? null : [...live].filter((p) => !s.visible.has(p)).length + [...dead].filter((p) => !s.tombstones.has(p)).length)
    // Settled: two digest periods and a few seconds for the fetches.
    const reach = expectedWithinReach(history, options.nodes, history.now(), options.digestIntervalSeconds * 2000 + 5000)
    const missingWithinReach = reach == null
      ? null
      : atHeal.map((s, i) => s == null ? null : [...reach[i]!].filter((item) => item.endsWith(' tombstone') ? !s.tombstones.has(item.slice(0, -10)) : !s.visible.has(item) && !s.tombstones.has(item)).length)
    await cluster.healAll()
    history.healAt = history.now()
    const healWall = Date.now()
    const cpuAtHeal = await cpuSeconds(cluster)
    log(`fault phase over after ${history.healAt} ms; healed; waiting for convergence`)
    const boundMs = options.convergeTimeoutSeconds * 1000
    const lag = await awaitConvergence(cluster.nodes, history.expectedDigests(), healWall, boundMs, mode === 'child' ? 500 : 50)
    const cpuConverging = { seconds: cpuBetween(cpuAtHeal, await cpuSeconds(cluster)), wallSeconds: (Date.now() - healWall) / 1000, cores: availableParallelism() }
    const lags = [...lag.values()]
    const convergedAfterMs = lags.every((l) => l != null) ? Math.max(0, ...lags as number[]) : null
    log(convergedAfterMs == null ? `NOT converged within ${boundMs} ms` : `converged ${convergedAfterMs} ms after the heal`)
    const after = await totals(cluster)
    const runSeconds = (Date.now() - history.t0) / 1000
    const windows = [rateWindow('fault phase and convergence', subtractCounters(after.sum, before.sum), options.nodes, runSeconds, cpuBetween(cpuBefore, await cpuSeconds(cluster)))]
    if (options.steadySeconds > 0) {
      log(`measuring ${options.steadySeconds} s of steady state`)
      const s0 = await totals(cluster)
      const c0 = await cpuSeconds(cluster)
      await sleep(options.steadySeconds * 1000)
      const s1 = await totals(cluster)
      windows.push(rateWindow('steady state, no writes', subtractCounters(s1.sum, s0.sum), options.nodes, options.steadySeconds, cpuBetween(c0, await cpuSeconds(cluster))))
    }
    const final = await totals(cluster)
    const rss = await Promise.all(cluster.nodes.map(async (n) => await n.memory()))
    const memory = process.memoryUsage()

    const tombstoned = history.tombstoned()
    // A few at a time with retries: an overloaded machine answers slowly, not wrongly.
    const served: ServedState[] = []
    for (const n of cluster.nodes) served.push(await retry(async () => await servedState(n, tombstoned), 3))
    const events = (await Promise.all(cluster.nodes.map(async (n) => await n.events()))).flat()
    await cluster.stopAll()
    const disks: DiskState[] = []
    for (const n of cluster.nodes) disks.push(await diskState(n))

    const checks: Check[] = [
      convergence(lag, boundMs),
      nothingLost(history.live(), served),
      nothingUnexpected(history.attempted(), served),
      tombstonesHold(tombstoned, served),
      noResurrection(events),
      indexEqualsDisk(disks),
      hashesMatch(disks)
    ]
    // In one process the history is only complete if every event found its node.
    if (mode === 'in-process') checks.push(attribution(unattributed))
    const fetched = fetchStats(events)
    // Who answered the segment requests: a recorder every node fetches from carries the fan-out.
    const nodeOf = new Map(cluster.nodes.map((n) => [new URL(n.publicUrl).origin, n.id]))
    const answered = cluster.nodes.map(() => 0)
    for (const e of events) {
      const id = e.type === 'fetch-request' && e.peer != null ? nodeOf.get(new URL(e.peer).origin) : undefined
      if (id != null) answered[id]!++
    }
    const t = final.sum
    const report: RunReport = {
      scenario: scenario.name,
      summary: scenario.summary,
      seed: options.seed,
      mode,
      nodes: options.nodes,
      fingerprint: fingerprint(plan),
      startedAt: startedAt.toISOString(),
      options: { ...options, mode },
      ok: checks.every((c) => c.ok),
      timings: { setupMs, meshMs, meshComplete, faultPhaseMs: plan.durationMs, healAtMs: history.healAt, convergedAfterMs },
      convergence: {
        boundMs,
        cpu: { seconds: round2(cpuConverging.seconds), wallSeconds: round2(cpuConverging.wallSeconds), cores: cpuConverging.cores },
        missingAtHeal: missingAtHeal.reduce<number>((n, m) => n + (m ?? 0), 0),
        nodesBehindAtHeal: missingAtHeal.filter((m) => m !== 0).length,
        missingWithinReachAtHeal: missingWithinReach == null ? null : missingWithinReach.reduce<number>((n, m) => n + (m ?? 0), 0),
        lagMs: spread(lags.filter((l): l is number => l != null)), perNodeLagMs: lags },
      workload: {
        writes: history.writes.size,
        writesAcked: history.written().size,
        tombstones: history.tombstones.length,
        tombstonesAcked: tombstoned.size,
        purges: history.ops.filter((o) => o.op.op === 'purge').length,
        bytesWritten: [...history.writes.values()].reduce((n, w) => n + w.bytes, 0),
        live: history.live().size,
        failedOps: history.ops.filter((o) => !o.ok).length
      },
      traffic: {
        gossipOut: t.gossipOut,
        gossipIn: t.gossipIn,
        gossipBytesOut: t.gossipBytesOut,
        gossipBytesIn: t.gossipInBytes,
        gossipDropped: t.gossipDropped,
        announcedItems: t.announcedItems,
        digestsCompared: t.digestsCompared,
        repairs: t.repairs,
        repairErrors: t.repairErrors,
        segmentsFetched: t.segmentsFetched,
        bytesFetched: t.bytesFetched,
        duplicateRequests: fetched.duplicateRequests,
        duplicateStores: fetched.duplicateStores,
        refusedAfterTombstone: fetched.refused,
        segmentRequestsServed: spread(answered) ?? { min: 0, median: 0, max: 0 },
        hashMismatches: t.hashMismatches,
        itemsFailed: t.itemsFailed,
        fetchErrors: t.fetchErrors,
        http: t.http,
        wire: t.wire
      },
      rates: windows,
      sizes: {
        digestMessage: Math.round(t.gossipInDigestBytes / Math.max(1, t.gossipInDigests)),
        announceMessage: Math.round((t.gossipInBytes - t.gossipInDigestBytes) / Math.max(1, t.gossipIn - t.gossipInDigests)),
        digestsBody: Math.round(t.http.digests.bytes / Math.max(1, t.http.digests.requests)),
        listingBody: Math.round(t.http.listing.bytes / Math.max(1, t.http.listing.requests))
      },
      memory: {
        perNodeRssBytes: spread(rss.map((m) => m?.rss).filter((r): r is number => r != null)),
        perNodeHeapUsedBytes: spread(rss.map((m) => m?.heapUsed).filter((r): r is number => r != null)),
        processRssBytes: memory.rss,
        processHeapUsedBytes: memory.heapUsed
      },
      connections: spread(final.each.map((c) => c.connections)) ?? { min: 0, median: 0, max: 0 },
      perNode: cluster.nodes.map((n, i) => ({
        node: n.id,
        url: n.publicUrl,
        lagMs: lags[i] ?? null,
        missingAtHeal: missingAtHeal[i] ?? null,
        missingWithinReachAtHeal: missingWithinReach?.[i] ?? null,
        segmentsFetched: final.each[i]!.segmentsFetched,
        bytesFetched: final.each[i]!.bytesFetched,
        gossipOut: final.each[i]!.gossipOut,
        gossipIn: final.each[i]!.gossipIn,
        repairs: final.each[i]!.repairs,
        segmentRequestsServed: answered[i] ?? 0,
        connections: final.each[i]!.connections,
        peersKnown: final.each[i]!.peersKnown,
        rssBytes: rss[i]?.rss ?? null
      })),
      checks: checks.map((c) => ({ ...c, count: c.violations.length, violations: c.violations.slice(0, 20) }))
    }
    await writeFile(join(dir, 'history.json'), `${JSON.stringify({ t0: history.t0, healAt: history.healAt, ops: history.ops, writes: [...history.writes.values()], tombstones: history.tombstones })}\n`)
    await writeFile(join(dir, 'events.jsonl'), events.sort((a, b) => a.t - b.t).map((e) => JSON.stringify(e)).join('\n') + '\n')
    await writeReport(report, dir)
    return { report, dir }
  } finally {
    await cluster.close()
    if (!options.keep) await rm(root, { recursive: true, force: true })
    else log(`kept node folders in ${root}`)
  }
}

