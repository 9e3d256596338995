/**
 * One HTTP worker process (node/http-workers.ts forks it): opens the node's index read-only, then
 * serves the connections the node hands it (http/segment-worker.ts). It reports its counts every
 * second, drains when told, and exits when the node is gone (its IPC channel closes).
 */
import type { Socket } from 'node:net'
import { SegmentWorker, type SegmentWorkerStats } from '../http/segment-worker.ts'
import { SegmentIndex } from '../storage/segment-index.ts'

/** The node → worker messages. */
export type WorkerInit = {
  type: 'init'
  indexPath: string
  mapSize: number
  segmentsDir: string
  upstream: string
  /** This worker's share of the node's --http-max-connections and --http-peer-keepalive. */
  maxConnections: number
  peerKeepAlive: number
}
type NodeMessage = WorkerInit | { type: 'conn'; id: number } | { type: 'drain'; ms: number }

/** The worker → node messages. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'stats'; stats: SegmentWorkerStats; connections: number }
  /** A connection arrived (the node closes its own copy). */
  | { type: 'took'; id: number }

const STATS_INTERVAL_MS = 1000

const send = (msg: WorkerMessage): void => {
  if (process.connected) process.send?.(msg)
}

let worker: SegmentWorker | null = null
let index: SegmentIndex | null = null
let stopping = false

async function stop(ms: number): Promise<void> {
  if (stopping) return
  stopping = true
  await worker?.drain(ms)
  if (worker != null) send({ type: 'stats', stats: worker.stats, connections: 0 })
  await index?.stop()
  process.exit(0)
}

process.on('message', (msg: NodeMessage, handle?: Socket) => {
  if (msg.type === 'conn') {
    // Said even when no socket came with it: the node then forgets the hand-over.
    send({ type: 'took', id: msg.id })
    if (handle == null) return
    if (worker == null) handle.destroy()
    else worker.accept(handle)
  } else if (msg.type === 'drain') void stop(msg.ms)
  else if (msg.type === 'init' && worker == null) {
    try {
      index = new SegmentIndex(msg.indexPath, { mapSize: msg.mapSize, readOnly: true })
      // Synchronous under the hood (LMDB's open); awaited for the Startable contract.
      void index.start().then(() => {
        worker = new SegmentWorker({
          index: index!,
          segmentsDir: msg.segmentsDir,
          upstream: msg.upstream,
          maxConnections: msg.maxConnections,
          peerKeepAlive: msg.peerKeepAlive
        })
        const w = worker
        setInterval(() => send({ type: 'stats', stats: w.stats, connections: w.connections }), STATS_INTERVAL_MS).unref()
        send({ type: 'ready' })
      }, fail)
    } catch (err) {
      fail(err)
    }
  }
})

function fail(err: unknown): void {
  send({ type: 'failed', message: (err as Error).message })
  process.exit(1)
}

// The node is gone (stopped or crashed): nothing relays or hands over connections any more.
process.on('disconnect', () => void stop(0))
