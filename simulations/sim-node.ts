/**
 * What the harness needs of a node, whether it runs in this process (in-process-node.ts) or as
 * `bin/segmesh start` in a child process (child-node.ts), plus the HTTP calls both share.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { type NodeCounters, addCounters, emptyNodeCounters } from './counters.ts'
import type { GossipFaults, ProbeEvent } from './probe.ts'
import type { SyntheticSegment } from './segments.ts'

export const ADMIN_TOKEN = 'segmesh-sim-admin'

/**
 * Every node's --peer-ban-seconds: the product's 10 minutes compressed, as the digest interval is,
 * so that a peer banned for bad bytes that turns honest again (lying-peer) is asked again for its
 * own segments within a run's convergence bound.
 */
export const PEER_BAN_SECONDS = 5

/**
 * Every simulated node listens on 127.0.0.1, where a real network gives each node its own IP. Two
 * per-IP defaults would treat the whole cluster as one abusive host: gossipsub's IP-colocation
 * penalty (past 10 peers on one IP, −5·excess² each: below the graylist at 14) and 5 new inbound
 * connections a second per IP. Both are lifted here, as distinct hosts would not meet them;
 * SEGSIM_SHARED_IP=1 keeps them (what they do to nodes that really share an IP, behind one NAT).
 */
export const ONE_HOST_FLAGS: Readonly<Record<string, string>> =
  process.env.SEGSIM_SHARED_IP === '1' ? {} : { 'p2p-same-ip-peers': '0', 'p2p-inbound-per-ip-per-second': '1000' }

export interface SimNodeInit {
  id: number
  /** The node's own folder: data, control files, logs. */
  dir: string
  httpPort: number
  p2pPort: number
  /** The URL peers fetch from: a fault proxy in front of the node, or its own. */
  publicUrl: string
  digestIntervalSeconds: number
  seed: number
  /** More `segmesh start` flags (child nodes only), e.g. `--record NAME=URL`. */
  args?: string[]
}

/** Where a node lives and is reached: the same for a child and an in-process node. */
export function simNodePlace(init: SimNodeInit): Pick<SimNode, 'id' | 'dataDir' | 'url' | 'publicUrl'> {
  return { id: init.id, dataDir: join(init.dir, 'data'), url: `http://127.0.0.1:${init.httpPort}`, publicUrl: init.publicUrl }
}

/** `channel/quality` → hour → digest, as GET /replication/digests gives them. */
export type DigestMap = Map<string, Map<string, string>>

export interface SimNode {
  readonly id: number
  readonly dataDir: string
  /** The node's own HTTP URL (the harness talks to it directly). */
  readonly url: string
  readonly publicUrl: string
  readonly up: boolean
  /** Known after the first start; stable across restarts (the key is in the data folder). */
  readonly peerId: string | null
  readonly multiaddr: string | null
  /** OS process id for child nodes. */
  readonly pid: number | null
  start: (bootstrap: string | null) => Promise<void>
  /** Graceful: drain, stop replication, close the index. */
  stop: () => Promise<void>
  /** Abrupt: SIGKILL for a child; a stop without drain in one process. */
  kill: () => Promise<void>
  /**
   * Place a segment on the node; resolves once the node lists it (acknowledged), or, for a child
   * killed meanwhile, once it is on the node's disk (its restart indexes it).
   */
  write: (segment: SyntheticSegment) => Promise<void>
  /** This node's side of the partition (peer ids and URLs it must not reach), and gossip faults. */
  setFaults: (blocked: { peerIds: string[]; urls: string[] }, gossip: GossipFaults) => Promise<void>
  digests: () => Promise<DigestMap>
  /** Summed over every incarnation so far. */
  counters: () => Promise<NodeCounters>
  /** Memory of the node's own process, bytes (null in one process, where nodes share a heap). */
  memory: () => Promise<{ rss: number; heapUsed: number | null } | null>
  events: () => Promise<ProbeEvent[]>
  /** CPU time of the node's own process so far, s (null in one process). */
  cpuSeconds: () => Promise<number | null>
  /** Exits nobody asked for (a crash); always none in one process, where a crash ends the run. */
  readonly crashes: readonly NodeCrash[]
}

export interface NodeCrash {
  /** Wall-clock ms. */
  at: number
  code: number | null
  signal: string | null
  /** The end of the node's log when it exited. */
  logTail: string
}

/** Sums counters across restarts: the running incarnation's plus every finished one's. */
export class CounterCarry {
  #done = emptyNodeCounters()

  total(current: NodeCounters | null): NodeCounters {
    return current == null ? this.#done : addCounters(this.#done, current)
  }

  finish(last: NodeCounters | null): void {
    if (last != null) this.#done = addCounters(this.#done, last)
  }
}

/** What a node holds itself, not what it would read through from its peers. */
export const OWN_ONLY = Object.freeze({ 'cache-control': 'only-if-cached' })

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await request(url, { headers, headersTimeout: 60_000, bodyTimeout: 60_000 })
  const text = await res.body.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.statusCode, body }
}

export async function postAdmin(url: string, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await request(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    headersTimeout: 60_000,
    bodyTimeout: 60_000
  })
  return { status: res.statusCode, body: await res.body.json().catch(() => null) }
}

/** GET /replication/digests as a DigestMap. */
export async function fetchDigests(url: string): Promise<DigestMap> {
  const { status, body } = await getJson(`${url}/replication/digests?from=0`)
  if (status !== 200) throw new Error(`GET ${url}/replication/digests: ${status}`)
  const out: DigestMap = new Map()
  for (const q of (body as { qualities: Array<{ channel: string; quality: string; hours: Array<{ hour: string; digest: string }> }> })
    .qualities) {
    out.set(`${q.channel}/${q.quality}`, new Map(q.hours.map((h) => [h.hour, h.digest])))
  }
  return out
}

/** User + system CPU time of a process, s (from /proc, in clock ticks of 1/100 s). */
export async function cpuOf(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  if (stat == null) return null
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Resident set size of a process, bytes. */
export async function rssOf(pid: number): Promise<number | null> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null)
  const m = status == null ? null : /VmRSS:\s+(\d+)/.exec(status)
  return m == null ? null : Number(m[1]) * 1024
}
