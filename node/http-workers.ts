/**
 * `--http-workers N`: the node's HTTP address is served by N worker processes (node/http-worker.ts,
 * http/segment-worker.ts). This part listens on the address itself, takes each connection without
 * reading from it and hands it to the next worker in turn, as node:cluster's round robin does, but
 * owned by this node: its own port (port 0 included), its own workers, stopped with it. Workers
 * serve held segments from disk and relay everything else to the node's app on a private unix
 * socket, so one process alone writes, replicates and decides.
 *
 * A worker that dies is started again after a second; connections go to the others meanwhile.
 * Stopping stops accepting first, then lets each worker drain (answers in flight finish within
 * the drain time, then connections are closed), as the node's own listener does.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { type Server, type Socket, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { httpUrl } from '../http/listener.ts'
import type { Startable } from '../lib/lifecycle.ts'
import type { Logger } from '../lib/logger.ts'
import type { SegmentWorkerStats } from '../http/segment-worker.ts'
import type { WorkerInit, WorkerMessage } from './http-worker.ts'

const HTTP_WORKER_DEFAULTS = Object.freeze({
  /** A worker that died is started again after this. */
  restartMs: 1000,
  /** A worker that has not said it is ready by then fails the start. */
  readyTimeoutMs: 60_000
})

export interface HttpWorkersInit {
  host: string
  port: number
  count: number
  worker: Omit<WorkerInit, 'type'>
  /** Read when stopping, as for the node's listener. */
  drainMs: () => number
  log: Logger
}

/** What the workers did, summed (workers that exited included). */
export interface HttpWorkerTotals extends SegmentWorkerStats {
  restarts: number
  /** Connections closed because no worker was running. */
  dropped: number
}

interface Slot {
  child: ChildProcess | null
  ready: boolean
  /** The stats it last reported. */
  stats: SegmentWorkerStats
  connections: number
  /** Connections sent to it and not yet taken, by id: closed here if it exits first. */
  handing: Map<number, Socket>
  restartTimer: NodeJS.Timeout | null
}

const ZERO: SegmentWorkerStats = Object.freeze({ served: 0, bytes: 0, relayed: 0, relayFailed: 0, refused: 0, evicted: 0, peerClosed: 0 })

/**
 * The node flags a worker runs with: its loaders (the TypeScript one) and V8 settings, not the
 * test runner's or inspector's.
 */
function workerExecArgv(): string[] {
  const out: string[] = []
  const argv = process.execArgv
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if ((a === '--import' || a === '--require' || a === '--loader') && i + 1 < argv.length) out.push(a, argv[++i]!)
    else if (/^--(import|require|loader)=/.test(a) || /^--(no-memory-reducer|max-old-space-size|max-semi-space-size)/.test(a)) out.push(a)
  }
  return out
}

export class HttpWorkers implements Startable {
  readonly #init: HttpWorkersInit
  readonly #slots: Slot[] = []
  readonly #retired: HttpWorkerTotals = { ...ZERO, restarts: 0, dropped: 0 }
  #server: Server | null = null
  #next = 0
  #nextConnection = 0
  #stopping = false
  #url: string | null = null

  constructor(init: HttpWorkersInit) {
    this.#init = init
  }

  get url(): string {
    if (this.#url == null) throw new Error('the HTTP workers are not started')
    return this.#url
  }

  /** Workers running and ready now. */
  get running(): number {
    return this.#slots.filter((s) => s.ready).length
  }

  /** Process ids of the workers running now. */
  get pids(): number[] {
    return this.#slots.flatMap((s) => (s.child?.pid == null ? [] : [s.child.pid]))
  }

  /** Open connections the workers hold, as they last said. */
  get connections(): number {
    return this.#slots.reduce((n, s) => n + (s.ready ? s.connections : 0), 0)
  }

  get totals(): HttpWorkerTotals {
    const t = { ...this.#retired }
    for (const s of this.#slots) for (const k of Object.keys(ZERO) as Array<keyof SegmentWorkerStats>) t[k] += s.stats[k]
    return t
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.#init.count; i++) {
      const slot: Slot = { child: null, ready: false, stats: ZERO, connections: 0, handing: new Map(), restartTimer: null }
      this.#slots.push(slot)
    }
    const server = createServer({ pauseOnConnect: true }, (socket) => this.#handOff(socket))
    try {
      await Promise.all(this.#slots.map(async (slot) => await this.#spawn(slot)))
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ host: this.#init.host, port: this.#init.port }, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } catch (err) {
      // A start that fails leaves no worker behind.
      this.#stopping = true
      for (const slot of this.#slots) slot.child?.kill('SIGKILL')
      await Promise.all(this.#slots.map(async (slot) => await exited(slot.child)))
      throw err
    }
    this.#server = server
    const address = server.address()
    this.#url = httpUrl(this.#init.host, typeof address === 'object' && address != null ? address.port : this.#init.port)
  }

  /** Start (or restart) the worker of a slot; resolves when it is ready. */
  async #spawn(slot: Slot): Promise<void> {
    const child = fork(fileURLToPath(new URL('./http-worker.ts', import.meta.url)), [], {
      execArgv: workerExecArgv(),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    slot.child = child
    slot.ready = false
    child.on('message', (msg: WorkerMessage) => {
      if (msg.type === 'stats') {
        slot.stats = msg.stats
        slot.connections = msg.connections
      } else if (msg.type === 'took') {
        slot.handing.get(msg.id)?.destroy()
        slot.handing.delete(msg.id)
      }
    })
    child.once('exit', (code, signal) => {
      slot.ready = false
      slot.child = null
      for (const socket of slot.handing.values()) socket.destroy()
      slot.handing.clear()
      for (const k of Object.keys(ZERO) as Array<keyof SegmentWorkerStats>) this.#retired[k] += slot.stats[k]
      slot.stats = ZERO
      slot.connections = 0
      if (this.#stopping) return
      this.#init.log.warn({ worker: child.pid, code, signal }, 'an HTTP worker exited; starting another in a second')
      this.#retired.restarts++
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = null
        this.#spawn(slot).catch((err: unknown) => this.#init.log.error({ err }, 'an HTTP worker did not start'))
      }, HTTP_WORKER_DEFAULTS.restartMs)
      slot.restartTimer.unref()
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`an HTTP worker was not ready within ${HTTP_WORKER_DEFAULTS.readyTimeoutMs / 1000} s`))
      }, HTTP_WORKER_DEFAULTS.readyTimeoutMs)
      const onMessage = (msg: WorkerMessage): void => {
        if (msg.type === 'ready') done()
        else if (msg.type === 'failed') done(new Error(`an HTTP worker could not start: ${msg.message}`))
      }
      const onExit = (code: number | null): void => done(new Error(`an HTTP worker exited (${code}) before it was ready`))
      const done = (err?: Error): void => {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
        if (err == null) {
          slot.ready = true
          resolve()
        } else reject(err)
      }
      child.on('message', onMessage)
      child.once('exit', onExit)
      child.send({ type: 'init', ...this.#init.worker } satisfies WorkerInit)
    })
  }

  /** The next ready worker in turn takes the connection; with none running it is closed. */
  #handOff(socket: Socket): void {
    for (let tried = 0; tried < this.#slots.length; tried++) {
      const slot = this.#slots[this.#next]!
      this.#next = (this.#next + 1) % this.#slots.length
      if (!slot.ready || slot.child == null) continue
      // Kept open here until the worker says it has it: a worker that dies first must not take
      // the connection with it unanswered (closed here, the client sees it end and can retry).
      const id = this.#nextConnection++
      slot.handing.set(id, socket)
      slot.child.send({ type: 'conn', id }, socket, { keepOpen: true }, (err) => {
        if (err != null && slot.handing.delete(id)) socket.destroy()
      })
      return
    }
    this.#retired.dropped++
    socket.destroy()
  }

  /** Stop accepting; workers drain from here. */
  beforeStop(): void {
    if (this.#stopping) return
    this.#stopping = true
    this.#server?.close()
    const ms = this.#init.drainMs()
    for (const slot of this.#slots) {
      if (slot.restartTimer != null) clearTimeout(slot.restartTimer)
      slot.child?.send({ type: 'drain', ms })
    }
  }

  async stop(): Promise<void> {
    this.beforeStop()
    // Past the drain time (and a little for the worker to close its index), a worker is killed.
    const limit = this.#init.drainMs() + 5000
    await Promise.all(
      this.#slots.map(async (slot) => {
        const child = slot.child
        const timer = setTimeout(() => child?.kill('SIGKILL'), limit)
        await exited(child)
        clearTimeout(timer)
      })
    )
  }
}

async function exited(child: ChildProcess | null): Promise<void> {
  if (child == null || child.exitCode != null || child.signalCode != null) return
  await new Promise<void>((resolve) => child.once('exit', () => resolve()))
}
