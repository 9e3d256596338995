/**
 * The idle scenario, as bench/idle-traffic.ts measures it: N nodes join, settle 40 s after the
 * last one, then 60 s are counted. Per node: libp2p bytes written, messages, CPU, hello
 * exchanges asked, connections and known peers at the end.
 */
import { type Micros, US_PER_S } from './events.ts'
import { type SetupOptions, setUpNetwork } from './network-setup.ts'

export interface IdleOptions extends SetupOptions {
  settleUs?: Micros
  windowUs?: Micros
}

export interface IdleResult {
  nodes: number
  bytesPerNodeMinute: { mean: number; median: number; max: number }
  messagesPerNodeMinute: number
  cpuPercentOfCore: { mean: number; max: number }
  hellosPerNodeMinute: number
  connections: { min: number; median: number; max: number; mean: number }
  known: { min: number; median: number; max: number }
  /** Model events run and the wall time they took. */
  events: number
  wallMs: number
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

export function runIdle(options: IdleOptions): IdleResult {
  const t0 = performance.now()
  const settle = options.settleUs ?? 40 * US_PER_S
  const window = options.windowUs ?? 60 * US_PER_S
  const { net, lastJoin } = setUpNetwork(options)
  net.queue.runUntil(lastJoin + settle)
  net.resetMeters()
  net.queue.runUntil(lastJoin + settle + window)
  net.closeMeters(window)
  const minutes = window / (60 * US_PER_S)
  const perMin = (f: (i: number) => number): number[] => net.nodes.map((_, i) => f(i) / minutes).sort((a, b) => a - b)
  const bytes = perMin((i) => net.nodes[i]!.meter.bytesOut)
  const cpu = net.nodes.map((n) => (100 * n.meter.cpuUs) / window).sort((a, b) => a - b)
  const conns = net.nodes.map((n) => n.links.size).sort((a, b) => a - b)
  const known = net.nodes.map((n) => n.peers.size).sort((a, b) => a - b)
  const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length)
  return {
    nodes: options.nodes,
    bytesPerNodeMinute: { mean: mean(bytes), median: quantile(bytes, 0.5), max: bytes.at(-1) ?? 0 },
    messagesPerNodeMinute: mean(perMin((i) => net.nodes[i]!.meter.messagesOut)),
    cpuPercentOfCore: { mean: mean(cpu), max: cpu.at(-1) ?? 0 },
    hellosPerNodeMinute: mean(perMin((i) => net.nodes[i]!.meter.hellosAsked)),
    connections: { min: conns[0] ?? 0, median: quantile(conns, 0.5), max: conns.at(-1) ?? 0, mean: mean(conns) },
    known: { min: known[0] ?? 0, median: quantile(known, 0.5), max: known.at(-1) ?? 0 },
    events: net.queue.processed,
    wallMs: Math.round(performance.now() - t0)
  }
}
