/**
 * Bytes written to TCP sockets, read from node's own `net` diagnostics channels and each socket's
 * `bytesWritten` (no socket method is wrapped). On loopback every byte is written once, by one
 * end, so the sum over both ends is what crossed the wire (libp2p after noise and yamux framing,
 * HTTP with its headers; TCP/IP headers not counted).
 */
import diagnostics from 'node:diagnostics_channel'
import type net from 'node:net'

/**
 * Per kind: what sockets wrote, closed ones kept, open ones read when asked; and how many are open
 * (a socket is open from when it is tracked until its 'close').
 */
export class SocketBytes<K extends string> {
  readonly #open = new Map<net.Socket, K>()
  #closed = new Map<K, number>()
  #maxOpen = 0
  #atMax = new Map<K, number>()

  track(socket: net.Socket, kind: K): void {
    if (this.#open.has(socket)) return
    this.#open.set(socket, kind)
    if (this.#open.size > this.#maxOpen) {
      this.#maxOpen = this.#open.size
      this.#atMax = new Map()
      for (const k of this.#open.values()) this.#atMax.set(k, (this.#atMax.get(k) ?? 0) + 1)
    }
    socket.once('close', () => {
      // Forgotten by reset(): not counted again.
      if (this.#open.delete(socket)) this.#closed.set(kind, (this.#closed.get(kind) ?? 0) + socket.bytesWritten)
    })
  }

  /** Sockets open now by kind (kinds never seen are 0), leaving out those `skip` names. */
  openByKind(kinds: readonly K[], skip: (socket: net.Socket, kind: K) => boolean = () => false): Record<K, number> {
    const out = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<K, number>
    for (const [socket, kind] of this.#open) if (!skip(socket, kind)) out[kind] = (out[kind] ?? 0) + 1
    return out
  }

  /** The most sockets open at once since this tally was made (kept across reset()). */
  get maxOpen(): number {
    return this.#maxOpen
  }

  /** What the sockets open at the maximum were, by kind (kinds never seen are 0). */
  maxOpenByKind(kinds: readonly K[]): Record<K, number> {
    return Object.fromEntries(kinds.map((k) => [k, this.#atMax.get(k) ?? 0])) as Record<K, number>
  }

  /** Bytes written by every kind seen. */
  byKind(): Map<K, number> {
    const out = new Map(this.#closed)
    for (const [socket, kind] of this.#open) out.set(kind, (out.get(kind) ?? 0) + socket.bytesWritten)
    return out
  }

  /** Bytes written by these kinds; kinds never seen are 0. */
  totals(kinds: readonly K[]): Record<K, number> {
    const seen = this.byKind()
    return Object.fromEntries(kinds.map((k) => [k, seen.get(k) ?? 0])) as Record<K, number>
  }

  /** Start again from 0; sockets open now are no longer counted (the maximum stays). */
  reset(): void {
    this.#open.clear()
    this.#closed = new Map()
  }
}

export interface SocketWatch {
  /** A server accepted `socket` (it is connected; nothing is written yet). */
  accepted: (socket: net.Socket) => void
  /**
   * A client socket is being made, synchronously inside the code that opens it (so its async
   * context is the caller's). Return what to do once it is connected (its ports are known), or null.
   */
  opening: (socket: net.Socket) => ((socket: net.Socket) => void) | null
}

export function watchSockets(watch: SocketWatch): void {
  diagnostics.subscribe('net.server.socket', (message) => watch.accepted((message as { socket: net.Socket }).socket))
  diagnostics.subscribe('net.client.socket', (message) => {
    const { socket } = message as { socket: net.Socket }
    const connected = watch.opening(socket)
    if (connected != null) socket.once('connect', () => connected(socket))
  })
}
