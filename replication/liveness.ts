/**
 * Kept connections that stopped answering, found in seconds. A connection cut by a partition
 * (packets dropped, no reset) stays open at both ends until a ping fails, and pings run once a
 * minute to keep idle traffic low; what is written to it meanwhile waits in TCP's retransmission
 * queue, whose timer doubles with each lost try, so after the heal the first packet went out up to
 * several seconds late and the whole network waited for it (bench/netns-partition.ts: nothing
 * arrived for 6.2 s after a 20 s cut).
 *
 * So each node probes the peers it keeps, over one long-lived stream per connection
 * (`/segmesh/alive/1.0.0`): a byte, echoed by the other end. A probe unanswered for `timeoutMs`
 * aborts the connection, and libp2p's keep-alive redial brings the peer back once it answers SYNs
 * again. Only a connection written to since its last answer is probed (a publish reached the
 * peer, a hello was asked of it), at most every `intervalMs`: a connection nothing was written to
 * during a cut has nothing waiting on the retransmission timer, and works at once after the heal.
 * An idle network sends no probe (probing every connection every 5 s cost 5 KiB a minute per node
 * in one process and 13 KiB among child processes after a partition, against a 16 KiB budget).
 * A byte each way costs ~31 bytes with yamux and noise framing, against ~530 for a libp2p ping,
 * whose protocol is negotiated on a new stream each time.
 */
import type { Stream, StreamMessageEvent } from '@libp2p/interface'
import type { Logger } from '../lib/logger.ts'

export const ALIVE_PROTOCOL = '/segmesh/alive/1.0.0'

export const LIVENESS_DEFAULTS = Object.freeze({
  /** A probe goes out at most this often per connection, and only after something was written to it. */
  intervalMs: 2_000,
  /** How often probes are judged and sent. */
  tickMs: 1_000,
  /** An unanswered probe this old closes the connection. Well above the event-loop lag of a busy node. */
  timeoutMs: 5_000,
  /** Echoes a peer gets per second at most (and at once); a peer that probes faster has its stream closed. */
  maxEchoesPerSecond: 4
})

const PROBE = new Uint8Array([1])

/**
 * The listening end: one byte back for each message while `allow()` says so (the host's token
 * bucket for the peer, LIVENESS_DEFAULTS.maxEchoesPerSecond); a peer probing faster has its stream
 * closed.
 */
export function echoProbes(stream: Stream, allow: () => boolean): void {
  stream.addEventListener('message', () => {
    if (allow()) send(stream)
    else stream.abort(new Error('probes faster than allowed'))
  })
}

/** One probe byte; false when the stream no longer takes writes. */
function send(stream: Stream): boolean {
  try {
    stream.send(PROBE)
    return true
  } catch {
    return false
  }
}

export interface LivenessInit {
  /** A stream of ALIVE_PROTOCOL on the peer's current connection; null when the peer does not speak it. */
  open: (peerId: string) => Promise<Stream | null>
  /** Abort the peer's connections: they stopped answering. */
  dead: (peerId: string) => void
  log: Logger
  intervalMs?: number
  timeoutMs?: number
}

interface Probed {
  stream: Stream | null
  /** Something was written to the connection since the last answer. */
  written: boolean
  /** When the outstanding probe went out, or null. */
  sentAt: number | null
  answeredAt: number
}

/** The probing end, driven by `tick()` with the peers to probe now (kept and connected). */
export class Liveness {
  readonly #init: LivenessInit
  readonly #intervalMs: number
  readonly #timeoutMs: number
  readonly #peers = new Map<string, Probed>()
  /** Connections aborted for not answering, since start. */
  closed = 0

  constructor(init: LivenessInit) {
    this.#init = init
    this.#intervalMs = init.intervalMs ?? LIVENESS_DEFAULTS.intervalMs
    this.#timeoutMs = init.timeoutMs ?? LIVENESS_DEFAULTS.timeoutMs
  }

  /** Something was written to the peer's connection: probe it soon if it is kept. */
  wrote(peer: string): void {
    const p = this.#peers.get(peer)
    if (p != null) p.written = true
  }

  /**
   * One round: judge outstanding probes, send due ones, forget peers no longer probed, and start
   * opening streams to new ones (not awaited: a slow open must not hold up the others' judgement).
   */
  tick(peers: readonly string[]): void {
    const now = Date.now()
    const wanted = new Set(peers)
    for (const [peer, p] of this.#peers) {
      if (wanted.has(peer)) continue
      p.stream?.abort(new Error('no longer probed'))
      this.#peers.delete(peer)
    }
    for (const peer of wanted) {
      const p = this.#peers.get(peer)
      if (p == null) {
        const fresh: Probed = { stream: null, written: false, sentAt: null, answeredAt: now }
        this.#peers.set(peer, fresh)
        void this.#open(peer, fresh)
        continue
      }
      if (p.stream == null) continue
      if (p.sentAt != null && now - p.sentAt >= this.#timeoutMs) {
        this.#peers.delete(peer)
        p.stream.abort(new Error('probe unanswered'))
        this.#judgeDead(peer, now - p.sentAt)
        continue
      }
      if (p.sentAt == null && p.written && now - p.answeredAt >= this.#intervalMs) {
        p.sentAt = now
        p.written = false
        // A stream closing under us (its connection going, the other end resetting it) throws:
        // it is opened again on the next round if the peer is still connected.
        if (!send(p.stream)) this.#peers.delete(peer)
      }
    }
  }

  /** Opens `p`'s stream (none when the peer does not speak the protocol: not probed, as before). Never throws. */
  async #open(peer: string, p: Probed): Promise<void> {
    let stream: Stream | null
    const started = Date.now()
    try {
      stream = await this.#init.open(peer)
    } catch (err) {
      this.#init.log.debug({ peer, err }, 'could not open a probe stream')
      if (this.#peers.get(peer) !== p) return
      this.#peers.delete(peer)
      // An open the peer left unanswered for a probe's timeout is an unanswered probe: the
      // negotiation is waiting on the connection now (a peer that hung before its stream was
      // open was never judged, and kept its connection until libp2p's minute-long ping).
      // (Within 5 %: the host's timeout may fire a millisecond early by Date.now().)
      if (Date.now() - started >= this.#timeoutMs * 0.95) this.#judgeDead(peer, Date.now() - started)
      // Else tried again on the next round (a peer without the protocol answers null instead, once).
      return
    }
    if (stream == null) return
    // Forgotten (or stopped) while it opened.
    if (this.#peers.get(peer) !== p) {
      stream.abort(new Error('no longer probed'))
      return
    }
    p.stream = stream
    stream.addEventListener('message', (_evt: StreamMessageEvent) => {
      p.sentAt = null
      p.answeredAt = Date.now()
    })
    // A stream that ends is opened again on a later round (the connection may still be fine).
    stream.addEventListener('close', () => {
      if (this.#peers.get(peer) === p) this.#peers.delete(peer)
    })
  }

  #judgeDead(peer: string, unansweredMs: number): void {
    this.closed++
    this.#init.log.info({ peer, unansweredMs }, 'kept peer stopped answering: closing its connection')
    this.#init.dead(peer)
  }

  stop(): void {
    for (const p of this.#peers.values()) p.stream?.abort(new Error('stopping'))
    this.#peers.clear()
  }
}
