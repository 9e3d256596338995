/**
 * A bound on the connections one HTTP listener holds, and on the idle ones peers leave behind.
 *
 * Node's HTTP server takes every connection it is offered and keeps each one for its keep-alive
 * time (fastify: 72 s): a viewer opening sockets without end reaches the process's open-files limit,
 * and then the node can open neither segments nor its index. Here:
 * - at most `maxConnections` are held. At the cap, a new connection takes the place of the one idle
 *   longest (no request in progress; a socket still sending its first headers counts as idle, so a
 *   slow-headers flood cannot hold the cap: once it has displaced the idle keep-alive connections
 *   that predate it, it displaces itself); when every connection is answering, the new one is
 *   closed at once;
 * - the first `peerKeepAlive` peer connections open (their requests carry PEER_HEADER) are kept
 *   open between requests until they close; any other peer connection's answer says
 *   `Connection: close`.
 *   Peers fetch a few segments from many nodes in bursts: keeping each burst's socket until the
 *   client's idle timeout made a node hold one socket per peer that had fetched from it in the last
 *   seconds (at 100 nodes, 87 of the 130 sockets of the busiest node; docs/SIMULATIONS.md).
 *
 * Costs: one map entry per open connection (~100 B beside the socket's own ~10 KiB).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { PEER_HEADER } from '../replication/fetch-http.ts'

export const CONNECTION_CAP_DEFAULTS = Object.freeze({
  /** Connections one listener holds at once (`--http-max-connections`); ~10 KiB each idle, 40 MiB at the cap. */
  maxConnections: 4096,
  /** Peer connections kept open between requests (`--http-peer-keepalive`); 0: every peer answer closes its connection. */
  peerKeepAlive: 8
})

export interface ConnectionCapInit {
  /** @default CONNECTION_CAP_DEFAULTS.maxConnections */
  maxConnections?: number
  /** @default CONNECTION_CAP_DEFAULTS.peerKeepAlive */
  peerKeepAlive?: number
}

export interface ConnectionCapStats {
  /** Idle connections closed to make room for a new one. */
  evicted: number
  /** New connections closed at once: the cap was reached and every connection was answering. */
  refused: number
  /** Answers to peers that closed their connection (over peerKeepAlive). */
  peerClosed: number
}

interface Connection {
  /** Requests taken and not yet answered. */
  busy: number
  /** A request on it carried PEER_HEADER. */
  peer: boolean
  /** One of the peer connections kept open between requests (at most peerKeepAlive of them). */
  kept: boolean
}

export class ConnectionCap {
  readonly stats: ConnectionCapStats = { evicted: 0, refused: 0, peerClosed: 0 }
  readonly #max: number
  readonly #peerKeepAlive: number
  /** In order of last activity (a connection opened, or an answer ended), the least recent first. */
  readonly #connections = new Map<Socket, Connection>()
  #peers = 0
  #kept = 0

  constructor(init: ConnectionCapInit = {}) {
    this.#max = init.maxConnections ?? CONNECTION_CAP_DEFAULTS.maxConnections
    this.#peerKeepAlive = init.peerKeepAlive ?? CONNECTION_CAP_DEFAULTS.peerKeepAlive
    if (this.#max !== Number.POSITIVE_INFINITY && (!Number.isInteger(this.#max) || this.#max < 1))
      throw new RangeError(`maxConnections must be a positive integer, not ${this.#max}`)
  }

  /** Open connections. */
  get connections(): number {
    return this.#connections.size
  }

  /** Open connections that carried a peer's request. */
  get peerConnections(): number {
    return this.#peers
  }

  /** Watch `server` (before it listens); one cap per server. */
  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.#open(socket))
    // First, so the header is set before any route can answer.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => this.#request(req, res))
  }

  #open(socket: Socket): void {
    const connection: Connection = { busy: 0, peer: false, kept: false }
    this.#connections.set(socket, connection)
    socket.once('close', () => this.#forget(socket, connection))
    if (this.#connections.size <= this.#max) return
    // Forgotten as they are destroyed, not at their 'close' (a later loop phase): the rest of a
    // burst of connections accepted in this phase must not count them, nor pick them again.
    const idle = this.#idlest(socket)
    if (idle == null) {
      this.stats.refused++
      this.#forget(socket, connection)
      socket.destroy()
      return
    }
    this.stats.evicted++
    this.#forget(idle[0], idle[1])
    idle[0].destroy()
  }

  /** Leave a connection out of the counts (once: its 'close' may come after it was evicted). */
  #forget(socket: Socket, connection: Connection): void {
    if (!this.#connections.delete(socket)) return
    if (connection.peer) this.#peers--
    if (connection.kept) this.#kept--
  }

  /** The connection idle longest, other than `except`; null when every other one is answering. */
  #idlest(except: Socket): [Socket, Connection] | null {
    for (const entry of this.#connections) {
      if (entry[1].busy === 0 && entry[0] !== except) return entry
    }
    return null
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket
    const connection = this.#connections.get(socket)
    // Not seen opening (a connection handed to the server some other way), or already evicted.
    if (connection == null) return
    connection.busy++
    if (req.headers[PEER_HEADER] != null) {
      if (!connection.peer) {
        connection.peer = true
        this.#peers++
        // The first peerKeepAlive peer connections stay kept until they close; the others are
        // closed after each answer, so the kept ones are not churned by every newcomer.
        if (this.#kept < this.#peerKeepAlive) {
          connection.kept = true
          this.#kept++
        }
      }
      if (!connection.kept) {
        this.stats.peerClosed++
        res.setHeader('connection', 'close')
      }
    }
    res.once('close', () => {
      connection.busy--
      // The most recently active goes last, so eviction takes the idlest first.
      if (this.#connections.delete(socket)) this.#connections.set(socket, connection)
    })
  }
}
