/**
 * A bound on the connections one HTTP listener holds, and on the idle ones peers leave behind.
 *
 * Node's HTTP server takes every connection it is offered and keeps each one for its keep-alive
 * time (fastify: 72 s): a viewer opening sockets without end reaches the process's open-files limit,
 * and then the node can open neither segments nor its index. Here:
 * - at most `maxConnections` are held. At the cap, a new connection takes the place of the one idle
 *   longest (no request in progress; a socket that never sent its headers counts as idle, so a
 *   slow-headers flood evicts only itself); when every connection is answering, the new one is
 *   closed at once;
 * - a peer's connection (its requests carry PEER_HEADER) is kept open after an answer only while at
 *   most `peerKeepAlive` peer connections are open; past that the answer says `Connection: close`.
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
}

export class ConnectionCap {
  readonly stats: ConnectionCapStats = { evicted: 0, refused: 0, peerClosed: 0 }
  readonly #max: number
  readonly #peerKeepAlive: number
  /** In order of last activity (a connection opened, or an answer ended), the least recent first. */
  readonly #connections = new Map<Socket, Connection>()
  #peers = 0

  constructor(init: ConnectionCapInit = {}) {
    this.#max = init.maxConnections ?? CONNECTION_CAP_DEFAULTS.maxConnections
    this.#peerKeepAlive = init.peerKeepAlive ?? CONNECTION_CAP_DEFAULTS.peerKeepAlive
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new RangeError(`maxConnections must be a positive integer, not ${this.#max}`)
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
    const connection: Connection = { busy: 0, peer: false }
    this.#connections.set(socket, connection)
    socket.once('close', () => {
      this.#connections.delete(socket)
      if (connection.peer) this.#peers--
    })
    if (this.#connections.size <= this.#max) return
    const idle = this.#idlest(socket)
    if (idle == null) {
      this.stats.refused++
      socket.destroy()
      return
    }
    this.stats.evicted++
    idle.destroy()
  }

  /** The connection idle longest, other than `except`; null when every other one is answering. */
  #idlest(except: Socket): Socket | null {
    for (const [socket, connection] of this.#connections) {
      if (connection.busy === 0 && socket !== except) return socket
    }
    return null
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket
    const connection = this.#connections.get(socket)
    // Not seen opening: a connection handed to the server some other way; nothing to bound here.
    if (connection == null) return
    connection.busy++
    if (req.headers[PEER_HEADER] != null) {
      if (!connection.peer) {
        connection.peer = true
        this.#peers++
      }
      if (this.#peers > this.#peerKeepAlive) {
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
