/**
 * Every `node:diagnostics_channel` channel segmesh publishes, named in this one module. Tools that
 * watch a node (the simulations, a profiler) subscribe here instead of patching classes, so a
 * renamed method is a compile error, not a silently dead probe. Publishing is skipped when nothing
 * subscribes, so a production node pays one `hasSubscribers` check per event.
 */
import diagnostics from 'node:diagnostics_channel'

/** A segment or tombstone became durable and indexed (the event replication announces). */
export interface StoreChangeMessage {
  /** The store's segment tree: tells apart several nodes in one process. */
  segmentsDir: string
  kind: 'segment' | 'tombstone'
  /** CHANNEL/QUALITY/HOUR/FILE. */
  path: string
}

/** How a write of a named segment (backfill's path, not the recorder's) ended. */
export interface StoreWriteMessage {
  segmentsDir: string
  path: string
  /** stored: new on disk; duplicate: already held; refused: the name is tombstoned. */
  outcome: 'stored' | 'duplicate' | 'refused'
  size?: number
}

/** Replication learned a name this node keeps and lacks, and wants it (fetched after any grace period, unless the grace queue is full). */
export interface NameLearnedMessage {
  /** The node's segment tree, as in StoreChangeMessage. */
  segmentsDir: string
  /** CHANNEL/QUALITY/HOUR/FILE. */
  path: string
}

/**
 * A node was constructed and has not started. `hooks` is the object it reads its hooks from when
 * it starts (node/hooks.ts): a subscriber may add to it, which is how a node run by the CLI in a
 * child process is given the simulation's fault injection.
 */
export interface NodeCreateMessage<Node = unknown, Hooks = object> {
  node: Node
  hooks: Hooks
}

export const storeChangeChannel = diagnostics.channel('segmesh:store:change')
export const storeWriteChannel = diagnostics.channel('segmesh:store:write')
export const nameLearnedChannel = diagnostics.channel('segmesh:replication:name')
export const nodeCreateChannel = diagnostics.channel('segmesh:node:create')
