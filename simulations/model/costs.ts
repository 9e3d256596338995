/**
 * What each message costs on the wire and in CPU, beyond its payload (sizes.ts gives payloads).
 * Measured on this machine (2 vCPU AMD EPYC, Node 20.20) between two real P2PHosts on loopback by
 * `simulations/model/measure-wire.ts`; the bytes are what both ends wrote to their sockets (noise,
 * yamux, multistream-select included, TCP/IP headers not). Calibrated values say from what.
 */
import { US_PER_MS } from './events.ts'

export interface Costs {
  /** Setting up one connection, both ends: noise handshake, identify both ways, gossipsub subscriptions and GRAFT. */
  connectBytes: number
  /** An idle connection per minute without pings, both ends: yamux keep-alives, gossipsub with nothing to say. */
  idleBytesPerConnectionMinute: number
  /** One ping round of a connection (each end pings once: stream open, multistream-select, 32 B each way, close). */
  pingBytesPerConnectionRound: number
  /** A hello exchange beyond its answer: the stream, protocol negotiation (two versions offered) and close, both ends. */
  helloOverheadBytes: number
  /** A gossip message per hop beyond its payload: RPC framing, signature, seqno, topic, noise. */
  gossipHopOverheadBytes: number
  /** An IHAVE for one message id to one peer (framing included). */
  ihaveBytes: number
  /** HTTP request and answer headers of one replication request (calibrated, see range-walk.ts). */
  httpOverheadBytes: number
  /** CPU of one hello exchange, both ends (libp2p stream + JSON), µs. */
  helloCpuUs: number
  /** CPU of one gossip message per hop, both ends (sign or verify, decode, validate, relay), µs. */
  gossipHopCpuUs: number
  /** CPU of one ping, both ends, µs (a bound: lost in the noise of the measurement). */
  pingCpuUs: number
  /** A node's own CPU when nothing happens (timers, GC, gossipsub heartbeats), µs per minute. */
  baseCpuUsPerMinute: number
}

/** Measured 2026-12-07 ~16:50 UTC by measure-wire.ts (two runs agreed to the byte on wire sizes). */
export const MEASURED: Costs = Object.freeze({
  connectBytes: 3175,
  idleBytesPerConnectionMinute: 240,
  pingBytesPerConnectionRound: 1060,
  helloOverheadBytes: 414,
  gossipHopOverheadBytes: 234,
  // One message id (~20 B) in an RPC control frame, in a noise envelope: not measured separately.
  ihaveBytes: 60,
  // Calibrated: test/repair-cost.test.ts measured 5.4 KB at the sockets for a one-name walk of
  // 5 range requests and one 22 B download; range-walk.ts counts 3,637 B of bodies for that walk,
  // so the 6 requests' headers, both ways, are (5,400 − 3,637 − 22) / 6 ≈ 290 B each.
  httpOverheadBytes: 290,
  helloCpuUs: 4.7 * US_PER_MS,
  gossipHopCpuUs: 2.3 * US_PER_MS,
  pingCpuUs: 0.5 * US_PER_MS,
  // Calibrated: 100 nodes in one process (bench run, 2026-12-07 16:56 UTC) used 65 ms per node per
  // minute idle; the model's messages at that size account for ~12 ms, the rest is each node's own.
  baseCpuUsPerMinute: 53 * US_PER_MS
})

/**
 * A node alone on its machine: its process's baseline instead of a share of one process. The
 * simulator's 20 child processes measured 1.22–1.59 s of CPU per node per minute idle (shim
 * writing stats every 500 ms included, 20 processes on 2 cores): taken whole as an upper bound.
 */
export const OWN_MACHINE: Costs = Object.freeze({ ...MEASURED, baseCpuUsPerMinute: 1400 * US_PER_MS })
