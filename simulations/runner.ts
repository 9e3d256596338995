/**
 * One simulation run: plan from the seed, start the nodes, wait for the mesh, run the fault phase
 * (writes, tombstones, nemesis), heal everything, measure convergence (and optionally a steady
 * state), read the final state over HTTP, stop the nodes, check their disks, run the checkers and
 * write the report with the plan, the history and the events beside it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { assembleReport } from './assemble.ts'
import {
  type Check,
  attribution,
  convergence,
  hashesMatch,
  indexEqualsDisk,
  noCrashes,
  noResurrection,
  nothingLost,
  nothingUnexpected,
  stepsSucceeded,
  tombstonesHold
} from './checkers.ts'
import { Cluster, MESH_PEERS, type Mode } from './cluster.ts'
import { awaitConvergence } from './converge.ts'
import { subtractCounters } from './counters.ts'
import { Executor } from './executor.ts'
import { type DiskState, type ServedState, diskState, servedState } from './final-state.ts'
import { History } from './history.ts'
import { installInstrumentation, outsideSockets, unattributed } from './instrument.ts'
import {
  type SocketReading,
  SocketSampler,
  cpuBetween,
  cpuSeconds,
  requestsAnswered,
  socketReadings,
  tcpSocketsOf,
  totals
} from './measure.ts'
import { type Plan, PlanBuilder, type Topology, fingerprint } from './plan.ts'
import { Rng } from './prng.ts'
import { expectedWithinReach } from './reach.ts'
import { type RateWindow, type RunReport, type SocketReport, rateWindow, socketsLine, spread, spreadLine, writeReport } from './report.ts'
import { type Scenario, findScenario } from './scenarios.ts'
import { NAME_KNOWN, newSegmentSpread } from './spread.ts'

export interface SimOptions {
  scenario: string
  nodes: number
  seed: number
  /** Default: child processes for scenarios that kill nodes, one process otherwise. */
  mode?: Mode
  /**
   * Idle time between the mesh being complete and the schedule's first step, s: without it the
   * first writes spread while every node still runs its first push-pulls and repairs.
   */
  warmupSeconds: number
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
  warmupSeconds: 0,
  durationSeconds: 20,
  writesPerSecond: 2,
  tombstoneRatio: 0.15,
  segmentBytes: 8192,
  digestIntervalSeconds: 5,
  convergeTimeoutSeconds: 60,
  steadySeconds: 0,
  keep: false
}

function modeFor(scenario: Scenario, options: SimOptions): Mode {
  return options.mode ?? (scenario.prefersChild === true ? 'child' : 'in-process')
}

function makePlan(scenario: Scenario, options: SimOptions): Plan {
  const builder = new PlanBuilder(options.nodes, options.durationSeconds * 1000, options, new Rng(options.seed))
  scenario.faults(builder)
  builder.workload()
  return builder.build(scenario.name, options.seed, options.topology ?? 'star')
}

async function retry<T>(job: () => Promise<T>, times: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await job()
    } catch (err) {
      if (i >= times) throw err
      await sleep(1000 * i)
    }
  }
}

/** How far behind each node is when the faults end, in all and from nodes it could still reach. */
async function behindAtHeal(
  cluster: Cluster,
  history: History,
  options: SimOptions
): Promise<{ missing: Array<number | null>; withinReach: Array<number | null> | null }> {
  const live = history.live()
  const dead = history.tombstoned()
  const held = await Promise.all(cluster.nodes.map(async (n) => (n.up ? await servedState(n, []).catch(() => null) : null)))
  const missing = held.map((s) =>
    s == null ? null : [...live].filter((p) => !s.visible.has(p)).length + [...dead].filter((p) => !s.tombstones.has(p)).length
  )
  // Settled: two digest periods and a few seconds for the fetches.
  const reach = expectedWithinReach(history, options.nodes, history.now(), options.digestIntervalSeconds * 2000 + 5000)
  const withinReach =
    reach == null
      ? null
      : held.map((s, i) =>
          s == null
            ? null
            : [...reach[i]!].filter((item) =>
                item.endsWith(' tombstone') ? !s.tombstones.has(item.slice(0, -10)) : !s.visible.has(item) && !s.tombstones.has(item)
              ).length
        )
  return { missing, withinReach }
}

/** Nodes cut off from an announcement topic's mesh for 10 s or more (sampled every 2 s), and the longest stretch. */
function meshEmpty(maxima: readonly number[]): { nodes: number[]; longestMs: number } {
  return { nodes: maxima.flatMap((ms, node) => (ms >= 10_000 ? [node] : [])), longestMs: Math.max(0, ...maxima) }
}

/** The sockets every node holds now, with the sampler's maxima (report.ts, SocketReport). */
async function socketsNow(
  cluster: Cluster,
  sampler: SocketSampler,
  mode: Mode,
  sampledAt: string
): Promise<{ report: SocketReport; each: Awaited<ReturnType<typeof socketReadings>> }> {
  const each = await socketReadings(cluster)
  sampler.note(each)
  const totals = each.map((r) => r.total).filter((t): t is number => t != null)
  const inProcess = mode === 'in-process'
  const pids = cluster.nodes.map((n) => n.pid).filter((p): p is number => p != null)
  const tcp = inProcess ? [await tcpSocketsOf(process.pid)] : await Promise.all(pids.map(async (p) => await tcpSocketsOf(p)))
  const kinds = each.map((r) => r.byKind).filter((k) => k != null)
  const maxima = each.map((r, i) => r.max ?? sampler.perNodeMax[i] ?? 0)
  const busiest = each.reduce<SocketReading | null>((b, r) => (r.max != null && r.max > (b?.max ?? -1) ? r : b), null)
  return {
    each,
    report: {
      sampledAt,
      perNode: spread(totals),
      perNodeMax: spread(maxima),
      total: totals.reduce((a, b) => a + b, 0),
      totalMax: sampler.processMax,
      busiestByKind: busiest?.maxByKind ?? null,
      byKind:
        kinds.length === 0
          ? null
          : {
              p2p: kinds.reduce((n, k) => n + k.p2p, 0),
              httpServed: kinds.reduce((n, k) => n + k.httpServed, 0),
              httpRequested: kinds.reduce((n, k) => n + k.httpRequested, 0)
            },
      processTcp: tcp.some((t) => t == null) ? null : tcp.reduce<number>((a, b) => a + (b ?? 0), 0),
      outsideNodes: inProcess ? outsideSockets() : null
    }
  }
}

export async function runSimulation(
  options: SimOptions,
  log: (line: string) => void = console.error
): Promise<{ report: RunReport; dir: string }> {
  const scenario = findScenario(options.scenario)
  if (scenario == null) throw new Error(`unknown scenario '${options.scenario}' (see --list)`)
  const mode = modeFor(scenario, options)
  if (mode === 'in-process') installInstrumentation()
  const plan = makePlan(scenario, options)
  const startedAt = new Date()
  const dir = join(options.outDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}-${scenario.name}-n${options.nodes}-s${options.seed}`)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'plan.json'), `${JSON.stringify(plan)}\n`)
  const root = await mkdtemp(join(tmpdir(), 'segmesh-sim-'))
  log(
    `${scenario.name}: ${options.nodes} nodes (${mode}), seed ${options.seed}, schedule ${fingerprint(plan)} with ${plan.steps.length} steps; scratch ${root}`
  )

  const history = new History()
  const cluster = await Cluster.create({ plan, mode, root, digestIntervalSeconds: options.digestIntervalSeconds, log })
  let executor: Executor | null = null
  let sampler: SocketSampler | null = null
  let loop: ReturnType<typeof monitorEventLoopDelay> | null = null
  try {
    const began = Date.now()
    await cluster.startAll()
    const setupMs = Date.now() - began
    const meshComplete = await cluster.waitForMesh(Math.max(30_000, options.digestIntervalSeconds * 6000))
    const meshMs = Date.now() - began - setupMs
    log(
      `started in ${setupMs} ms; every node knew ${Math.min(MESH_PEERS, options.nodes - 1)} others after ${meshMs} ms${meshComplete ? '' : ' (incomplete: went on anyway)'}`
    )
    if (options.warmupSeconds > 0) {
      log(`warming up for ${options.warmupSeconds} s`)
      await sleep(options.warmupSeconds * 1000)
    }

    // The previous hour: inside every node's window and its watcher's live hours.
    executor = new Executor(cluster, history, plan, hourStart(Date.now() * 1000) - MICROS_PER_HOUR)
    const before = await totals(cluster)
    const cpuBefore = await cpuSeconds(cluster)
    sampler = new SocketSampler(cluster, 2000)
    // In one process every node shares this event loop: how late it ran says how busy they kept it.
    loop = mode === 'in-process' ? monitorEventLoopDelay({ resolution: 20 }) : null
    loop?.enable()
    history.t0 = Date.now()
    await executor.run(plan.steps, log)
    const rest = plan.durationMs - history.now()
    if (rest > 0) await sleep(rest)
    const behind = await behindAtHeal(cluster, history, options)

    loop?.disable()
    const eventLoop =
      loop == null
        ? null
        : {
            p50Ms: Math.round(loop.percentile(50) / 1e6),
            p99Ms: Math.round(loop.percentile(99) / 1e6),
            maxMs: Math.round(loop.max / 1e6)
          }
    if (eventLoop != null)
      log(
        `event loop delay in the fault phase (all nodes share it; idle reads 20 ms): p50 ${eventLoop.p50Ms} ms, p99 ${eventLoop.p99Ms} ms, max ${eventLoop.maxMs} ms`
      )
    await cluster.healAll()
    history.healAt = history.now()
    const healWall = Date.now()
    const cpuAtHeal = await cpuSeconds(cluster)
    log(`fault phase over after ${history.healAt} ms; healed; waiting for convergence`)
    const boundMs = options.convergeTimeoutSeconds * 1000
    const lag = await awaitConvergence(cluster.nodes, history.expectedDigests(), healWall, boundMs, mode === 'child' ? 500 : 50)
    const cpuConverging = {
      seconds: cpuBetween(cpuAtHeal, await cpuSeconds(cluster)),
      wallSeconds: (Date.now() - healWall) / 1000,
      cores: availableParallelism()
    }
    const lags = [...lag.values()]
    log(
      lags.some((l) => l == null)
        ? `NOT converged within ${boundMs} ms`
        : `converged ${Math.max(0, ...(lags as number[]))} ms after the heal`
    )

    const after = await totals(cluster)
    const runSeconds = (Date.now() - history.t0) / 1000
    const windows: RateWindow[] = [
      rateWindow(
        'fault phase and convergence',
        subtractCounters(after.sum, before.sum),
        options.nodes,
        runSeconds,
        cpuBetween(cpuBefore, await cpuSeconds(cluster))
      )
    ]
    if (options.steadySeconds > 0) {
      log(`measuring ${options.steadySeconds} s of steady state`)
      const [s0, c0] = [await totals(cluster), await cpuSeconds(cluster)]
      await sleep(options.steadySeconds * 1000)
      const s1 = await totals(cluster)
      windows.push(
        rateWindow(
          'steady state, no writes',
          subtractCounters(s1.sum, s0.sum),
          options.nodes,
          options.steadySeconds,
          cpuBetween(c0, await cpuSeconds(cluster))
        )
      )
    }
    const final = await totals(cluster)
    const memory = await Promise.all(cluster.nodes.map(async (n) => await n.memory()))
    const sockets = await socketsNow(cluster, sampler, mode, options.steadySeconds > 0 ? 'end of the steady window' : 'end of convergence')
    sampler.stop()
    log(`TCP sockets: ${socketsLine(sockets.report)}`)

    const tombstoned = history.tombstoned()
    // One node at a time with retries: an overloaded machine answers slowly, not wrongly.
    const served: ServedState[] = []
    for (const n of cluster.nodes) served.push(await retry(async () => await servedState(n, tombstoned), 3))
    const events = (await Promise.all(cluster.nodes.map(async (n) => await n.events()))).flat().sort((a, b) => a.t - b.t)
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
      hashesMatch(disks),
      noCrashes(cluster.nodes.flatMap((n) => n.crashes.map((c) => ({ node: n.id, ...c })))),
      stepsSucceeded(history.ops)
    ]
    // In one process the history is only complete if every event found its node.
    if (mode === 'in-process') checks.push(attribution(unattributed))

    const assembled = assembleReport({
      scenario,
      plan,
      options: { ...options, mode },
      mode,
      startedAt,
      history,
      setupMs,
      meshMs,
      meshComplete,
      boundMs,
      lags,
      cpuConverging,
      missingAtHeal: behind.missing,
      missingWithinReach: behind.withinReach,
      windows,
      final,
      memory,
      urls: cluster.nodes.map((n) => n.publicUrl),
      answered: requestsAnswered(cluster, events),
      events,
      checks
    })
    const newSegments = newSegmentSpread(history, events, options.nodes)
    const newNames = newSegmentSpread(history, events, options.nodes, NAME_KNOWN)
    log(`a new segment on every node: ${spreadLine(newSegments)}`)
    log(`its name known on every node: ${spreadLine(newNames)}`)
    const report: RunReport = {
      ...assembled,
      sockets: sockets.report,
      newSegmentSpread: newSegments,
      newNameSpread: newNames,
      ...(sampler == null ? {} : { meshEmpty: meshEmpty(sampler.meshEmptyMaxMs) }),
      ...(eventLoop == null ? {} : { eventLoopDelayMs: eventLoop }),
      perNode: assembled.perNode.map((row, i) => ({
        ...row,
        sockets: sockets.each[i]?.total ?? null,
        socketsByKind: sockets.each[i]?.byKind ?? null,
        socketsMax: sockets.each[i]?.max ?? sampler?.perNodeMax[i] ?? null,
        socketsMaxByKind: sockets.each[i]?.maxByKind ?? null,
        meshEmptyMaxMs: sampler?.meshEmptyMaxMs[i] ?? null
      }))
    }
    await writeFile(
      join(dir, 'history.json'),
      `${JSON.stringify({ t0: history.t0, healAt: history.healAt, ops: history.ops, writes: [...history.writes.values()], tombstones: history.tombstones })}\n`
    )
    await writeFile(join(dir, 'events.jsonl'), `${events.map((e) => JSON.stringify(e)).join('\n')}\n`)
    await writeReport(report, dir)
    return { report, dir }
  } finally {
    sampler?.stop()
    loop?.disable()
    await executor?.endAttacks(log)
    await cluster.close()
    if (!options.keep) await rm(root, { recursive: true, force: true })
    else log(`kept node folders in ${root}`)
  }
}
