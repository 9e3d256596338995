/**
 * The P2P host's defaults (replication/host.ts), in a module of their own so that the option table
 * (config/options.ts) refers to the same values without loading libp2p.
 */
export const P2P_DEFAULTS = Object.freeze({
  /**
   * Direct connections this node keeps, to peers chosen at random among those it knows (peer
   * exchange, gossip, the address book). Bootstrap peers are dialled to join, and let go once
   * this many kept peers are connected, so a bootstrap node is not everyone's hub.
   */
  maxKeptPeers: 4,
  /**
   * Inbound connections accepted at once; past it new ones are refused (the dialler keeps other
   * peers). With everyone keeping a few random peers a node has about 2 × maxKeptPeers in all;
   * this bounds what a popular or well-known address attracts. At 128 the bootstrap's own kept
   * peers filled it in the model at 1,000 and 10,000 nodes (135 connections, 13 kbit/s idle against
   * a median of 12 and 1.1); at 32 the largest node holds 40 and the busiest sends 4 kbit/s, with
   * the same mean, join and heal (docs/SIMULATIONS.md).
   */
  maxInboundConnections: 32,
  /**
   * How long a saved address stays dialable after it was last confirmed (libp2p's default is one
   * hour: a node down overnight would forget every peer it had).
   */
  addressBookMaxAgeMs: 7 * 24 * 3600_000,
  /**
   * Peers saved in the address book at most; the least recently updated go first. One is its
   * key, addresses and protocols: under 1 KiB, so ≤ 1 MiB on disk.
   */
  maxSavedPeers: 1024,
  /** How often the address book is cut back to maxSavedPeers (peers connecting meanwhile are saved too). */
  addressBookPruneIntervalMs: 600_000,
  /** Saved peers, most recently updated, that a restarted node picks its first kept peers from. */
  savedPeersConsidered: 32,
  /** Bound on one hello exchange, on both ends. */
  helloTimeoutMs: 5_000,
  /** Bound on one dial from keepConnected, unblock and the redial timer. */
  dialTimeoutMs: 10_000,
  /** libp2p's KEEP_ALIVE redial: first retry after 500 ms, doubling, 8 retries ≈ 2 min before it gives up. */
  reconnectRetries: 8,
  reconnectRetryIntervalMs: 500,
  reconnectBackoffFactor: 2,
  /**
   * How often each end pings each connection (libp2p's connection monitor; a ping that fails
   * closes the connection). libp2p's 10 s made pings 70 % of an idle node's traffic (24.6 KB per
   * node per minute at 12 nodes, 6.9 KB at 60 s: bench/idle-traffic.ts); a connection that died
   * without a word is still noticed within a minute, and a closed one at once.
   */
  pingIntervalMs: 60_000,
  /** How often bootstrap and kept peers that are not connected are dialled again. */
  redialIntervalMs: 10_000,
  /** Largest gossip payload accepted (messages.ts keeps ours under it). */
  maxMessageBytes: 64 * 1024,
  /** Largest gossipsub RPC frame read from a peer (several messages and control data). */
  maxRpcBytes: 1024 * 1024,
  /** Gossip messages accepted per originating peer: sustained rate and burst (token bucket). */
  gossipRatePerSecond: 20,
  gossipBurst: 200,
  /**
   * Originating peers with a token bucket; the least recently refilled is forgotten past it
   * (it starts full again). One costs ~300 B with its key: 4,096 ≈ 1.2 MiB. Well above a
   * network's node count, so only a flood of fresh keys evicts anyone.
   */
  gossipAuthorsTracked: 4096,
  /**
   * Gossip messages accepted per delivering connection (the propagation source), whoever signed
   * them: fresh keys each get a full author bucket, the connection does not. gossipsub validates
   * only a message's first copy, so one relay forwards at most the whole network's traffic: with
   * 1,000 nodes a digest each per 30 s (33/s) plus announcements from 20 recorders of three
   * qualities (2 s segments: 30/s) and tombstones, about 70/s. A burst of five authors' bursts.
   */
  sourceRatePerSecond: 100,
  sourceBurst: 1000,
  /**
   * Authors without a bucket yet that one connection may introduce: a burst for a node that
   * joins and hears the others' digests through its first connection (its mesh soon adds more,
   * each with its own allowance), then one a second (joins are rare). Each new author costs a
   * bucket here and a peer-table entry in the replicator.
   */
  newAuthorsPerSourcePerSecond: 1,
  newAuthorsPerSourceBurst: 256,
  /** Connections with source buckets (two, ~300 B each); at least maxConnections, so churn evicts only the gone. */
  sourcesTracked: 1024,
  /**
   * Inbound connections still in their handshake (pnet, noise, yamux), from all remote IPs
   * together. libp2p's 10, with its 10 s handshake timeout, let twelve idle sockets lock every
   * peer out. One costs a socket and a few KiB of handshake state until the timeout: 256 ≈ 2 MiB.
   */
  maxIncomingPendingConnections: 256,
  /**
   * A handshake must finish within this (libp2p: 10 s). A real one takes about five round trips,
   * under 2 s between continents. With the per-IP rate it bounds what one IP can hold pending:
   * 5/s × (5 s + 1 s) = 30, an eighth of the pending limit.
   */
  inboundUpgradeTimeoutMs: 5_000,
  /**
   * New inbound connections accepted per second from one remote IP (libp2p's default). Nodes
   * behind one NAT share it; one refused is tried again by the redial timer.
   */
  inboundConnectionsPerIpPerSecond: 5,
  /**
   * Peers on one IP that gossipsub scores as usual (its IP-colocation threshold). Past it every
   * peer of that IP loses 5·excess² (gossipsub's weight): at 12 they stop getting gossip, at 15
   * their messages are ignored. A Sybil defence; a few nodes behind one NAT stay under it.
   * 0 turns the penalty off (many nodes on one host: tests, simulations).
   */
  sameIpPeers: 10,
  /**
   * Open connections, both ways; past it inbound ones are refused (libp2p's default, explicit).
   * One costs a socket, noise and yamux state and gossipsub's per-peer queues: tens of KiB idle.
   */
  maxConnections: 300,
  /**
   * Gossipsub's upper bound on a topic's mesh (its default is 12). A node past it prunes peers down
   * to 6, and a pruned peer may not graft back for `meshPruneBackoffMs`. The first joiners hold
   * 30 or more connections, so at 12 they kept pruning; a node whose few connections were all to
   * such hubs then had no mesh peer at all and heard new names only by push-pull (at 100 nodes, up
   * to 31 nodes for up to 68 s; docs/SIMULATIONS.md). Announcements are small and rare, so
   * a hub forwarding each to 24 peers costs little.
   */
  meshDhi: 24,
  /**
   * How long a pruned peer waits before grafting again, ms (gossipsub's default: 60 s). A node cut
   * out of every mesh by prunes is back within this plus a heartbeat.
   */
  meshPruneBackoffMs: 15_000
} as const)
