/**
 * Helpers for the HTTP benchmarks (serving.ts, playlist.ts): machine info, percentiles, CPU
 * accounting from /proc, and child processes that are always bounded in time and ended by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root, so the benchmarks run from any working directory. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The node arguments every TypeScript entry point here runs with. */
export const TSX_ARGS = ['--import', 'tsx', '--import', './node/compat.ts']

export function machine(): { date: string; cpu: string; cores: number; memoryGiB: number; node: string } {
  const c = cpus()
  return {
    date: new Date().toISOString(),
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version
  }
}

export function printMachine(): void {
  const m = machine()
  console.log(
    `date ${m.date} · cpu ${m.cpu} × ${m.cores} · memory ${m.memoryGiB} GiB · node ${m.node} (${process.platform} ${process.arch})`
  )
}

/** `--name value` or `--name=value` from argv. */
export function option(name: string): string | undefined {
  const argv = process.argv
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1]
    if (argv[i]!.startsWith(`--${name}=`)) return argv[i]!.slice(name.length + 3)
  }
  return undefined
}

export function numberOption(name: string, fallback: number): number {
  const v = option(name)
  if (v == null) return fallback
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, got ${v}`)
  return n
}

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`)
}

export interface Summary {
  n: number
  median: number
  p95: number
  p99: number
  min: number
  max: number
}

/** Nearest-rank percentiles (with few samples p95/p99 are simply the largest). */
export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b)
  const rank = (p: number): number => (s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!)
  return { n: s.length, median: rank(0.5), p95: rank(0.95), p99: rank(0.99), min: s[0] ?? Number.NaN, max: s.at(-1) ?? Number.NaN }
}

/** The middle value, or the mean of the two middle ones (so two rounds do not report the worse one). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join(' | ')} |`
  return [
    line(head),
    `|${width.map((w, i) => (i === 0 ? `${'-'.repeat(w + 2)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line)
  ].join('\n')
}

/**
 * Reads a response body to its end; its length. (undici's `dump()` stops after 128 KiB whatever
 * `limit` says unless it is finite: a bench that dumps a long body measures an aborted request.)
 */
export async function readToEnd(body: AsyncIterable<Buffer | Uint8Array>): Promise<number> {
  let bytes = 0
  for await (const chunk of body) bytes += chunk.byteLength
  return bytes
}

export const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')

// --- CPU accounting ------------------------------------------------------------------------------

const TICKS_PER_SECOND = 100

/** User + system CPU seconds of a process (all its threads) and of its child processes, or NaN once it is gone. */
export function processCpuSeconds(pid: number): number {
  const own = statFields(pid)
  if (own == null) return Number.NaN
  // Its child processes too (a node's HTTP workers), while they run.
  let total = (Number(own[11]) + Number(own[12])) / TICKS_PER_SECOND
  for (const child of childPids(pid)) total += processCpuSeconds(child) || 0
  return total
}

/** The fields of /proc/PID/stat after the parenthesised command name (which may hold spaces); null if gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** The process ids of a process's children (a node's HTTP workers). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Bytes a process has made the kernel fetch from storage (not page-cache hits), or NaN. */
export function processDiskReadBytes(pid: number): number {
  try {
    const m = /^read_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
    return m == null ? Number.NaN : Number(m[1])
  } catch {
    return Number.NaN
  }
}

/** Busy and total CPU seconds of the whole box since boot (all cores). */
export function boxCpuSeconds(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu as [number, number, number, number, number, number, number, number]
  const busy = user + nice + system + irq + softirq + steal
  return { busy: busy / TICKS_PER_SECOND, total: (busy + idle + iowait) / TICKS_PER_SECOND }
}

/**
 * Wait (at most `maxMs`) until the box has been less than `threshold` busy for one second, so a
 * measurement does not start on top of someone else's burst. Returns the last busy share seen.
 */
export async function waitForQuiet(threshold = 0.15, maxMs = 30_000): Promise<number> {
  const until = performance.now() + maxMs
  let share = 1
  do {
    const a = boxCpuSeconds()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const b = boxCpuSeconds()
    share = (b.busy - a.busy) / Math.max(0.01, b.total - a.total)
  } while (share >= threshold && performance.now() < until)
  return share
}

// --- child processes -----------------------------------------------------------------------------

export interface Child {
  proc: ChildProcess
  pid: number
  /** SIGTERM, then SIGKILL if it is still there after `graceMs`; by pid only. */
  stop: (graceMs?: number) => Promise<void>
}

const running = new Set<Child>()

/** Stop every child still running (on error paths); each by its own pid. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map(async (c) => await c.stop()))
}

/**
 * Start a long-running child and wait (at most `timeoutMs`) for a stdout line matching `ready`.
 * Returns the child and the match. Its stderr is passed through, prefixed, and so is its stdout
 * unless `onLine` returns true (consumed it).
 */
export async function startChild(
  label: string,
  command: string,
  args: readonly string[],
  ready: RegExp,
  timeoutMs = 60_000,
  onLine?: (line: string) => boolean
): Promise<{ child: Child; match: RegExpExecArray }> {
  const proc = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  if (proc.pid == null) throw new Error(`${label}: could not start ${command}`)
  const pid = proc.pid
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const child: Child = {
    proc,
    pid,
    stop: async (graceMs = 5000) => {
      running.delete(child)
      if (proc.exitCode != null || proc.signalCode != null) return
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    }
  }
  running.add(child)
  createInterface({ input: proc.stderr! }).on('line', (line) => console.error(`  [${label}] ${line}`))
  const lines = createInterface({ input: proc.stdout! })
  try {
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: not ready after ${timeoutMs} ms`)), timeoutMs)
      proc.once('exit', (code, signal) => reject(new Error(`${label}: exited early (${code ?? signal})`)))
      lines.on('line', (line) => {
        const m = ready.exec(line)
        if (m != null) {
          clearTimeout(timer)
          resolve(m)
        } else if (onLine?.(line) !== true) {
          // Logs: a child that dies mid-run says why.
          console.error(`  [${label}] ${line}`)
        }
      })
    })
    return { child, match }
  } catch (err) {
    await child.stop()
    throw err
  }
}

/**
 * Run a command to completion with a hard time limit: its whole process group is killed (by the
 * group id of the child started here) if it overruns. Resolves with stdout and the exit code.
 */
export async function runBounded(
  command: string,
  args: readonly string[],
  limitMs: number
): Promise<{ stdout: string; stderr: string; code: number | null; timedOut: boolean }> {
  const proc = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderr = ''
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    try {
      process.kill(-proc.pid!, 'SIGKILL')
    } catch {}
  }, limitMs)
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once('error', reject)
    proc.once('close', (c) => resolve(c))
  })
  clearTimeout(timer)
  return { stdout, stderr, code, timedOut }
}

export interface SegmeshChild {
  child: Child
  url: string
  multiaddr: string | null
}

/** `segmesh start` exactly as an operator runs it, on 127.0.0.1 with ephemeral ports. */
export async function startSegmeshNode(label: string, data: string, extra: string[]): Promise<SegmeshChild> {
  // biome-ignore format: command-line flags read best as flag/value pairs on a line
  return await segmeshChild(label, [join(ROOT, 'bin/segmesh'), 'start', '--data', data,
    '--http-host', '127.0.0.1', '--http-port', '0', '--p2p-host', '127.0.0.1', '--p2p-port', '0',
    '--log-level', 'warn', '--no-watch', '--digest-interval-seconds', '2', ...extra
  ])
}

/** Run `command` (a `segmesh start`, maybe behind a wrapper) until its banner names its public URL. */
export async function segmeshChild(label: string, [command, ...args]: [string, ...string[]], timeoutMs = 120_000): Promise<SegmeshChild> {
  let multiaddr: string | null = null
  const { child, match } = await startChild(label, command, args, /^segmesh public url (\S+)/, timeoutMs, (line) => {
    multiaddr ??= /^segmesh multiaddr (\S+)/.exec(line)?.[1] ?? null
    return line.startsWith('segmesh ')
  })
  return { child, url: match[1]!, multiaddr }
}
