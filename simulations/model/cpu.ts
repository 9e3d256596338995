/**
 * Where the model's nodes do their work. Each resource is a FIFO server: a job waits for the ones
 * before it and then takes its demand ÷ speed. On one shared box (the simulator's 20 child
 * processes on 2 cores) every node's CPU work queues on one server whose speed is the cores left
 * over by the nodes' idle baseline; one node per machine gives each node its own server. Links are
 * servers too: a node's uplink and downlink each pass one transfer's bytes at a time.
 */
import type { Micros } from './events.ts'

export class FifoServers {
  readonly #freeAt: Float64Array
  readonly #speed: number
  /** Busy time served, µs of demand. */
  busyUs = 0

  constructor(count: number, speed: number) {
    this.#freeAt = new Float64Array(count)
    this.#speed = speed
  }

  /** Reserve `demandUs` of work on server `i` from `now`; returns when it is done. */
  reserve(i: number, now: Micros, demandUs: number): Micros {
    const start = Math.max(now, this.#freeAt[i]!)
    const end = start + demandUs / this.#speed
    this.#freeAt[i] = end
    this.busyUs += demandUs
    return Math.round(end)
  }
}

export interface CpuPlan {
  /** All nodes' CPU on one box of this many cores, less their idle baseline; null: one machine each. */
  sharedCores: number | null
  /** The idle baseline per node that a shared box loses (cores), e.g. 1.4 s/min = 0.023. */
  baselineCoresPerNode: number
}

export class Cpu {
  readonly #servers: FifoServers
  readonly #shared: boolean

  constructor(nodes: number, plan: CpuPlan) {
    this.#shared = plan.sharedCores != null
    const speed = plan.sharedCores == null ? 1 : Math.max(0.1, plan.sharedCores - plan.baselineCoresPerNode * nodes)
    this.#servers = new FifoServers(this.#shared ? 1 : nodes, speed)
  }

  run(node: number, now: Micros, demandUs: number): Micros {
    return this.#servers.reserve(this.#shared ? 0 : node, now, demandUs)
  }

  get busyUs(): number {
    return this.#servers.busyUs
  }
}
