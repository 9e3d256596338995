/**
 * Read-through segments: `GET /segments/...` for a name this node does not hold is fetched from a
 * peer that may hold it, streamed to the client as the bytes arrive, and stored through the store's
 * normal write path (temp → fsync → verify → rename → index) at the same time.
 *
 * - The bytes are hashed as they pass. The client's body ends only once they matched the name; a
 *   mismatch aborts the response (the client sees a cut connection, never wrong bytes), nothing is
 *   stored, and that peer is not asked for that name again for a while.
 * - One upstream fetch per name: a request that comes while one runs waits for it and is served
 *   from disk (Range and revalidations take that path too). A HEAD on its own asks the peers with
 *   HEAD and fetches nothing.
 * - Never for a tombstoned name, never for a request from another node (PEER_HEADER): a miss
 *   must not cascade from node to node, and never with `Cache-Control: only-if-cached` (what a
 *   monitor or a test sends to ask what this node itself holds).
 * - Bounded: `maxActive` fetches at once (past it, 503 busy); at most `maxAsked` peers per name;
 *   names no peer had are remembered (`missMemory` names for `missMs`) so a client asking for
 *   made-up names costs at most one round of requests per name; peers that sent wrong bytes are
 *   remembered per name the same way.
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { type Agent, type Dispatcher, request } from 'undici'
import { unexpired } from '../lib/expiry-map.ts'
import { createAgent, peerDispatcher, discardBody } from '../lib/http-client.ts'
import { type Logger, silentLogger } from '../lib/logger.ts'
import { PEER_HEADER, segmentPath } from '../replication/fetch-http.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { HashMismatchError } from '../storage/errors.ts'
import { segmentHeaders } from './segment-routes.ts'

/** On a response streamed from a peer: `peer`. */
export const READ_THROUGH_HEADER = 'x-segmesh-read-through'

export const READ_THROUGH_DEFAULTS = Object.freeze({
  /** An upstream fetch holds a connection, a temp file and ~100 KiB of buffers: 64 of them ~6 MiB. */
  maxActive: 64,
  maxAsked: 4,
  missMemory: 4096,
  missMs: 10_000,
  /** How long a fetch keeps asking peers that answered busy (upload slots full), and how often. */
  busyWaitMs: 5000,
  busyRetryMs: 250,
  connectTimeoutMs: 3000,
  readTimeoutMs: 10_000
})

export interface ReadThroughInit {
  store: SegmentStore
  /** URLs of peers that may hold `ref`, best first (the node: connected peers, shuffled). */
  candidates: (ref: SegmentRef) => string[]
  /**
   * This node's URL, sent as PEER_HEADER so the holder counts the download against its upload
   * slots (read when the first fetch starts: the node knows it once its HTTP listener is up).
   */
  ownUrl?: () => string
  /**
   * Whether this node keeps `ref`'s channel/quality (--keep): what it does not keep is streamed to
   * the client and checked, but not stored. @default everything
   */
  keeps?: (ref: SegmentRef) => boolean
  /** Called when a fetch starts; the function it returns when it ends (the replicator does not announce what was fetched). */
  onFetch?: (ref: SegmentRef) => () => void
  log?: Logger
  /** Composed into the dispatcher of every request to a peer, first outermost (node/hooks.ts: the simulations' partitions). */
  interceptors?: Dispatcher.DispatcherComposeInterceptor[]
  maxActive?: number
  maxAsked?: number
  missMemory?: number
  missMs?: number
}

/** What the route does next: serve from disk (the name is now stored), or answer with this. */
export type ReadThroughResult = { kind: 'local' } | { kind: 'sent' } | { kind: 'missing'; why: string } | { kind: 'busy' }

/**
 * Why `request` is answered from this node's disk alone, or null when peers may be asked: another
 * node's request (a miss must not cascade from node to node), or `Cache-Control: only-if-cached`
 * (what a monitor or a test sends to ask what this node itself holds).
 */
export function localOnly(request: FastifyRequest): string | null {
  if (request.headers[PEER_HEADER] != null) return 'peers are not read through'
  if (/\bonly-if-cached\b/.test(request.headers['cache-control'] ?? '')) return 'only-if-cached'
  return null
}

export class ReadThrough {
  readonly #init: ReadThroughInit
  readonly #opts: Required<Pick<ReadThroughInit, 'maxActive' | 'maxAsked' | 'missMemory' | 'missMs'>>
  readonly #log: Logger
  /** Name → the fetch running for it, settling true once the name is stored here. */
  readonly #inFlight = new Map<string, Promise<FetchEnd>>()
  /** Name → until when (ms) it counts as held by no peer asked. Oldest first. */
  readonly #missed = new Map<string, number>()
  /** `name peerUrl` → until when (ms) that peer is not asked for that name (it sent wrong bytes). */
  readonly #liars = new Map<string, number>()
  #agent: Agent | null = null
  #dispatch: Dispatcher | null = null
  #headers: Record<string, string> | null = null
  /** HEAD requests asking peers now (counted with the fetches against maxActive). */
  #heads = 0
  /** Pass-through fetches (channels this node does not keep) now, counted against maxActive too. */
  #passing = 0
  readonly stats = { fetches: 0, stored: 0, passed: 0, mismatches: 0, misses: 0, busy: 0 }

  constructor(init: ReadThroughInit) {
    this.#init = init
    this.#log = init.log ?? silentLogger
    this.#opts = {
      maxActive: init.maxActive ?? READ_THROUGH_DEFAULTS.maxActive,
      maxAsked: init.maxAsked ?? READ_THROUGH_DEFAULTS.maxAsked,
      missMemory: init.missMemory ?? READ_THROUGH_DEFAULTS.missMemory,
      missMs: init.missMs ?? READ_THROUGH_DEFAULTS.missMs
    }
  }

  get active(): number {
    return this.#inFlight.size
  }

  async start(): Promise<void> {
    if (this.#agent != null) return
    this.#agent = createAgent({
      connections: this.#opts.maxActive,
      connectTimeoutMs: READ_THROUGH_DEFAULTS.connectTimeoutMs,
      readTimeoutMs: READ_THROUGH_DEFAULTS.readTimeoutMs
    })
    this.#dispatch = peerDispatcher(this.#agent, this.#init.interceptors)
  }

  /** After the HTTP listener: waits for the fetches its last requests started. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#inFlight.values())
    const agent = this.#agent
    this.#agent = null
    this.#dispatch = null
    await agent?.close()
  }

  /**
   * Handle a request for `ref`, which this node does not hold and is not tombstoned. A plain GET
   * that starts the fetch is streamed (`sent`); every other request waits for the fetch and is
   * served from disk (`local`).
   */
  async serve(request: FastifyRequest, reply: FastifyReply, ref: SegmentRef): Promise<ReadThroughResult> {
    const key = segmentRelPath(ref)
    const local = localOnly(request)
    if (local != null) return { kind: 'missing', why: `not held here (${local})` }
    const storing = this.#init.keeps?.(ref) !== false
    const running = storing ? this.#inFlight.get(key) : undefined
    let passOn = !storing
    if (running != null) {
      const end = await running
      // Only a fetch that found no room to store (its bytes went to its own client) leaves this
      // request to fetch for itself, passed on unstored; a busy or missing end is this one's too.
      if (end !== 'refused' && end !== 'passed') return ended(end)
      passOn = true
    }
    if (this.#isMissed(key)) return { kind: 'missing', why: 'no peer asked had it' }
    if (this.#inFlight.size + this.#heads + this.#passing >= this.#opts.maxActive || this.#dispatch == null) {
      this.stats.busy++
      return { kind: 'busy' }
    }
    if (request.method === 'HEAD') return await this.#head(ref, key, reply)
    if (passOn) return await this.#passThrough(ref, key, reply)
    const live = request.method === 'GET' && request.headers.range == null && request.headers['if-none-match'] == null
    let answered: (sent: boolean) => void = () => {}
    const sent = new Promise<boolean>((resolve) => {
      answered = resolve
    })
    const stored = this.#start(ref, key, live ? { reply, answered, started: false } : null)
    if (live && (await Promise.race([sent, stored.then(() => false)]))) return { kind: 'sent' }
    return ended(await stored)
  }

  /**
   * Have `ref` stored here for this node's own use (a cut or a frame of a range it lacks), under
   * the same rules as a client's request: one fetch per name, misses remembered, `maxActive`.
   */
  async ensure(ref: SegmentRef): Promise<'stored' | 'missing' | 'busy'> {
    if (this.#init.store.index.getSegment(ref) != null) return 'stored'
    const key = segmentRelPath(ref)
    const running = this.#inFlight.get(key)
    if (running != null) {
      const end = await running
      return end === 'stored' || end === 'busy' ? end : 'missing'
    }
    if (this.#isMissed(key)) return 'missing'
    if (this.#inFlight.size + this.#heads >= this.#opts.maxActive || this.#dispatch == null) {
      this.stats.busy++
      return 'busy'
    }
    const end = await this.#start(ref, key, null)
    return end === 'stored' || end === 'busy' ? end : 'missing'
  }

  /**
   * A name of a channel this node does not keep: this request gets its own fetch, streamed and
   * checked as any, stored nowhere (a `Range` is answered with the whole body, as HTTP allows).
   */
  async #passThrough(ref: SegmentRef, key: string, reply: FastifyReply): Promise<ReadThroughResult> {
    this.#passing++
    try {
      let answered: (sent: boolean) => void = () => {}
      const sent = new Promise<boolean>((resolve) => {
        answered = resolve
      })
      const passed = this.#fetch(ref, key, { reply, answered, started: false }, false)
      if (await Promise.race([sent, passed.then(() => false)])) {
        await passed
        return { kind: 'sent' }
      }
      return ended(await passed)
    } finally {
      this.#passing--
    }
  }

  #start(ref: SegmentRef, key: string, live: Live | null): Promise<FetchEnd> {
    const stored = this.#fetch(ref, key, live)
    this.#inFlight.set(key, stored)
    void stored.finally(() => {
      if (this.#inFlight.get(key) === stored) this.#inFlight.delete(key)
    })
    return stored
  }

  /** A HEAD asks the peers with HEAD in turn: the first that holds the name answers it; nothing is fetched. */
  async #head(ref: SegmentRef, key: string, reply: FastifyReply): Promise<ReadThroughResult> {
    this.#heads++
    try {
      const asked = this.#init.candidates(ref).slice(0, this.#opts.maxAsked)
      let failed = false
      for (const url of asked) {
        let response: Dispatcher.ResponseData
        try {
          response = await request(url + segmentPath(ref), { method: 'HEAD', dispatcher: this.#dispatch!, headers: this.#peerHeaders() })
        } catch {
          failed = true
          continue
        }
        await discardBody(response)
        if (response.statusCode !== 200) {
          if (response.statusCode !== 404 && response.statusCode !== 410) failed = true
          continue
        }
        this.#describe(reply, ref, response.headers['content-length'])
        reply.send()
        return { kind: 'sent' }
      }
      this.stats.misses++
      // The same rule as a GET's: remembered only when every peer asked said 404.
      if (failed) return { kind: 'busy' }
      if (asked.length > 0) this.#remember(this.#missed, key)
      return { kind: 'missing', why: 'no peer asked had it' }
    } finally {
      this.#heads--
    }
  }

  /** The headers of a body this node streams (or, for HEAD, would stream) from a peer. */
  #describe(reply: FastifyReply, ref: SegmentRef, length: string | string[] | undefined): void {
    segmentHeaders(reply, ref.hash!)
    reply.header(READ_THROUGH_HEADER, 'peer')
    if (typeof length === 'string') reply.header('content-length', length)
  }

  #peerHeaders(): Record<string, string> {
    const own = this.#init.ownUrl
    this.#headers ??= { accept: 'video/mp2t', ...(own == null ? {} : { [PEER_HEADER]: own() }) }
    return this.#headers
  }

  /** Ask the candidates in turn until one's bytes are stored (or, not `storing`, passed on whole and checked). */
  async #fetch(ref: SegmentRef, key: string, live: Live | null, storing = true): Promise<FetchEnd> {
    this.stats.fetches++
    const done = this.#init.onFetch?.(ref) ?? (() => {})
    let store = storing
    let failed = false
    try {
      const asked = this.#init.candidates(ref).filter((url) => !this.#isLiar(key, url))
      const busyUntil = Date.now() + READ_THROUGH_DEFAULTS.busyWaitMs
      let round = asked.slice(0, this.#opts.maxAsked)
      for (;;) {
        const busy: string[] = []
        for (let i = 0; i < round.length; i++) {
          const got = await this.#tryPeer(ref, key, round[i]!, live, store)
          if (got === true) {
            if (store) this.stats.stored++
            else this.stats.passed++
            // Passed on after a refused store: nothing is on disk for those who waited on this fetch.
            return store || !storing ? 'stored' : 'passed'
          }
          if (got === 'refused') {
            // No room here (the disk or its budget): a client not yet answered gets the bytes passed
            // on from the same peer; anything else ends, and no peer is blamed for it.
            if (live == null || live.started) return 'refused'
            store = false
            i--
            continue
          }
          if (got === 'busy') busy.push(round[i]!)
          if (got === false || got === 'busy') failed = true
          // A client whose response started got a cut body and is gone; the rest only stores.
          if (live?.started === true) live = null
        }
        // Peers whose upload slots were full are asked again after a moment, for a few seconds.
        if (busy.length === 0 || Date.now() >= busyUntil) break
        await sleep(READ_THROUGH_DEFAULTS.busyRetryMs * (0.5 + Math.random()))
        round = busy
      }
      this.stats.misses++
      // A miss is remembered only when every peer asked said it has no such name; one that was
      // busy (its upload slots full) or failed may have it a moment later.
      if (failed) return 'busy'
      // With no peer to ask (none connected yet) there is nothing to remember.
      if (asked.length > 0) this.#remember(this.#missed, key)
      return 'missing'
    } finally {
      live?.answered(false)
      done()
    }
  }

  /** One peer: true once its bytes are stored (or passed on and checked). */
  async #tryPeer(
    ref: SegmentRef,
    key: string,
    url: string,
    live: Live | null,
    storing: boolean
  ): Promise<boolean | 'refused' | 'absent' | 'busy'> {
    let response: Dispatcher.ResponseData
    try {
      if (this.#dispatch == null) return false
      response = await request(url + segmentPath(ref), { dispatcher: this.#dispatch, headers: this.#peerHeaders() })
    } catch (err) {
      this.#log.debug({ peer: url, segment: key, err }, 'read-through request failed')
      return false
    }
    if (response.statusCode !== 200) {
      await discardBody(response)
      if (response.statusCode === 503) return 'busy'
      return response.statusCode === 404 || response.statusCode === 410 ? 'absent' : false
    }
    const length = response.headers['content-length']
    const hash = createHash('sha256')
    // The client's response starts with the first chunk the store takes: a store that refuses
    // the write (disk full, a tombstone) leaves the route free to answer properly.
    let client: PassThrough | null = null
    const start = (): void => {
      if (live == null) return
      const body = new PassThrough()
      const { reply } = live
      this.#describe(reply, ref, length)
      reply.send(body)
      live.started = true
      live.answered(true)
      client = body
      // A client that leaves does not stop the store's copy.
      body.once('close', () => {
        client = null
      })
    }
    // Each chunk goes to the client once the next has come: the last one only after the hash
    // matched, so a client can never hold the whole of wrong bytes (its body is cut short).
    let held: Uint8Array | null = null
    const forward = async (chunk: Uint8Array | null): Promise<void> => {
      const to = client as PassThrough | null
      if (held != null && to != null && !to.write(held)) await Promise.race([once(to, 'drain'), once(to, 'close')])
      held = chunk
    }
    const source = async function* (): AsyncGenerator<Uint8Array> {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        if (live?.started !== true) start()
        hash.update(chunk)
        yield chunk
        await forward(chunk)
      }
      const to = client as PassThrough | null
      if (!hash.digest().equals(ref.hash!)) {
        to?.destroy(new Error(`bytes of ${key} from ${url} do not match the name`))
        // The store's write checks the hash itself; a pass-through has only this check.
        if (!storing) throw new HashMismatchError(`bytes of ${key} from ${url} do not match the name`)
        return
      }
      await forward(null)
      to?.end()
    }
    try {
      if (storing) await this.#init.store.writeSegment(ref, source(), { read: true })
      else
        for await (const _chunk of source()) {
          // Each chunk went to the client inside source(); nothing is kept.
        }
      return true
    } catch (err) {
      ;(client as PassThrough | null)?.destroy(err as Error)
      if ((err as { code?: string }).code === 'SEGMESH_ERR_DISK_FULL') return 'refused'
      if ((err as { code?: string }).code === 'SEGMESH_ERR_HASH_MISMATCH') {
        this.stats.mismatches++
        this.#remember(this.#liars, `${key} ${url}`)
        this.#log.warn({ peer: url, segment: key }, 'read-through: peer sent bytes that do not match the name')
      } else {
        this.#log.debug({ peer: url, segment: key, err }, 'read-through failed')
      }
      return false
    } finally {
      response.body.destroy()
    }
  }

  #remember(memory: Map<string, number>, key: string): void {
    memory.delete(key)
    memory.set(key, Date.now() + this.#opts.missMs)
    if (memory.size > this.#opts.missMemory) memory.delete(memory.keys().next().value!)
  }

  #isMissed(key: string): boolean {
    return unexpired(this.#missed, key)
  }

  #isLiar(key: string, url: string): boolean {
    return unexpired(this.#liars, `${key} ${url}`)
  }
}

/**
 * How a fetch ended: stored (or passed on whole), no peer asked has the name (`missing`), peers
 * busy or failing (`busy`: ask again), or no room to store it here (`refused`).
 */
type FetchEnd = 'stored' | 'passed' | 'missing' | 'busy' | 'refused'

function ended(end: FetchEnd): ReadThroughResult {
  if (end === 'stored') return { kind: 'local' }
  if (end === 'busy') return { kind: 'busy' }
  return { kind: 'missing', why: end === 'refused' || end === 'passed' ? 'no room to store it here' : 'no peer asked had it' }
}

interface Live {
  reply: FastifyReply
  /** The response has started (true), or the fetch ended without starting it (false). */
  answered: (sent: boolean) => void
  started: boolean
}
