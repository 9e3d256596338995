/**
 * Instrumentation installed once per process by patching prototypes and subscribing to undici's
 * diagnostics channels, so the node code stays untouched. Each hook finds the probe of the node
 * whose code is running (probe.ts) and records there, or applies that node's faults:
 * - SegmentStore.emit / writeSegment: store events and backfill writes (stored, duplicate, refused)
 * - P2PHost.start / Fetcher.start: a new host or fetcher starts with the node's partition applied
 * - Replicator.start: the probe keeps the replicator for its stats
 * - P2PHost.onMessage: received gossip goes through the loss/delay gate
 * - undici request create / body chunks: requests to peers and their bytes, by kind
 * - net.Socket.write: bytes written to libp2p and HTTP sockets
 * - net.Server.listen / emit('connection'): sockets a node's servers accept belong to that node
 */
import diagnostics from 'node:diagnostics_channel'
import net from 'node:net'
import { Fetcher } from '../replication/fetcher.ts'
import { P2PHost } from '../replication/host.ts'
import { Replicator } from '../replication/replicator.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { type HttpKind, type NodeProbe, bindResource, currentProbe, runAs } from './probe.ts'

let installed = false
const ports = { p2p: new Set<number>(), http: new Set<number>() }
/** Things that happened outside any node (should stay 0). */
export const unattributed = { storeEvents: 0, gossip: 0 }

/** Ports that classify socket writes: libp2p and HTTP listen ports of every node. */
export function watchPorts (p2p: number, http: number): void {
  ports.p2p.add(p2p)
  ports.http.add(http)
}

export function installInstrumentation (): void {
  if (installed) return
  installed = true
  patchStore()
  patchHost()
  patchFetcher()
  patchReplicator()
  subscribeUndici()
  patchSockets()
  patchServers()
}

function patchStore (): void {
  const proto = SegmentStore.prototype
  const emit = proto.emit
  proto.emit = function (this: SegmentStore, event) {
    const probe = currentProbe()
    if (probe == null) unattributed.storeEvents++
    else probe.record(event.kind, segmentRelPath(event.ref))
    emit.call(this, event)
  }
  const writeSegment = proto.writeSegment
  proto.writeSegment = async function (this: SegmentStore, ref: SegmentRef, body, options) {
    const probe = currentProbe()
    try {
      const result = await writeSegment.call(this, ref, body, options)
      probe?.record(result.created ? 'fetch-stored' : 'fetch-duplicate', segmentRelPath(ref), result.size)
      return result
    } catch (err) {
      if ((err as { code?: string }).code === 'SEGMESH_ERR_TOMBSTONED') probe?.record('fetch-refused', segmentRelPath(ref))
      throw err
    }
  }
}

function patchHost (): void {
  const proto = P2PHost.prototype
  const start = proto.start
  // Blocked before the node goes on to start its replicator: no hello or gossip crosses the cut.
  proto.start = async function (this: P2PHost) {
    await start.call(this)
    const probe = currentProbe()
    if (probe != null) {
      probe.host = this
      await this.block(probe.blockedPeers)
    }
  }
  const onMessage = proto.onMessage
  proto.onMessage = function (this: P2PHost, handler) {
    return onMessage.call(this, (from, data) => {
      const probe = currentProbe()
      if (probe == null) {
        unattributed.gossip++
        handler(from, data)
        return
      }
      probe.gate(() => handler(from, data), data)
    })
  }
}

function patchFetcher (): void {
  const proto = Fetcher.prototype
  const start = proto.start
  proto.start = async function (this: Fetcher) {
    const probe = currentProbe()
    if (probe != null) {
      probe.fetcher = this
      this.block(probe.blockedUrls)
    }
    await start.call(this)
  }
}

function patchReplicator (): void {
  const proto = Replicator.prototype
  const start = proto.start
  proto.start = async function (this: Replicator) {
    const probe = currentProbe()
    if (probe != null) probe.replicator = this
    await start.call(this)
  }
}

interface UndiciRequest { path?: string, origin?: string | URL }
const owners = new WeakMap<object, { probe: NodeProbe, kind: HttpKind }>()

function kindOf (path: string): HttpKind {
  if (path.startsWith('/segments/')) return 'segment'
  if (path.startsWith('/replication/digests')) return 'digests'
  if (path.startsWith('/files/')) return 'listing'
  return 'other'
}

function subscribeUndici (): void {
  // Published synchronously inside request(), so the caller's node is the current probe.
  diagnostics.subscribe('undici:request:create', (message) => {
    const { request } = message as { request: UndiciRequest }
    const probe = currentProbe()
    if (probe == null || request.path == null) return
    const kind = kindOf(request.path)
    owners.set(request, { probe, kind })
    probe.counters.http[kind].requests++
    if (kind === 'segment') probe.record('fetch-request', decodeURIComponent(request.path.slice('/segments/'.length).split('?')[0]!), undefined, request.origin == null ? undefined : String(request.origin))
  })
  diagnostics.subscribe('undici:request:bodyChunkReceived', (message) => {
    const { request, chunk } = message as { request: object, chunk: Uint8Array }
    const owner = owners.get(request)
    if (owner != null) owner.probe.counters.http[owner.kind].bytes += chunk.byteLength
  })
}

/**
 * Connections a node's servers (libp2p TCP, HTTP) accept belong to that node: the server is
 * remembered with the node listening on it, and each accepted socket's handle is bound to it.
 */
function patchServers (): void {
  const owners = new WeakMap<net.Server, NodeProbe>()
  const proto = net.Server.prototype as unknown as {
    listen: (this: net.Server, ...args: unknown[]) => net.Server
    emit: (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean
  }
  const listen = proto.listen
  proto.listen = function (this: net.Server, ...args: unknown[]): net.Server {
    const probe = currentProbe()
    if (probe != null) owners.set(this, probe)
    return listen.apply(this, args)
  }
  const emit = proto.emit
  proto.emit = function (this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
    const probe = event === 'connection' ? owners.get(this) : undefined
    if (probe == null) return emit.call(this, event, ...args)
    const handle = (args[0] as { _handle?: object } | undefined)?._handle
    if (handle != null) bindResource(handle, probe)
    return runAs(probe, () => emit.call(this, event, ...args))
  }
}

function patchSockets (): void {
  const proto = net.Socket.prototype as unknown as { write: (this: net.Socket, ...args: unknown[]) => boolean }
  const write = proto.write
  proto.write = function (this: net.Socket, ...args: unknown[]): boolean {
    const probe = currentProbe()
    if (probe != null) {
      const chunk = args[0]
      const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.byteLength : 0
      const wire = probe.counters.wire
      if (ports.p2p.has(this.localPort ?? -1) || ports.p2p.has(this.remotePort ?? -1)) wire.p2p += n
      else if (ports.http.has(this.localPort ?? -1)) wire.httpServed += n
      else if (ports.http.has(this.remotePort ?? -1)) wire.httpRequested += n
    }
    return write.apply(this, args)
  }
}
