/**
 * `npm run sim -- --nodes 20 --scenario partition-halves --seed 42` (and `--list`). Prints the
 * summary and the report folder; exits 1 when a checker failed.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Mode } from './cluster.ts'
import type { Topology } from './plan.ts'
import { SIM_DEFAULTS, runSimulation } from './runner.ts'
import { SCENARIOS, findScenario } from './scenarios.ts'

const REPORTS = fileURLToPath(new URL('./reports/', import.meta.url))

const HELP = `usage: npm run sim -- --scenario NAME [options]     (npm run sim -- --list)

  --scenario NAME         what to run (--list shows them)
  --nodes N               nodes (default ${SIM_DEFAULTS.nodes})
  --seed N                the same seed replays the same schedule (default ${SIM_DEFAULTS.seed})
  --mode M                in-process | child (default: child for scenarios that kill nodes)
  --warmup S              idle seconds between the mesh forming and the first step (default ${SIM_DEFAULTS.warmupSeconds})
  --duration S            fault phase, seconds (default ${SIM_DEFAULTS.durationSeconds})
  --writes-per-second X   over the whole network (default ${SIM_DEFAULTS.writesPerSecond})
  --tombstone-ratio X     share of writes followed by a tombstone (default ${SIM_DEFAULTS.tombstoneRatio})
  --segment-bytes N       mean synthetic segment size (default ${SIM_DEFAULTS.segmentBytes})
  --digest-interval S     the nodes' --digest-interval-seconds (default ${SIM_DEFAULTS.digestIntervalSeconds})
  --converge-timeout S    bound on convergence after the heal (default ${SIM_DEFAULTS.convergeTimeoutSeconds})
  --steady S              then measure S idle seconds of steady-state traffic (default 0)
  --out DIR               reports folder (default simulations/reports)
  --topology T            star (all join through node 0, default) | tree (each through a random earlier node)
  --keep                  keep the nodes' data folders
`

/** A bad command line: reported without a stack, exit 64. */
class UsageError extends Error {}

function number(name: string, raw: string | undefined, fallback: number): number {
  if (raw == null) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name}: '${raw}' is not a non-negative number`)
  return n
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' },
      nodes: { type: 'string' },
      seed: { type: 'string' },
      mode: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      'writes-per-second': { type: 'string' },
      'tombstone-ratio': { type: 'string' },
      'segment-bytes': { type: 'string' },
      'digest-interval': { type: 'string' },
      'converge-timeout': { type: 'string' },
      steady: { type: 'string' },
      out: { type: 'string' },
      keep: { type: 'boolean' },
      topology: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    console.log(HELP)
    return 0
  }
  if (values.list === true) {
    const width = Math.max(...SCENARIOS.map((s) => s.name.length))
    for (const s of SCENARIOS) console.log(`${s.name.padEnd(width)}  ${s.summary}${s.prefersChild === true ? ' [child processes]' : ''}`)
    return 0
  }
  if (values.scenario == null) {
    console.error(HELP)
    return 64
  }
  if (findScenario(values.scenario) == null) throw new UsageError(`unknown scenario '${values.scenario}' (npm run sim -- --list)`)
  if (values.mode != null && values.mode !== 'in-process' && values.mode !== 'child')
    throw new UsageError(`--mode: '${values.mode}' is not in-process or child`)
  if (values.topology != null && values.topology !== 'star' && values.topology !== 'tree')
    throw new UsageError(`--topology: '${values.topology}' is not star or tree`)
  const nodes = number('nodes', values.nodes, SIM_DEFAULTS.nodes)
  if (!Number.isInteger(nodes) || nodes < 2) throw new UsageError('--nodes: at least 2')
  const { report, dir } = await runSimulation({
    scenario: values.scenario,
    nodes,
    seed: number('seed', values.seed, SIM_DEFAULTS.seed),
    ...(values.mode != null ? { mode: values.mode as Mode } : {}),
    warmupSeconds: number('warmup', values.warmup, SIM_DEFAULTS.warmupSeconds),
    durationSeconds: number('duration', values.duration, SIM_DEFAULTS.durationSeconds),
    writesPerSecond: number('writes-per-second', values['writes-per-second'], SIM_DEFAULTS.writesPerSecond),
    tombstoneRatio: number('tombstone-ratio', values['tombstone-ratio'], SIM_DEFAULTS.tombstoneRatio),
    segmentBytes: number('segment-bytes', values['segment-bytes'], SIM_DEFAULTS.segmentBytes),
    digestIntervalSeconds: number('digest-interval', values['digest-interval'], SIM_DEFAULTS.digestIntervalSeconds),
    convergeTimeoutSeconds: number('converge-timeout', values['converge-timeout'], SIM_DEFAULTS.convergeTimeoutSeconds),
    steadySeconds: number('steady', values.steady, SIM_DEFAULTS.steadySeconds),
    outDir: values.out ?? REPORTS,
    keep: values.keep === true,
    ...(values.topology != null ? { topology: values.topology as Topology } : {})
  })
  console.log(await readFile(`${dir}/summary.md`, 'utf8'))
  console.log(`report: ${dir}/report.json`)
  return report.ok ? 0 : 1
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  const usage = err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
  console.error(`sim: ${usage ? (err as Error).message : ((err as Error).stack ?? String(err))}`)
  process.exitCode = usage ? 64 : 70
}
