/**
 * The protocol as the product runs it: every number the model's nodes obey, taken from the
 * product's own modules where they export it (so a change there moves the model too), restated
 * where they do not (model.test.ts checks the restated ones against the product).
 */
import { MEMBERSHIP_DEFAULTS } from '../../replication/membership.ts'
import { P2P_DEFAULTS } from '../../replication/host-defaults.ts'
import { MAX_HELLO_PEERS, MAX_HELLO_RECENT } from '../../replication/messages.ts'
import { PEER_TABLE_DEFAULTS } from '../../replication/peer-table.ts'
import { UPLOAD_SLOT_DEFAULTS } from '../../http/upload-slots.ts'
import { REFERRAL_DEPTH } from '../../replication/fetch-http.ts'
import { US_PER_MS, US_PER_S } from './events.ts'

export const PROTOCOL = Object.freeze({
  keptPeers: P2P_DEFAULTS.maxKeptPeers,
  maxInbound: P2P_DEFAULTS.maxInboundConnections,
  maxConnections: P2P_DEFAULTS.maxConnections,
  pingIntervalUs: P2P_DEFAULTS.pingIntervalMs * US_PER_MS,
  redialIntervalUs: P2P_DEFAULTS.redialIntervalMs * US_PER_MS,
  /** Peers in the first hello answer on a connection, and in later ones. */
  firstSamplePeers: MAX_HELLO_PEERS,
  refreshSamplePeers: MEMBERSHIP_DEFAULTS.refreshPeers,
  /** A known peer not connected is passed on only if heard from within this. */
  freshUs: MEMBERSHIP_DEFAULTS.freshMs * US_PER_MS,
  maxKnownPeers: PEER_TABLE_DEFAULTS.maxPeers,
  recentNames: MAX_HELLO_RECENT,
  // replication/replicator.ts (REPLICATOR_DEFAULTS and module constants, not all exported):
  digestIntervalUs: 30 * US_PER_S,
  firstRoundUs: 1 * US_PER_S,
  announceDelayUs: 50 * US_PER_MS,
  /** One-sided exchanges walk at once; a new connection's mutual hellos leave it to the smaller id for this long. */
  deferUs: 2 * US_PER_S,
  /** A walk or offer that stored this many names makes the node ask its other peers for an exchange... */
  spreadMinStored: 8,
  /** ...this soon (plus a quarter of a jittered 2 s). */
  spreadUs: 250 * US_PER_MS,
  recheckUs: 2 * US_PER_S,
  maxRepairSessions: 4,
  // replication/fetcher.ts defaults (--fetch-concurrency, --fetch-per-peer) and http/upload-slots.ts.
  fetchConcurrency: 8,
  fetchPerPeer: 3,
  uploadSlots: UPLOAD_SLOT_DEFAULTS.slots,
  holdersListed: UPLOAD_SLOT_DEFAULTS.holdersListed,
  referAfter: UPLOAD_SLOT_DEFAULTS.referAfter,
  referralDepth: REFERRAL_DEPTH,
  referYoungUs: UPLOAD_SLOT_DEFAULTS.referYoungerThanMs * US_PER_MS,
  busyRetryUs: UPLOAD_SLOT_DEFAULTS.retryMs * US_PER_MS,
  // @libp2p/gossipsub constants (GossipsubD, Dlo, Dlazy, GossipFactor, HeartbeatInterval, HistoryGossip);
  // the upper bound is the host's own (replication/host-defaults.ts).
  meshD: 6,
  meshDlo: 4,
  meshDhi: P2P_DEFAULTS.meshDhi,
  meshDlazy: 6,
  gossipFactor: 0.25,
  heartbeatUs: 1 * US_PER_S,
  historyGossip: 3
})

/** lib/backoff.ts's ceiling without spread: the first push-pull rounds come after 1, 2, 4 … s. */
export function roundDelayUs(round: number, maxUs: number): number {
  const doublings = Math.min(Math.max(round - 1, 0), 30)
  return Math.min(PROTOCOL.firstRoundUs * 2 ** doublings, Math.max(maxUs, PROTOCOL.firstRoundUs))
}
