/**
 * What a harness may put between a node and the network (the simulations inject faults with it).
 * Given to SegmeshNode's constructor, or added by a subscriber of the `segmesh:node:create`
 * diagnostics channel (lib/diagnostics.ts) before the node starts. A node without hooks behaves
 * exactly as one with none of these set.
 */
import type { Dispatcher } from 'undici'

export interface NodeHooks {
  /**
   * Every gossip message that passed the host's own checks comes here before the replicator sees
   * it; the hook calls `deliver` to hand it on (now, later, or never: loss and delay).
   */
  gossipGate?: (deliver: () => void, data: Uint8Array) => void
  /** Composed into the fetcher's dispatcher, first outermost: every request to a peer passes them. */
  fetchInterceptors?: Dispatcher.DispatcherComposeInterceptor[]
  /** Peer ids the host refuses from its start, as if banned (a restarted node starts cut off). */
  blockedPeers?: () => readonly string[]
}
