/** Shared bench helpers: machine info, bounded timing loops, stats, memory and temp folders. */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { cpus, totalmem, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Rng } from '../simulations/prng.ts'

/** `--quick` or SEGMESH_BENCH_QUICK=1: a small run for smoke-testing. */
export const QUICK = process.argv.includes('--quick') || process.env.SEGMESH_BENCH_QUICK === '1'

/** A child's machine-readable results: one line with this prefix, JSON after it. */
export const RESULT_PREFIX = 'BENCH-RESULT '

export function machineInfo(): string {
  const cpu = cpus()
  return [
    `date     ${new Date().toISOString()}`,
    `cpu      ${cpu[0]?.model ?? 'unknown'} × ${cpu.length}`,
    `memory   ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `node     ${process.version} (${process.platform} ${process.arch})`,
    `tmpdir   ${tmpdir()}`,
    `mode     ${QUICK ? 'quick (smoke test; figures are not comparable)' : 'full'}`
  ].join('\n')
}

export interface Stats {
  n: number
  median: number
  p95: number
  min: number
  max: number
  mean: number
}

export function stats(samples: readonly number[]): Stats {
  if (samples.length === 0) return { n: 0, median: Number.NaN, p95: Number.NaN, min: Number.NaN, max: Number.NaN, mean: Number.NaN }
  const s = [...samples].sort((a, b) => a - b)
  // Nearest-rank percentiles: with few samples p95 is simply the largest but one or the largest.
  const rank = (p: number): number => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!
  return { n: s.length, median: rank(0.5), p95: rank(0.95), min: s[0]!, max: s.at(-1)!, mean: s.reduce((a, b) => a + b, 0) / s.length }
}

export interface Case {
  name: string
  run: () => unknown
}

export interface LoopLimits {
  /** Untimed rounds first (JIT, page cache). */
  warmup?: number
  /** Stop after this many timed rounds… */
  iterations: number
  /** …or once this much time has gone, whichever comes first (at least `minIterations` rounds). */
  maxMs: number
  minIterations?: number
}

/**
 * Time several cases round-robin: on a shared, noisy machine a slow spell then hits every case
 * alike, so their ratio stays meaningful even when the absolute figures wobble.
 */
export async function interleaved(cases: readonly Case[], limits: LoopLimits): Promise<Map<string, Stats>> {
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]))
  for (let i = 0; i < (limits.warmup ?? 2); i++) for (const c of cases) await c.run()
  const began = performance.now()
  const minIterations = limits.minIterations ?? 5
  for (let i = 0; i < limits.iterations; i++) {
    if (i >= minIterations && performance.now() - began > limits.maxMs) break
    for (const c of cases) {
      const t = performance.now()
      await c.run()
      samples.get(c.name)!.push(performance.now() - t)
    }
  }
  return new Map([...samples].map(([name, s]) => [name, stats(s)]))
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  return value >= 100 ? `${value.toFixed(0)} ms` : value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(2)} ms`
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
}

export function ratio(baseline: number, measured: number): string {
  return `${(baseline / measured).toFixed(1)}×`
}

/** A fixed-width text table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** Seeded PRNG: the same data every run. */
export function prng(seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.next()
}

/** /proc/self/status fields in bytes (Linux only; empty elsewhere). */
export function procStatus(): { vmHWM?: number; vmRSS?: number; rssAnon?: number; rssFile?: number } {
  let text: string
  try {
    text = readFileSync('/proc/self/status', 'utf8')
  } catch {
    return {}
  }
  const field = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)
    return m == null ? undefined : Number(m[1]) * 1024
  }
  return { vmHWM: field('VmHWM'), vmRSS: field('VmRSS'), rssAnon: field('RssAnon'), rssFile: field('RssFile') }
}

/**
 * Samples process.memoryUsage().rss on a timer. It only runs while the event loop turns, so
 * long synchronous stretches are caught by VmHWM (the kernel's peak) instead.
 */
export class RssSampler {
  peak = process.memoryUsage().rss
  #timer: NodeJS.Timeout | null = null

  start(everyMs = 25): this {
    this.#timer = setInterval(() => this.sample(), everyMs)
    this.#timer.unref()
    return this
  }

  sample(): void {
    const rss = process.memoryUsage().rss
    if (rss > this.peak) this.peak = rss
  }

  stop(): number {
    if (this.#timer != null) clearInterval(this.#timer)
    this.sample()
    return this.peak
  }
}

/** A full GC without restarting node under --expose-gc, for heap-size figures. */
export function forceGc(): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/** Removes `dir` when the process ends, even on Ctrl-C or an uncaught error. */
export function cleanupOnExit(dir: string): void {
  const clean = (): void => removeDir(dir)
  process.once('exit', clean)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      clean()
      process.exit(130)
    })
  }
}

/** Bytes a folder takes: apparent size (st_size) and allocated blocks (LMDB files are sparse). */
export function diskUsage(dir: string): { apparent: number; allocated: number } {
  let apparent = 0
  let allocated = 0
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue
    const st = statSync(join(e.parentPath, e.name))
    apparent += st.size
    allocated += st.blocks * 512
  }
  return { apparent, allocated }
}

/**
 * Run a bench script in a child process with extra arguments, passing the node flags through
 * (tsx, compat). Its output is echoed as it comes; resolves to its result line, parsed.
 */
export async function runPart<T>(script: string, args: readonly string[], timeoutMs: number): Promise<T> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args, ...(QUICK ? ['--quick'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: timeoutMs,
    killSignal: 'SIGTERM'
  })
  let result: T | undefined
  const lines = createInterface({ input: child.stdout })
  lines.on('line', (line) => {
    if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length)) as T
    else console.log(line)
  })
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null]
  if (code !== 0 || result == null) throw new Error(`${script} ${args.join(' ')} failed (exit ${code}, signal ${signal})`)
  return result
}

export function printResult(result: unknown): void {
  console.log(RESULT_PREFIX + JSON.stringify(result))
}
