/**
 * What the simulations observe, read from diagnostics channels (no class is patched). Each
 * message is handed to the probe of the node it belongs to (probe.ts):
 * - segmesh:store:change / segmesh:store:write: store events and backfill writes (stored,
 *   duplicate, refused), by the store's folder;
 * - segmesh:replication:name: a name replication learned and will fetch, by the same folder;
 * - undici request create / body chunks: requests to peers and their bytes, by kind;
 * - net client and server sockets: bytes written to libp2p and HTTP sockets, and how many are open
 *   (socket-bytes.ts). An accepted socket belongs to the node listening on its port; a client
 *   socket to the node whose code opened it. A client socket to a node's port opened outside any
 *   node (the harness's own requests, a fault proxy's) is kept apart, and so is the server end it
 *   reaches in this process: neither is a socket the node holds for the network.
 * The node's faults do not pass through here: they are its hooks (NodeProbe.hooks()).
 */
import diagnostics from 'node:diagnostics_channel'
import {
  type NameLearnedMessage,
  type StoreChangeMessage,
  type StoreWriteMessage,
  nameLearnedChannel,
  storeChangeChannel,
  storeWriteChannel
} from '../lib/diagnostics.ts'
import { type HttpKind, type NodeProbe, type WireKind, currentProbe, defaultProbe } from './probe.ts'
import type net from 'node:net'
import { watchSockets } from './socket-bytes.ts'

let installed = false
/** Listen ports of every node, for classifying sockets; the owner is known for in-process nodes. */
const p2pPorts = new Map<number, NodeProbe | null>()
const httpPorts = new Map<number, NodeProbe | null>()
/** segmentsDir → the in-process node whose store it is. */
const stores = new Map<string, NodeProbe>()
/** Node id → its probe, for the nodes of this process. */
const probes = new Map<number, NodeProbe>()
/** Things that happened outside any node (should stay 0). */
export const unattributed = { storeEvents: 0 }
/** Client sockets to a node's port opened outside any node, by their local port (open ones only). */
const outsiders = new Map<number, net.Socket>()

/**
 * A node's HTTP server socket whose client end is a socket of this process opened outside any node:
 * the harness's own requests. (libp2p dials are all the nodes' own, even the few whose node was
 * not found: their accepted ends count.)
 */
export function reachedFromOutside(socket: net.Socket, kind: WireKind): boolean {
  if (kind !== 'httpServed') return false
  const other = outsiders.get(socket.remotePort ?? -1)
  return other != null && !other.destroyed
}

/**
 * The TCP sockets an in-process node holds now (libp2p both ways, HTTP served, the fetcher's HTTP
 * client sockets), not counting the server ends of the harness's own requests; and the most it
 * held at once (those included), with what they were at that moment. Null for a node not in this process.
 */
export function socketsOf(node: number): { open: Record<WireKind, number>; max: number; maxByKind: Record<WireKind, number> } | null {
  const probe = probes.get(node)
  return probe == null ? null : { open: probe.sockets(reachedFromOutside), max: probe.socketsMax, maxByKind: probe.socketsMaxByKind }
}

/** Client sockets to nodes' ports opened outside any node, open now: to libp2p ports, to HTTP ports. */
export function outsideSockets(): { p2p: number; http: number } {
  let p2p = 0
  for (const s of outsiders.values()) if (p2pPorts.has(s.remotePort ?? -1)) p2p++
  return { p2p, http: outsiders.size - p2p }
}

/** Ports that classify socket writes: libp2p and HTTP listen ports of every node. */
export function watchPorts(p2p: number, http: number): void {
  if (!p2pPorts.has(p2p)) p2pPorts.set(p2p, null)
  if (!httpPorts.has(http)) httpPorts.set(http, null)
}

/** An in-process node: what its store and its servers do is its own. */
export function claimNode(probe: NodeProbe, owned: { segmentsDir: string; p2pPort: number; httpPort: number }): void {
  stores.set(owned.segmentsDir, probe)
  probes.set(probe.node, probe)
  p2pPorts.set(owned.p2pPort, probe)
  httpPorts.set(owned.httpPort, probe)
}

export function installInstrumentation(): void {
  if (installed) return
  installed = true
  subscribeStore()
  subscribeUndici()
  subscribeSockets()
}

function storeOwner(segmentsDir: string): NodeProbe | null {
  const probe = stores.get(segmentsDir) ?? defaultProbe()
  if (probe == null) unattributed.storeEvents++
  return probe
}

function subscribeStore(): void {
  storeChangeChannel.subscribe((message) => {
    const { segmentsDir, kind, path } = message as StoreChangeMessage
    storeOwner(segmentsDir)?.record(kind, path)
  })
  storeWriteChannel.subscribe((message) => {
    const { segmentsDir, path, outcome, size } = message as StoreWriteMessage
    storeOwner(segmentsDir)?.record(`fetch-${outcome}`, path, size)
  })
  nameLearnedChannel.subscribe((message) => {
    const { segmentsDir, path } = message as NameLearnedMessage
    storeOwner(segmentsDir)?.record('name', path)
  })
}

interface UndiciRequest {
  path?: string
  origin?: string | URL
}
const owners = new WeakMap<object, { probe: NodeProbe; kind: HttpKind }>()

const segmentPathOf = (request: UndiciRequest): string => decodeURIComponent(request.path!.slice('/segments/'.length).split('?')[0]!)
const originOf = (request: UndiciRequest): string | undefined => (request.origin == null ? undefined : String(request.origin))

function kindOf(path: string): HttpKind {
  if (path.startsWith('/segments/')) return 'segment'
  if (path.startsWith('/replication/digests')) return 'digests'
  if (path.startsWith('/files/')) return 'listing'
  return 'other'
}

function subscribeUndici(): void {
  // Published synchronously inside request(): the fetcher's hook runs it as its node (probe.ts).
  diagnostics.subscribe('undici:request:create', (message) => {
    const { request } = message as { request: UndiciRequest }
    const probe = currentProbe()
    if (probe == null || request.path == null) return
    const kind = kindOf(request.path)
    owners.set(request, { probe, kind })
    probe.counters.http[kind].requests++
    if (kind === 'segment') probe.record('fetch-request', segmentPathOf(request), undefined, originOf(request))
  })
  // A busy answer (upload slots full) sent no bytes: counted apart, so the load a node carried is
  // what it served.
  diagnostics.subscribe('undici:request:headers', (message) => {
    const { request, response } = message as { request: UndiciRequest; response: { statusCode: number } }
    const owner = owners.get(request)
    if (owner?.kind === 'segment' && response.statusCode === 503)
      owner.probe.record('fetch-busy', segmentPathOf(request), undefined, originOf(request))
  })
  diagnostics.subscribe('undici:request:bodyChunkReceived', (message) => {
    const { request, chunk } = message as { request: object; chunk: Uint8Array }
    const owner = owners.get(request)
    if (owner != null) owner.probe.counters.http[owner.kind].bytes += chunk.byteLength
  })
}

function subscribeSockets(): void {
  watchSockets({
    accepted: (socket) => {
      const port = socket.localPort ?? -1
      const kind: WireKind | null = p2pPorts.has(port) ? 'p2p' : httpPorts.has(port) ? 'httpServed' : null
      const probe = p2pPorts.get(port) ?? httpPorts.get(port) ?? defaultProbe()
      if (kind != null && probe != null) probe.trackSocket(socket, kind)
    },
    opening: () => {
      const probe = currentProbe()
      if (probe == null)
        return (socket) => {
          const port = socket.remotePort ?? -1
          const local = socket.localPort
          if (local == null || (!p2pPorts.has(port) && !httpPorts.has(port))) return
          outsiders.set(local, socket)
          socket.once('close', () => {
            if (outsiders.get(local) === socket) outsiders.delete(local)
          })
        }
      return (socket) => {
        const port = socket.remotePort ?? -1
        const kind: WireKind | null = p2pPorts.has(port) ? 'p2p' : httpPorts.has(port) ? 'httpRequested' : null
        if (kind != null) probe.trackSocket(socket, kind)
      }
    }
  })
}
