/**
 * The one module that starts ffmpeg and ffprobe; nothing else in the project spawns them or
 * imports an ffmpeg library.
 *
 * No fluent-ffmpeg, though the first design named it: upstream
 * archived it (its maintainer points users at spawning ffmpeg directly), and every job here needs
 * exact argument vectors (output-side trims, -copyts, per-stream PIDs, extra pipes) that its
 * builder API would only pass through as raw options, while hiding stderr and the process
 * lifecycle behind events. What the design wanted from it is kept: one small, typed, swappable
 * module owns ffmpeg. It runs the Debian binaries from PATH with `-loglevel error`, keeps the tail
 * of stderr for errors, feeds stdin with back-pressure (an early exit, EPIPE, is not an error),
 * reports `-progress`, and on abort sends SIGTERM, then SIGKILL after a short grace.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { FfmpegError } from './errors.ts'

export type Tool = 'ffmpeg' | 'ffprobe'

export interface RunOptions {
  signal?: AbortSignal
  /** Bytes for stdin (an input of `pipe:0`). ffmpeg may stop reading early; that is fine. */
  input?: AsyncIterable<Uint8Array>
  /** Keep stdout as a stream for the caller (it must be read, or ffmpeg blocks). @default false */
  stdout?: boolean
  /** Called with the output position in µs, from ffmpeg's `-progress` (ffmpeg only). */
  onProgress?: (outTimeUs: number) => void
  /** Killed (and failed) after this long. */
  timeoutMs?: number
  /** Between SIGTERM and SIGKILL. @default 500 */
  killGraceMs?: number
}

export interface ToolProcess {
  readonly pid: number | undefined
  readonly stdout: Readable | null
  /**
   * Settles once the process has exited and its stderr is read: resolves on exit status 0; rejects
   * with FfmpegError otherwise, or with the abort reason when `signal` stopped it.
   */
  readonly exited: Promise<void>
  /** Stop it: SIGTERM, then SIGKILL after the grace. Safe to call at any time, repeatedly. */
  kill: () => void
}

/** Bytes of stderr kept (the end matters: that is where ffmpeg says what failed). */
const STDERR_KEEP = 16 * 1024

export function run(tool: Tool, args: readonly string[], options: RunOptions = {}): ToolProcess {
  options.signal?.throwIfAborted()
  const progress = tool === 'ffmpeg' && options.onProgress != null
  const fullArgs =
    tool === 'ffmpeg'
      ? ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', ...(progress ? ['-progress', 'pipe:3'] : []), ...args]
      : ['-hide_banner', '-loglevel', 'error', ...args]
  const child = spawn(tool, fullArgs, {
    stdio: [
      options.input != null ? 'pipe' : 'ignore',
      options.stdout === true ? 'pipe' : 'ignore',
      'pipe',
      ...(progress ? ['pipe' as const] : [])
    ]
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEEP)
  })

  if (progress) {
    const lines = createInterface({ input: child.stdio[3] as Readable })
    lines.on('line', (line) => {
      if (!line.startsWith('out_time_us=')) return
      const us = Number(line.slice(12))
      if (Number.isSafeInteger(us) && us >= 0) options.onProgress!(us)
    })
    lines.on('error', () => {})
  }

  let stopping: 'abort' | 'timeout' | null = null
  let exitedAlready = false
  const kill = (): void => {
    if (exitedAlready || child.exitCode != null || child.signalCode != null) return
    // Blocked on a full stdout, ffmpeg would not notice SIGTERM: a closed pipe ends the write at once.
    child.stdout?.destroy()
    child.kill('SIGTERM')
    setTimeout(() => {
      if (!exitedAlready) child.kill('SIGKILL')
    }, options.killGraceMs ?? 500).unref()
  }
  const onAbort = (): void => {
    stopping ??= 'abort'
    kill()
  }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  const onTimeout = (): void => {
    stopping ??= 'timeout'
    kill()
  }
  const timer = options.timeoutMs != null ? setTimeout(onTimeout, options.timeoutMs).unref() : null

  let inputError: unknown = null
  if (options.input != null) {
    const stdin = child.stdin!
    // ffmpeg closes its input once it has what it needs (end-trimmed cuts, one frame).
    stdin.on('error', () => {})
    pipeline(Readable.from(options.input, { objectMode: false }), stdin).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.code === 'ERR_STREAM_DESTROYED') return
      // A segment could not be read: ffmpeg would only see a short input and carry on.
      inputError = err
      kill()
    })
  }

  const exited = new Promise<void>((resolve, reject) => {
    let status: { code: number | null; signal: NodeJS.Signals | null } | null = null
    let stderrDone = false
    let spawnError: Error | null = null
    const settle = (): void => {
      if ((status == null && spawnError == null) || !stderrDone) return
      exitedAlready = true
      options.signal?.removeEventListener('abort', onAbort)
      if (timer != null) clearTimeout(timer)
      if (spawnError != null) {
        reject(new FfmpegError(tool, `${tool} could not be started: ${spawnError.message}`, { cause: spawnError }))
      } else if (stopping === 'abort') {
        reject(options.signal!.reason)
      } else if (inputError != null) {
        reject(new FfmpegError(tool, `${tool} input failed: ${(inputError as Error).message}`, { stderr, cause: inputError }))
      } else if (stopping === 'timeout') {
        reject(
          new FfmpegError(tool, `${tool} took longer than ${options.timeoutMs} ms`, {
            stderr,
            exitCode: status!.code,
            signal: status!.signal
          })
        )
      } else if (status!.code !== 0) {
        const last = stderr.trim().split('\n').slice(-3).join(' | ')
        const how = status!.code != null ? `exited with code ${status!.code}` : `was killed by ${status!.signal}`
        reject(
          new FfmpegError(tool, `${tool} ${how}${last !== '' ? `: ${last}` : ''}`, {
            stderr,
            exitCode: status!.code,
            signal: status!.signal
          })
        )
      } else {
        resolve()
      }
    }
    child.once('error', (err) => {
      spawnError = err
      stderrDone = true
      settle()
    })
    child.once('exit', (code, signal) => {
      status = { code, signal }
      settle()
    })
    child.stderr!.once('close', () => {
      stderrDone = true
      settle()
    })
  })
  // Callers that only read stdout must not crash the process when the exit is a failure they handle elsewhere.
  exited.catch(() => {})

  return { pid: child.pid, stdout: child.stdout, exited, kill }
}

/**
 * All of a process's stdout (run with `stdout: true`), then its exit. Past `maxBytes` it is killed,
 * so `exited` rejects: output that large is not what was asked for.
 */
export async function readOutput(proc: ToolProcess, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of proc.stdout! as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) {
      proc.kill()
      break
    }
    chunks.push(chunk)
  }
  await proc.exited
  return Buffer.concat(chunks)
}

/** Run ffprobe and parse its JSON output (`-of json` is added). */
export async function probeJson(args: readonly string[], options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<unknown> {
  // A probe answer is a few KiB; anything huge is not one.
  const output = await readOutput(run('ffprobe', ['-of', 'json', ...args], { ...options, stdout: true }), 4 * 1024 * 1024)
  try {
    return JSON.parse(output.toString('utf8'))
  } catch (err) {
    throw new FfmpegError('ffprobe', `ffprobe printed something that is not JSON: ${(err as Error).message}`, { cause: err })
  }
}
