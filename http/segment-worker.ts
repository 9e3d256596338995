/**
 * The server inside one HTTP worker process (node/http-workers.ts forks them; node/http-worker.ts
 * is the process): it answers `GET`/`HEAD /segments/...` for segments this node holds straight from
 * disk, looked up in the node's LMDB index opened read-only, and relays every other request to the
 * node's own app over its private socket. Segment bytes are most of what a node serves, and they
 * then use every core; everything that writes, decides or keeps state (read-through, upload slots
 * for peers, playlists, cuts, admin) stays in the node's one process.
 *
 * A request is relayed whenever serving it here could differ from the node: a name not held
 * (read-through, tombstone, 404), a peer's download (its upload slot), a query string, a file
 * changed on disk, a 416. Relayed requests carry the client's address in `x-forwarded-for`.
 */
import { type IncomingMessage, type OutgoingHttpHeaders, Agent, type ServerResponse, createServer, request } from 'node:http'
import type { Socket } from 'node:net'
import { type FileHandle, open } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream'
import { BufferPool, readPooled } from '../lib/buffer-pool.ts'
import { PEER_HEADER } from '../replication/fetch-http.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import { parseSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { ConnectionCap } from './connection-cap.ts'
import { SEGMENT_READ_DEFAULTS, lendUntilSent, segmentAnswer } from './segment-answer.ts'

export const SEGMENT_WORKER_DEFAULTS = Object.freeze({
  /** Worker processes (`--http-workers`); 0: the node's one process serves HTTP itself. */
  workers: 0,
  /** At most this many (each is a Node process of ~100 MiB resident). */
  maxWorkers: 64,
  /**
   * Connections one worker holds at most (~10 KiB each idle); at the cap a new one replaces the one
   * idle longest, as on the node's own listener (http/connection-cap.ts). The node gives each
   * worker its share of --http-max-connections.
   */
  maxConnections: 4096,
  /** Peer connections one worker keeps open between requests (the node gives each its share of --http-peer-keepalive). */
  peerKeepAlive: 8,
  /** Relayed requests in flight to the node at once per worker; the rest wait in the agent's queue (bounded by the connections). */
  relaySockets: 256,
  /** A connection with no request in progress for this long is closed (the node's own listener keeps 72 s too). */
  keepAliveMs: 72_000,
  /** Requests one connection may have waiting (pipelined) at once; past it the connection is closed. */
  maxPipelined: 16
})

export interface SegmentWorkerInit {
  index: SegmentIndex
  segmentsDir: string
  /** The node app's private unix socket. */
  upstream: string
  /** @default SEGMENT_WORKER_DEFAULTS.maxConnections */
  maxConnections?: number
  /** @default SEGMENT_WORKER_DEFAULTS.peerKeepAlive */
  peerKeepAlive?: number
  /** @default SEGMENT_READ_DEFAULTS.poolBytes */
  poolBytes?: number
  /** @default SEGMENT_WORKER_DEFAULTS.keepAliveMs */
  idleMs?: number
}

export interface SegmentWorkerStats {
  /** Segment answers sent from disk here (200, 206, 304, HEAD). */
  served: number
  /** Body bytes of those. */
  bytes: number
  relayed: number
  /** Relayed requests the node did not answer (502). */
  relayFailed: number
  /** Connections closed at once: at maxConnections with every connection answering, too many pipelined requests, or draining. */
  refused: number
  /** Idle connections closed to make room for a new one (at maxConnections). */
  evicted: number
  /** Answers to peers that closed their connection (over peerKeepAlive). */
  peerClosed: number
}

/** Per-hop headers (RFC 9110 §7.6.1): never passed on by a relay. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'])

/** One connection: its requests in flight (pipelined ones wait their turn) and its idle timer. */
interface Connection {
  busy: number
  /** Settles when the last request taken on it has been answered. */
  turn: Promise<void>
  idle: NodeJS.Timeout | null
}

export class SegmentWorker {
  readonly #stats = { served: 0, bytes: 0, relayed: 0, relayFailed: 0, refused: 0 }
  readonly #init: SegmentWorkerInit
  readonly #server = createServer((req, res) => this.#take(req, res))
  readonly #cap: ConnectionCap
  readonly #agent = new Agent({ keepAlive: true, maxSockets: SEGMENT_WORKER_DEFAULTS.relaySockets })
  readonly #pool: BufferPool
  /**
   * Tracked here, not by node:http: a server fed connections by `emit('connection')` never
   * listens, so Node neither times out their headers nor can close them on a drain.
   */
  readonly #connections = new Map<Socket, Connection>()
  #draining = false
  #drained: (() => void) | null = null

  constructor(init: SegmentWorkerInit) {
    this.#init = init
    this.#cap = new ConnectionCap({
      maxConnections: init.maxConnections ?? SEGMENT_WORKER_DEFAULTS.maxConnections,
      peerKeepAlive: init.peerKeepAlive ?? SEGMENT_WORKER_DEFAULTS.peerKeepAlive
    })
    this.#cap.attach(this.#server)
    this.#pool = new BufferPool({
      bufferBytes: SEGMENT_READ_DEFAULTS.bufferBytes,
      maxBytes: init.poolBytes ?? SEGMENT_READ_DEFAULTS.poolBytes
    })
  }

  get connections(): number {
    return this.#connections.size
  }

  get stats(): SegmentWorkerStats {
    const cap = this.#cap.stats
    return { ...this.#stats, refused: this.#stats.refused + cap.refused, evicted: cap.evicted, peerClosed: cap.peerClosed }
  }

  /** Pooled buffers lent to answers being sent. */
  get buffersOut(): number {
    return this.#pool.out
  }

  /** A connection the node accepted and handed over. */
  accept(socket: Socket): void {
    // No address: the client is gone already, and a relay could not say who asked.
    if (this.#draining || socket.remoteAddress == null) {
      this.#stats.refused++
      socket.destroy()
      return
    }
    const connection: Connection = { busy: 0, turn: Promise.resolve(), idle: null }
    this.#connections.set(socket, connection)
    this.#idle(socket, connection)
    socket.once('close', () => {
      if (connection.idle != null) clearTimeout(connection.idle)
      this.#connections.delete(socket)
      if (this.#connections.size === 0) this.#drained?.()
    })
    // The cap sees it here: it may close this one, or the one idle longest, at once.
    this.#server.emit('connection', socket)
    // Accepted paused (the node did not read from it): reading starts here.
    socket.resume()
  }

  /** A connection with no request in progress for keepAliveMs (or still sending its first headers) is closed. */
  #idle(socket: Socket, connection: Connection): void {
    if (connection.idle != null) clearTimeout(connection.idle)
    connection.idle = setTimeout(() => {
      if (connection.busy === 0) socket.destroy()
    }, this.#init.idleMs ?? SEGMENT_WORKER_DEFAULTS.keepAliveMs)
    connection.idle.unref()
  }

  /**
   * Stop taking connections; idle ones close now, busy ones after their answer, and whatever is
   * left after `ms`. Resolves when none is left.
   */
  async drain(ms: number): Promise<void> {
    this.#draining = true
    const done = new Promise<void>((resolve) => {
      this.#drained = resolve
    })
    for (const [socket, connection] of this.#connections) if (connection.busy === 0) socket.destroy()
    if (this.#connections.size > 0) {
      const timer = setTimeout(() => {
        for (const socket of this.#connections.keys()) socket.destroy()
      }, ms)
      await done
      clearTimeout(timer)
    }
    this.#agent.destroy()
  }

  /**
   * Requests of one connection are answered one at a time, in order (HTTP/1.1 answers them in
   * order anyway): a client that pipelines thousands of requests opens one file, not thousands.
   */
  #take(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket
    const connection = this.#connections.get(socket)
    if (connection == null || connection.busy >= SEGMENT_WORKER_DEFAULTS.maxPipelined) {
      // Requests parsed from the same read still arrive once it is closed: counted once.
      if (!socket.destroyed) this.#stats.refused++
      socket.destroy()
      return
    }
    connection.busy++
    if (connection.idle != null) clearTimeout(connection.idle)
    const answered = new Promise<void>((resolve) => res.once('close', resolve))
    const turn = connection.turn
    connection.turn = turn.then(async () => await answered)
    res.once('close', () => {
      connection.busy--
      if (connection.busy > 0) return
      if (this.#draining) socket.destroy()
      else this.#idle(socket, connection)
    })
    void turn.then(() => {
      // The connection died while this one waited its turn: nothing to answer.
      if (socket.destroyed) return
      // While draining, each answer closes its connection behind it.
      if (this.#draining) res.shouldKeepAlive = false
      this.#handle(req, res)
    })
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const ref = this.#heldSegment(req)
    if (ref == null) {
      this.#relay(req, res)
      return
    }
    this.#serve(req, res, ref).catch(() => {
      if (res.headersSent) res.destroy()
      else this.#relay(req, res)
    })
  }

  /** The segment a plain viewer's GET/HEAD names, if this node holds it; null: relay. */
  #heldSegment(req: IncomingMessage): { path: string; hash: Buffer; size: number; mtimeMs: number } | null {
    const url = req.url ?? ''
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !url.startsWith('/segments/') || url.includes('?')) return null
    if (req.headers[PEER_HEADER] != null) return null
    const parts = url.slice('/segments/'.length).split('/')
    if (parts.length !== 4) return null
    let decoded: string[]
    try {
      decoded = parts.map((p) => decodeURIComponent(p))
    } catch {
      return null
    }
    const parsed = parseSegmentRef(decoded[0]!, decoded[1]!, decoded[2]!, decoded[3]!)
    if (!parsed.ok || parsed.value.type === 'temp' || parsed.value.hash == null) return null
    const ref = parsed.value
    const segment = this.#init.index.getSegment(ref)
    if (segment == null) return null
    return { path: join(this.#init.segmentsDir, segmentRelPath(ref)), hash: ref.hash!, size: segment.size, mtimeMs: segment.mtimeMs }
  }

  async #serve(
    req: IncomingMessage,
    res: ServerResponse,
    segment: { path: string; hash: Buffer; size: number; mtimeMs: number }
  ): Promise<void> {
    let fh: FileHandle | null = await open(segment.path, 'r')
    try {
      // Only the bytes the index vouches for (as the node's route): anything else is the node's to answer.
      if ((await fh.stat()).size !== segment.size) throw new Error('changed on disk')
      const answer = segmentAnswer(segment, {
        method: req.method ?? 'GET',
        ifNoneMatch: req.headers['if-none-match'],
        ifRange: req.headers['if-range'],
        range: req.headers.range
      })
      if (answer.status === 416) throw new Error('range not satisfiable')
      const headers: OutgoingHttpHeaders = { ...answer.headers, 'access-control-allow-origin': '*' }
      this.#stats.served++
      if (answer.status === 304 || !answer.body) {
        res.writeHead(answer.status, headers).end()
        return
      }
      const { range } = answer
      const length = Number(answer.headers['content-length'])
      // Read whole into a pooled buffer and written with one call; streamed when the pool is spent.
      const body = await readPooled(fh, this.#pool, range?.start ?? 0, length)
      if (body != null) {
        lendUntilSent(this.#pool, body, res)
        res.writeHead(answer.status, headers)
        res.end(body, () => {
          this.#stats.bytes += length
        })
        return
      }
      const stream = fh.createReadStream(
        range == null ? { highWaterMark: SEGMENT_READ_DEFAULTS.chunk } : { ...range, highWaterMark: SEGMENT_READ_DEFAULTS.chunk }
      )
      fh = null // the stream closes it
      res.writeHead(answer.status, headers)
      pipeline(stream, res, (err) => {
        if (err == null) this.#stats.bytes += length
      })
    } finally {
      await fh?.close()
    }
  }

  #relay(req: IncomingMessage, res: ServerResponse): void {
    this.#stats.relayed++
    // Hop-by-hop headers stay here, and so do the ones the Connection header names.
    const perHop = new Set(HOP_HEADERS)
    for (const name of String(req.headers.connection ?? '').split(',')) perHop.add(name.trim().toLowerCase())
    const headers: OutgoingHttpHeaders = {}
    for (const [name, value] of Object.entries(req.headers)) if (!perHop.has(name) && value != null) headers[name] = value
    // A body without a length (chunked from the client) goes on chunked: sent bare, the node
    // would read it as the next request on a shared connection (request smuggling).
    if (req.headers['transfer-encoding'] != null) headers['transfer-encoding'] = 'chunked'
    // The node trusts what this hop says about the client: its address (accept() refused
    // connections without one), and no host or scheme a client claims.
    const forwarded = req.headers['x-forwarded-for']
    const client = req.socket.remoteAddress!
    headers['x-forwarded-for'] = forwarded == null ? client : `${String(forwarded)}, ${client}`
    delete headers['x-forwarded-host']
    delete headers['x-forwarded-proto']
    const upstream = request({ socketPath: this.#init.upstream, method: req.method, path: req.url, headers, agent: this.#agent })
    upstream.on('response', (answer) => {
      const raw: string[] = []
      for (let i = 0; i < answer.rawHeaders.length; i += 2)
        if (!HOP_HEADERS.has(answer.rawHeaders[i]!.toLowerCase())) raw.push(answer.rawHeaders[i]!, answer.rawHeaders[i + 1]!)
      res.writeHead(answer.statusCode ?? 502, raw)
      pipeline(answer, res, () => {})
    })
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      this.#stats.relayFailed++
      const body = JSON.stringify({ error: 'unavailable', message: `the node did not answer: ${err.message}` })
      res.writeHead(502, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body)
    })
    // A client that leaves stops the node's work for it (a cut's ffmpeg, a read-through).
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy()
    })
    // pipe, not pipeline: a failed relay must not destroy the client's socket before the 502.
    req.pipe(upstream)
  }
}
