/**
 * The libp2p side of replication: gossip topics, the hello request/response protocol, and a
 * few kept direct connections so that losing the bootstrap does not cut a node off.
 *
 * Kept peers (the bootstrap list and up to `maxKeptPeers` learned from gossip) carry libp2p's
 * KEEP_ALIVE tag, so libp2p redials them when a connection drops. libp2p gives up after its
 * retries and removes the tag; a slow redial timer then keeps trying the bootstrap peers, and a
 * gossip peer it gave up on frees its slot.
 */
import { isIP } from 'node:net'
import { type GossipSub, type Message as GossipMessage, TopicValidatorResult, gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { KEEP_ALIVE, TimeoutError } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
// Before any connection: an error yamux throws where no caller can catch it (yamux-guard.ts).
import './yamux-guard.ts'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { type Libp2p, createLibp2p } from 'libp2p'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '../lib/logger.ts'
import { silentLogger } from '../lib/logger.ts'
import { type P2PHostInit, announceAs, colocationScore, connectionLimits, parseAddrs, peerIdOfAddr, validate } from './host-config.ts'
import { P2P_DEFAULTS } from './host-defaults.ts'
import { type BootstrapPeerStatus, BootstrapStatus } from './bootstrap-status.ts'
import { ALIVE_PROTOCOL, LIVENESS_DEFAULTS, Liveness, echoProbes } from './liveness.ts'
import { HELLO_PROTOCOLS, OFFER_PROTOCOL, type HelloVersion, readBlob, sendBlob } from './hello-protocol.ts'
import { libp2pLogger } from './libp2p-logger.ts'
import { HelloTimeoutError, HostStoppedError, P2PError } from './p2p-errors.ts'
import { type Offence, PeerScores } from './peer-score.ts'
import { RedialDamper } from './redial-damper.ts'
import { pruneAddressBook, savedPeers } from './address-book.ts'
import { randomSample } from '../lib/random-sample.ts'
import { RateLimiter } from '../lib/rate-limit.ts'
import { combineSignals, raceSignal, shutdownController } from '../lib/signals.ts'

/**
 * A peer id as text, kept per PeerId object: the replicator and the membership ask for the
 * connected peers many times a second during a heal, and base58-encoding each id was ~1.4 % of the
 * CPU of 50 nodes converging in one process.
 */
const peerTexts = new WeakMap<PeerId, string>()
function peerText(id: PeerId): string {
  let text = peerTexts.get(id)
  if (text == null) {
    text = id.toString()
    peerTexts.set(id, text)
  }
  return text
}

/** The answer to a hello from `asker`, in the version it chose. */
type HelloProvider = (version: HelloVersion, asker: string) => Uint8Array | Promise<Uint8Array>
type Node = Libp2p<{ pubsub: GossipSub }>

export class P2PHost {
  readonly peerId: string
  readonly #init: P2PHostInit
  #libp2p: Node | null = null
  /** Subscribed to at start, and the topics accepted (those and `knownTopics`). */
  readonly #topics: readonly string[]
  readonly #knownTopics: ReadonlySet<string>
  readonly #log: Logger
  readonly #maxKept: number
  readonly #helloTimeoutMs: number
  readonly #redialIntervalMs: number
  readonly #shutdown = shutdownController()
  /** Bootstrap peer ids with their addresses; always wanted, never counted against maxKeptPeers. */
  readonly #bootstrap: Map<string, Multiaddr[]>
  readonly #bootstrapStatus: BootstrapStatus
  /** Peers we keep connections to, chosen at random among those known (keepConnected). */
  readonly #kept = new Set<string>()
  readonly #maxInbound: number
  /** Shared with the connection gater. */
  readonly #blocked = new Set<string>()
  readonly #messageHandlers = new Set<(from: string, data: Uint8Array) => void>()
  readonly #offerHandlers = new Set<(from: string, data: Uint8Array) => void>()
  readonly #connectHandlers = new Set<(peerId: string) => void>()
  readonly #disconnectHandlers = new Set<(peerId: string) => void>()
  readonly #banHandlers = new Set<(peerId: string) => void>()
  readonly #unbanHandlers = new Set<(peerId: string) => void>()
  readonly #topicHandlers = new Set<(topic: string) => void>()
  readonly #tasks = new Set<Promise<void>>()
  readonly #validateMessage: ((data: Uint8Array) => string | null) | null
  readonly #maxMessageBytes: number
  /** Per originating peer (the signature's author). */
  readonly #gossipRate: RateLimiter
  /** Per delivering connection: all it forwards, and the authors it introduces. */
  readonly #sourceRate: RateLimiter
  readonly #newAuthors: RateLimiter
  readonly #scores: PeerScores
  readonly #damper = new RedialDamper()
  /** Gossip dropped before the replicator saw it, by why. */
  readonly gossipDropped = { oversized: 0, malformed: 0, rateLimited: 0, sourceLimited: 0 }
  /**
   * Resolved by handleHello. libp2p redials the peers saved as kept the moment it starts, before
   * the replicator has said what to answer: their hellos wait for it (within the hello timeout).
   */
  #helloProvider: HelloProvider | null = null
  #helloProviderSet: () => void = () => {}
  readonly #helloProviderReady = new Promise<void>((resolve) => {
    this.#helloProviderSet = resolve
  })
  #redialTimer: NodeJS.Timeout | null = null
  #pruneTimer: NodeJS.Timeout | null = null
  #livenessTimer: NodeJS.Timeout | null = null
  /** Probes the kept peers' connections (liveness.ts). */
  readonly #liveness: Liveness
  /** Probe echoes per peer that probes us. */
  readonly #probeEchoes: RateLimiter
  /** Bootstrap peers let go once enough kept peers are connected (logged once each time). */
  #shed = false
  #stopped = false

  /** Opens nothing: `start()` listens and dials the bootstrap list (lib/lifecycle.ts). */
  constructor(init: P2PHostInit) {
    validate(init)
    this.#init = init
    this.peerId = peerIdFromPrivateKey(init.privateKey).toString()
    const log = init.log ?? silentLogger
    this.#topics = [...init.topics]
    this.#knownTopics = new Set([...init.topics, ...(init.knownTopics ?? [])])
    this.#log = log
    this.#maxKept = init.maxKeptPeers ?? P2P_DEFAULTS.maxKeptPeers
    this.#maxInbound = init.maxInboundConnections ?? P2P_DEFAULTS.maxInboundConnections
    this.#helloTimeoutMs = init.helloTimeoutMs ?? P2P_DEFAULTS.helloTimeoutMs
    this.#redialIntervalMs = init.redialIntervalMs ?? P2P_DEFAULTS.redialIntervalMs
    this.#liveness = new Liveness({
      open: async (peer) => await this.#openProbe(peer),
      dead: (peer) => {
        for (const c of this.#node.getConnections(peerIdFromString(peer))) c.abort(new P2PError('stopped answering probes'))
      },
      log: this.#log
    })
    this.#validateMessage = init.validateMessage ?? null
    this.#maxMessageBytes = init.maxMessageBytes ?? P2P_DEFAULTS.maxMessageBytes
    this.#gossipRate = new RateLimiter({
      ratePerSecond: init.gossipRatePerSecond ?? P2P_DEFAULTS.gossipRatePerSecond,
      burst: init.gossipBurst ?? P2P_DEFAULTS.gossipBurst,
      maxKeys: P2P_DEFAULTS.gossipAuthorsTracked
    })
    this.#sourceRate = new RateLimiter({
      ratePerSecond: init.sourceRatePerSecond ?? P2P_DEFAULTS.sourceRatePerSecond,
      burst: init.sourceBurst ?? P2P_DEFAULTS.sourceBurst,
      maxKeys: P2P_DEFAULTS.sourcesTracked
    })
    this.#probeEchoes = new RateLimiter({
      ratePerSecond: LIVENESS_DEFAULTS.maxEchoesPerSecond,
      burst: LIVENESS_DEFAULTS.maxEchoesPerSecond,
      maxKeys: P2P_DEFAULTS.sourcesTracked
    })
    this.#newAuthors = new RateLimiter({
      ratePerSecond: init.newAuthorsPerSourcePerSecond ?? P2P_DEFAULTS.newAuthorsPerSourcePerSecond,
      burst: init.newAuthorsPerSourceBurst ?? P2P_DEFAULTS.newAuthorsPerSourceBurst,
      maxKeys: P2P_DEFAULTS.sourcesTracked
    })
    this.#scores = new PeerScores({
      cooldownMs: init.banCooldownMs,
      onBan: (peer, offence) => {
        this.#log.warn({ peer, offence }, 'peer misbehaved: disconnected and blocked for a cool-down')
        this.#track(this.block([peer]))
        this.#emit(this.#banHandlers, peer)
      },
      onUnban: (peer) => {
        this.#log.info({ peer }, 'ban cool-down over; peer allowed again')
        this.unblock([peer])
        this.#emit(this.#unbanHandlers, peer)
      }
    })
    this.#bootstrap = new Map()
    for (const addr of init.bootstrap ?? []) {
      const ma = multiaddr(addr)
      const id = peerIdOfAddr(ma)!
      // A shared seed list may name this node itself; dialling self only fails.
      if (id !== this.peerId) this.#bootstrap.set(id, [...(this.#bootstrap.get(id) ?? []), ma])
    }
    this.#bootstrapStatus = new BootstrapStatus(this.#bootstrap, { log, withNetworkKey: init.networkKey != null })
    for (const peer of init.blockedPeers ?? []) this.#blocked.add(peer)
  }

  async start(): Promise<void> {
    if (this.#libp2p != null) return
    const init = this.#init
    const isBlocked = (peer: PeerId): boolean => this.#blocked.has(peer.toString())
    const ip = isIP(init.listenHost) === 6 ? 'ip6' : 'ip4'
    const limits = connectionLimits(init)
    const node = await createLibp2p({
      start: false,
      privateKey: init.privateKey,
      logger: libp2pLogger(this.#log),
      addresses: {
        listen: [`/${ip}/${init.listenHost}/tcp/${init.listenPort}`],
        ...(init.announceHost != null ? { announceFilter: (addrs: Multiaddr[]) => announceAs(addrs, init.announceHost!) } : {})
      },
      // The listener's own cap closes sockets past what the connection manager would accept anyway.
      transports: [tcp({ maxConnections: limits.maxConnections + limits.maxIncomingPendingConnections })],
      // The pnet handshake runs before noise: a peer without the key never gets further.
      ...(init.networkKey != null ? { connectionProtector: preSharedKey({ psk: init.networkKey }) } : {}),
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionMonitor: { pingInterval: init.pingIntervalMs ?? P2P_DEFAULTS.pingIntervalMs },
      connectionGater: {
        denyDialPeer: isBlocked,
        denyInboundEncryptedConnection: (peer) => isBlocked(peer) || this.#inboundFull(),
        denyOutboundEncryptedConnection: isBlocked
      },
      ...(init.datastore != null ? { datastore: init.datastore } : {}),
      peerStore: { maxAddressAge: P2P_DEFAULTS.addressBookMaxAgeMs, maxPeerAge: P2P_DEFAULTS.addressBookMaxAgeMs },
      connectionManager: {
        maxConnections: limits.maxConnections,
        maxIncomingPendingConnections: limits.maxIncomingPendingConnections,
        inboundUpgradeTimeout: limits.inboundUpgradeTimeoutMs,
        inboundConnectionThreshold: limits.inboundConnectionsPerIpPerSecond,
        reconnectRetries: P2P_DEFAULTS.reconnectRetries,
        reconnectRetryInterval: P2P_DEFAULTS.reconnectRetryIntervalMs,
        reconnectBackoffFactor: P2P_DEFAULTS.reconnectBackoffFactor
      },
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({
          emitSelf: false,
          allowPublishToZeroTopicPeers: true,
          allowedTopics: [...this.#knownTopics],
          maxInboundDataLength: P2P_DEFAULTS.maxRpcBytes,
          Dhi: P2P_DEFAULTS.meshDhi,
          pruneBackoff: P2P_DEFAULTS.meshPruneBackoffMs,
          scoreParams: colocationScore(init.sameIpPeers ?? P2P_DEFAULTS.sameIpPeers)
        })
      }
    })
    this.#libp2p = node
    try {
      await this.#listen(node)
    } catch (err) {
      await this.stop().catch(() => {})
      throw err
    }
  }

  async #listen(node: Node): Promise<void> {
    node.addEventListener('peer:connect', (evt) => {
      // Only the peers we redial can spin; tracking them alone keeps the damper's map bounded.
      const peer = evt.detail.toString()
      if (this.#bootstrap.has(peer) || this.#kept.has(peer)) this.#damper.opened(peer)
      if (this.#kept.has(peer) || this.#bootstrap.has(peer)) this.#shedBootstraps()
      this.#bootstrapStatus.connected(peer)
      this.#emit(this.#connectHandlers, peer)
    })
    node.addEventListener('peer:disconnect', (evt) => {
      this.#onDisconnect(evt.detail)
      this.#bootstrapStatus.disconnected(evt.detail.toString())
      this.#emit(this.#disconnectHandlers, evt.detail.toString())
    })
    node.addEventListener('peer:reconnect-failure', (evt) => this.#onReconnectFailure(evt.detail.toString()))
    // The gater runs during the upgrade; a connection that was past it when block() ran is closed here.
    node.addEventListener('connection:open', (evt) => {
      if (this.#blocked.has(evt.detail.remotePeer.toString())) evt.detail.abort(new P2PError('peer is blocked'))
    })
    for (const topic of this.#knownTopics)
      node.services.pubsub.topicValidators.set(topic, (source, msg) => this.#validate(source.toString(), msg))
    node.services.pubsub.addEventListener('message', (evt) => this.#onGossip(evt.detail))
    // gossipsub has dropped subscriptions to topics outside the known ones already.
    node.services.pubsub.addEventListener('subscription-change', (evt) => {
      for (const s of evt.detail.subscriptions) if (s.subscribe && this.#knownTopics.has(s.topic)) this.#emit(this.#topicHandlers, s.topic)
    })
    await node.handle(OFFER_PROTOCOL, async (stream, connection) => await this.#receiveOffer(stream, connection))
    await node.handle(
      ALIVE_PROTOCOL,
      (stream, connection) => {
        const peer = connection.remotePeer.toString()
        echoProbes(stream, () => this.#probeEchoes.take(peer))
      },
      { maxInboundStreams: 2, maxOutboundStreams: 2 }
    )
    for (const version of [2, 1] as const) {
      await node.handle(HELLO_PROTOCOLS[version], async (stream, connection) => await this.#answerHello(stream, connection, version))
    }
    // Tagged before start so libp2p's reconnect queue owns them from the first connection.
    for (const [id, addrs] of this.#bootstrap) {
      await node.peerStore.merge(peerIdFromString(id), { multiaddrs: addrs, tags: { [KEEP_ALIVE]: { value: 1 } } })
    }
    await node.start()
    for (const topic of this.#topics) node.services.pubsub.subscribe(topic)
    // Dialled here rather than by @libp2p/bootstrap, whose failures only reach libp2p's debug log.
    for (const peer of this.#bootstrap.keys()) this.#track(this.#redial(peer))
    this.#track(this.#prune().then(async () => await this.#dialSaved()))
    this.#scheduleRedial()
    this.#schedulePrune()
    this.#scheduleProbes()
    this.#log.info({ peerId: this.peerId, addrs: this.multiaddrs(), bootstrap: [...this.#bootstrap.keys()] }, 'p2p host started')
  }

  /** Full multiaddrs with `/p2p/<id>`, carrying the real bound port. */
  multiaddrs(): string[] {
    return this.#node.getMultiaddrs().map((ma) => ma.toString())
  }

  connectedPeers(): string[] {
    return this.#node.getPeers().map(peerText)
  }

  /** Publish on `topic` (one of the known topics); resolves to the number of direct recipients (0 when nobody listens). */
  async publish(data: Uint8Array, topic: string): Promise<number> {
    if (this.#stopped) throw new HostStoppedError('p2p host is stopped')
    if (!this.#knownTopics.has(topic)) throw new P2PError(`not a known topic: ${topic}`)
    const { recipients } = await this.#node.services.pubsub.publish(topic, data)
    for (const r of recipients) this.#liveness.wrote(r.toString())
    return recipients.length
  }

  /** Subscribe to one more of the known topics (again: nothing). */
  subscribe(topic: string): void {
    if (!this.#knownTopics.has(topic)) throw new P2PError(`not a known topic: ${topic}`)
    if (!this.#stopped) this.#node.services.pubsub.subscribe(topic)
  }

  /** Peers in this node's gossip mesh for `topic`: 0 while subscribed means it hears the topic only by lazy gossip. */
  meshPeers(topic: string): number {
    if (this.#stopped) return 0
    // On the implementation, not the published GossipSub interface.
    const pubsub = this.#node.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }
    return pubsub.getMeshPeers(topic).length
  }

  /** Leave a topic subscribed to (nothing if it was not). */
  unsubscribe(topic: string): void {
    if (!this.#stopped) this.#node.services.pubsub.unsubscribe(topic)
  }

  /** A peer subscribed to one of the known topics. */
  onPeerSubscribed(handler: (topic: string) => void): () => void {
    return subscribe(this.#topicHandlers, handler)
  }

  /** The known topics some connected peer is subscribed to now (subscriptions heard before onPeerSubscribed). */
  peerTopics(): string[] {
    return [...this.#knownTopics].filter((t) => this.#node.services.pubsub.getSubscribers(t).length > 0)
  }

  /** Messages on the subscribed topics from other nodes, with the id of the node that published them. */
  onMessage(handler: (from: string, data: Uint8Array) => void): () => void {
    return subscribe(this.#messageHandlers, handler)
  }

  onPeerConnected(handler: (peerId: string) => void): () => void {
    return subscribe(this.#connectHandlers, handler)
  }

  onPeerDisconnected(handler: (peerId: string) => void): () => void {
    return subscribe(this.#disconnectHandlers, handler)
  }

  /** A peer's misbehaviour score passed the threshold: it is disconnected and blocked for the cool-down. */
  onPeerBanned(handler: (peerId: string) => void): () => void {
    return subscribe(this.#banHandlers, handler)
  }

  /** A banned peer's cool-down is over; it may connect again. */
  onPeerUnbanned(handler: (peerId: string) => void): () => void {
    return subscribe(this.#unbanHandlers, handler)
  }

  /** Set what this node answers to hello requests (replaces any earlier provider). */
  handleHello(provider: HelloProvider): void {
    this.#helloProvider = provider
    this.#helloProviderSet()
  }

  /** Ask a peer for its hello answer; bounded by the hello timeout, the caller's signal and stop(). */
  async requestHello(peerId: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    if (this.#stopped) throw new HostStoppedError('p2p host is stopped')
    const id = peerIdFromString(peerId)
    this.#liveness.wrote(peerId)
    const timeoutMs = this.#helloTimeoutMs
    const { signal, clear } = combineSignals(
      [this.#shutdown.signal, options.signal],
      timeoutMs,
      () => new HelloTimeoutError(`no hello from ${peerId} within ${timeoutMs} ms`)
    )
    let stream: Stream | undefined
    try {
      stream = await this.#node.dialProtocol(id, [HELLO_PROTOCOLS[2], HELLO_PROTOCOLS[1]], { signal })
      // Reading starts before anything is awaited; our write end closes at once (no request body).
      // Promise.all keeps a failed read from going unhandled while close() is pending.
      const [answer] = await Promise.all([readBlob(stream, signal), stream.close({ signal })])
      return answer
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      // libp2p reports an aborted dial as its own AbortError; surface why we aborted instead.
      throw signal.aborted ? signal.reason : err
    } finally {
      clear()
    }
  }

  /**
   * Send one message to a connected peer alone, on the offer protocol (what a range repair found
   * it lacks). Bounded like hello; throws if the peer cannot be reached.
   */
  async sendOffer(peerId: string, data: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#stopped) throw new HostStoppedError('p2p host is stopped')
    this.#liveness.wrote(peerId)
    const timeoutMs = this.#helloTimeoutMs
    const { signal, clear } = combineSignals(
      [this.#shutdown.signal, options.signal],
      timeoutMs,
      () => new HelloTimeoutError(`offer to ${peerId} not sent within ${timeoutMs} ms`)
    )
    let stream: Stream | undefined
    try {
      stream = await this.#node.dialProtocol(peerIdFromString(peerId), OFFER_PROTOCOL, { signal })
      await sendBlob(stream, data, signal)
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      throw signal.aborted ? signal.reason : err
    } finally {
      clear()
    }
  }

  /** Messages a peer sent to this node alone (offers), with the peer that sent them. */
  onOffer(handler: (from: string, data: Uint8Array) => void): () => void {
    return subscribe(this.#offerHandlers, handler)
  }

  /**
   * Keep a direct connection to this peer while fewer than maxKeptPeers are kept (the caller picks
   * peers at random among those it knows: membership.ts). `addrs` may be empty for a peer whose
   * addresses are saved. Resolves once connected or given up; never throws.
   */
  async keepConnected(peerId: string, addrs: string[]): Promise<void> {
    // A bootstrap peer is dialled to join and redialled only while fewer than maxKeptPeers are
    // kept; kept by the joiners that happened to pick it, it held several times the median's connections.
    if (this.#stopped || peerId === this.peerId || this.#blocked.has(peerId) || this.#bootstrap.has(peerId)) return
    if (this.#kept.has(peerId)) {
      if (!this.#isConnected(peerId)) await this.#redial(peerId)
      return
    }
    // Up to maxKeptPeers connected; kept peers that are down (libp2p still redials them) may stand
    // beside as many again, so a node whose kept peers are cut off keeps peers it can reach, and
    // reconnects the lost ones the moment they are reachable again (a healed partition).
    if (this.#kept.size >= 2 * this.#maxKept || this.#keptConnected() >= this.#maxKept) return
    let id: PeerId
    try {
      id = peerIdFromString(peerId)
    } catch {
      this.#log.debug({ peerId }, 'keepConnected: not a peer id')
      return
    }
    this.#kept.add(peerId) // before any await, so concurrent calls count it
    try {
      if (this.#isConnected(peerId)) {
        // Already connected (it dialled us): keep it from now on. Its addresses (from peer
        // exchange) are saved with the tag: identify may not have saved them yet when the node
        // stops, and a node restarted without --bootstrap has only its saved peers.
        await this.#node.peerStore.merge(id, { multiaddrs: parseAddrs(peerId, addrs), tags: { [KEEP_ALIVE]: { value: 1 } } })
        this.#shedBootstraps()
      } else {
        await this.#dial(id, parseAddrs(peerId, addrs))
      }
      this.#log.info({ peer: peerId }, 'keeping a direct connection')
    } catch (err) {
      // Never reached: give the slot to the next peer chosen.
      this.#kept.delete(peerId)
      if (!this.#bootstrap.has(peerId)) await this.#untag(id)
      this.#log.debug({ peer: peerId, err }, 'keepConnected: dial failed')
    }
  }

  /** One of this node's bootstrap peers (given with --bootstrap). */
  isBootstrap(peerId: string): boolean {
    return this.#bootstrap.has(peerId)
  }

  /** Peers kept (connected, or down and being redialled). */
  keptPeers(): string[] {
    return [...this.#kept]
  }

  /**
   * Count an offence against a peer (replicator: bad tombstone signatures; fetcher: bad hashes).
   * Past the threshold the peer is disconnected and blocked for the ban cool-down.
   */
  penalize(peerId: string, offence: Offence): void {
    if (!this.#stopped && peerId !== this.peerId) this.#scores.penalize(peerId, offence)
  }

  /** Penalties by offence, bans so far, peers banned now. */
  scoreStats(): ReturnType<PeerScores['stats']> {
    return this.#scores.stats()
  }

  /** Each bootstrap peer: connected, dialling (first try, or libp2p reconnecting) or failed, and why. */
  bootstrapStatus(): BootstrapPeerStatus[] {
    return this.#bootstrapStatus.list()
  }

  /** Refuse and drop every connection to these peers until unblock(): bans, and the simulations' partitions. */
  async block(peerIds: string[]): Promise<void> {
    for (const p of peerIds) this.#blocked.add(p)
    await Promise.all(
      peerIds.map(async (p) => {
        let id: PeerId
        try {
          id = peerIdFromString(p)
        } catch {
          return
        }
        // Untagged, libp2p does not spend its retries on a peer it may not dial; unblock() restores it.
        await this.#untag(id)
        await this.#node.hangUp(id).catch((err) => this.#log.debug({ peer: p, err }, 'block: hang up failed'))
      })
    )
  }

  /** Allow these peers again; kept and bootstrap peers among them are redialled at once. */
  unblock(peerIds: string[]): void {
    for (const p of peerIds) {
      this.#blocked.delete(p)
      this.#damper.forget(p) // connections our own block cut short are not the peer's flaps
      if (!this.#stopped && (this.#bootstrap.has(p) || this.#kept.has(p))) this.#track(this.#redial(p))
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#shutdown.abort(new HostStoppedError('p2p host is stopping'))
    if (this.#redialTimer != null) clearTimeout(this.#redialTimer)
    if (this.#pruneTimer != null) clearTimeout(this.#pruneTimer)
    if (this.#livenessTimer != null) clearTimeout(this.#livenessTimer)
    this.#liveness.stop()
    this.#scores.clear()
    this.#messageHandlers.clear()
    this.#offerHandlers.clear()
    this.#connectHandlers.clear()
    this.#disconnectHandlers.clear()
    this.#banHandlers.clear()
    this.#unbanHandlers.clear()
    this.#topicHandlers.clear()
    await Promise.allSettled([...this.#tasks])
    await this.#libp2p?.stop()
    this.#log.info({ peerId: this.peerId }, 'p2p host stopped')
  }

  // --- internals -----------------------------------------------------------------------------

  get #node(): Node {
    if (this.#libp2p == null) throw new HostStoppedError('p2p host is not started')
    return this.#libp2p
  }

  /** A probe round every LIVENESS_DEFAULTS.tickMs. */
  #scheduleProbes(): void {
    if (this.#stopped) return
    this.#livenessTimer = setTimeout(() => {
      this.#liveness.tick([...this.#kept].filter((p) => this.#isConnected(p)))
      this.#scheduleProbes()
    }, LIVENESS_DEFAULTS.tickMs)
    this.#livenessTimer.unref()
  }

  /** A probe stream on the peer's connection; null when the peer does not speak the protocol (a node of an earlier version). */
  async #openProbe(peer: string): Promise<Stream | null> {
    try {
      return await this.#node.dialProtocol(peerIdFromString(peer), ALIVE_PROTOCOL, {
        signal: AbortSignal.any([this.#shutdown.signal, AbortSignal.timeout(LIVENESS_DEFAULTS.timeoutMs)])
      })
    } catch (err) {
      if ((err as Error).name === 'UnsupportedProtocolError') return null
      throw err
    }
  }

  #isConnected(peerId: string): boolean {
    return this.#node.getConnections(peerIdFromString(peerId)).some((c) => c.status === 'open')
  }

  async #dial(id: PeerId, addrs: Multiaddr[]): Promise<void> {
    const timeoutMs = P2P_DEFAULTS.dialTimeoutMs
    const { signal, clear } = combineSignals(
      [this.#shutdown.signal],
      timeoutMs,
      () => new TimeoutError(`dial to ${id} timed out after ${timeoutMs} ms`)
    )
    try {
      await this.#node.peerStore.merge(id, { multiaddrs: addrs, tags: { [KEEP_ALIVE]: { value: 1 } } }, { signal })
      await this.#node.dial(id, { signal })
    } catch (err) {
      if (!this.#stopped) this.#bootstrapStatus.failed(id.toString(), signal.aborted ? signal.reason : err)
      throw err
    } finally {
      clear()
    }
  }

  async #untag(id: PeerId): Promise<void> {
    try {
      if (await this.#node.peerStore.has(id)) await this.#node.peerStore.merge(id, { tags: { [KEEP_ALIVE]: undefined } })
    } catch (err) {
      this.#log.debug({ peer: id.toString(), err }, 'could not remove KEEP_ALIVE tag')
    }
  }

  /**
   * A wanted peer that keeps closing our connections right after they open (it banned us, say)
   * loses its KEEP_ALIVE tag, so libp2p stops redialling it at once; the redial timer tries again
   * once its hold is over (and #dial tags it again).
   */
  #onDisconnect(id: PeerId): void {
    const peer = id.toString()
    if (!this.#damper.closed(peer) || this.#stopped) return
    this.#log.info({ peer }, 'peer keeps closing new connections; redialling it later')
    this.#track(this.#untag(id))
  }

  /** Dial a wanted peer again (its addresses are in the peer store); logs, never throws. */
  async #redial(peerId: string): Promise<void> {
    if (this.#stopped || this.#blocked.has(peerId) || this.#damper.held(peerId) || this.#isConnected(peerId)) return
    try {
      await this.#dial(peerIdFromString(peerId), this.#bootstrap.get(peerId) ?? [])
      this.#log.info({ peer: peerId }, 'redialled peer')
    } catch (err) {
      this.#log.debug({ peer: peerId, err }, 'redial failed')
    }
  }

  /** Jittered (×0.5–1.5), so nodes that lost the same bootstrap peer do not all redial it at once. */
  #scheduleRedial(): void {
    if (this.#stopped) return
    this.#redialTimer = setTimeout(
      () => {
        this.#redialAll()
        this.#scheduleRedial()
      },
      this.#redialIntervalMs * (0.5 + Math.random())
    )
    this.#redialTimer.unref()
  }

  #redialAll(): void {
    for (const p of this.#kept) this.#track(this.#redial(p))
    if (this.#keptConnected() < this.#maxKept) {
      this.#shed = false
      for (const p of this.#bootstrap.keys()) this.#track(this.#redial(p))
    }
  }

  #keptConnected(): number {
    let n = 0
    for (const p of this.#kept) if (this.#isConnected(p)) n++
    return n
  }

  /**
   * Enough kept peers are connected: bootstrap peers that are not kept themselves are let go (no
   * KEEP_ALIVE, our own connections to them closed). They were the way in; left connected, every
   * node that ever joined through one would hold a connection to it. The redial timer dials them
   * again if this node falls under maxKeptPeers.
   */
  #shedBootstraps(): void {
    if (this.#stopped || this.#keptConnected() < this.#maxKept) return
    // Also when a bootstrap peer connects after the kept ones (a redial that raced them, the end of
    // a block): left open, those connections made the bootstrap a hub again after every heal (node
    // 0 held 29 connections against a median of 12 among 50 nodes after a partition).
    const first = !this.#shed
    this.#shed = true
    for (const peer of this.#bootstrap.keys()) {
      if (this.#kept.has(peer)) continue
      const id = peerIdFromString(peer)
      const outbound = this.#node.getConnections(id).filter((c) => c.direction === 'outbound')
      if (!first && outbound.length === 0) continue
      this.#track(
        (async () => {
          // Every time: a redial (unblock, the redial timer) tags the peer again, and a tagged
          // peer whose connection we close is redialled by libp2p at once (it flapped).
          await this.#untag(id)
          for (const conn of outbound)
            await conn.close().catch((err: unknown) => this.#log.debug({ peer, err }, 'closing a bootstrap connection failed'))
        })()
      )
    }
    if (first) this.#log.info({ kept: this.#kept.size }, 'enough kept peers: bootstrap peers let go')
  }

  #inboundFull(): boolean {
    let inbound = 0
    for (const conn of this.#node.getConnections()) if (conn.direction === 'inbound') inbound++
    return inbound >= this.#maxInbound
  }

  /**
   * Peers saved in the address book from earlier runs: kept peers are picked at random among the
   * most recently updated, so a node restarted on new ports and without a bootstrap list finds
   * the network again (and the peers learn its new addresses from the connection).
   */
  async #dialSaved(): Promise<void> {
    const saved = await savedPeers(this.#node.peerStore, (p) => this.#blocked.has(p) || this.#bootstrap.has(p))
    const candidates = randomSample(saved.slice(0, P2P_DEFAULTS.savedPeersConsidered), P2P_DEFAULTS.savedPeersConsidered)
    if (candidates.length > 0) this.#log.info({ saved: saved.length }, 'dialling peers from the address book')
    // One after another: a dead one frees its slot for the next; keepConnected stops at maxKeptPeers.
    for (const id of candidates) {
      if (this.#stopped || this.#keptConnected() >= this.#maxKept) return
      await this.keepConnected(id.toString(), [])
    }
  }

  #schedulePrune(): void {
    if (this.#stopped) return
    this.#pruneTimer = setTimeout(() => {
      this.#track(this.#prune().finally(() => this.#schedulePrune()))
    }, P2P_DEFAULTS.addressBookPruneIntervalMs)
    this.#pruneTimer.unref()
  }

  async #prune(): Promise<void> {
    const keep = (p: string): boolean => this.#bootstrap.has(p) || this.#kept.has(p) || this.#isConnected(p)
    const removed = await pruneAddressBook(this.#node.peerStore, P2P_DEFAULTS.maxSavedPeers, keep)
    if (removed > 0) this.#log.info({ removed }, 'address book cut back to its bound')
  }

  #onReconnectFailure(peerId: string): void {
    // libp2p gave up and removed KEEP_ALIVE. A bootstrap peer stays wanted (the timer retries it);
    // a gossip peer frees its slot and is kept again if gossip names it later.
    if (this.#kept.delete(peerId)) {
      this.#damper.forget(peerId)
      this.#log.info({ peer: peerId }, 'stopped keeping unreachable peer')
    }
    // A bootstrap peer's next dial by the redial timer reports why (libp2p's reasons are not ours to see).
    else if (this.#bootstrap.has(peerId)) this.#log.info({ peer: peerId }, 'lost bootstrap peer; retrying on the redial timer')
  }

  /**
   * Gossipsub's validator, before delivery and before relaying, of a message's first copy.
   * `source` is the peer whose connection delivered it; `msg.from` signed it. Fresh keys cost
   * nothing, connections do: the source pays a token for every message and one more for each
   * author it introduces, and a flood past either is scored against the source. Oversized and
   * malformed messages are rejected (never relayed), and a flood beyond the author's own bucket
   * ignored; both score the author, whose identity the signature proves.
   *
   * Floods are Ignore, not Reject: the same message from an honest relay is not invalid, and a
   * Reject would also mark every peer that sent us a copy. (gossipsub's own score counts a
   * Reject against the source only for topics given score parameters; ours has none, so
   * PeerScores does the banning.)
   */
  #validate(source: string, msg: GossipMessage): TopicValidatorResult {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    const from = msg.from.toString()
    if (!this.#sourceRate.take(source) || (!this.#gossipRate.has(from) && !this.#newAuthors.take(source))) {
      this.gossipDropped.sourceLimited++
      this.penalize(source, 'rate_limited')
      return TopicValidatorResult.Ignore
    }
    if (msg.data.length > this.#maxMessageBytes) {
      this.gossipDropped.oversized++
      this.penalize(from, 'oversized_message')
      return TopicValidatorResult.Reject
    }
    if (!this.#gossipRate.take(from)) {
      this.gossipDropped.rateLimited++
      this.penalize(from, 'rate_limited')
      return TopicValidatorResult.Ignore
    }
    const problem = this.#validateMessage?.(msg.data) ?? null
    if (problem != null) {
      this.gossipDropped.malformed++
      this.penalize(from, 'malformed_message')
      this.#log.debug({ peer: from, problem }, 'rejected a malformed gossip message')
      return TopicValidatorResult.Reject
    }
    return TopicValidatorResult.Accept
  }

  #onGossip(msg: GossipMessage): void {
    // Unsigned messages carry no sender; gossipsub's default StrictSign policy rejects them anyway.
    if (!this.#knownTopics.has(msg.topic) || msg.type !== 'signed') return
    const from = msg.from.toString()
    if (from === this.peerId) return
    const gate = this.#init.gossipGate
    if (gate == null) this.#emit(this.#messageHandlers, from, msg.data)
    else gate(() => this.#emit(this.#messageHandlers, from, msg.data), msg.data)
  }

  /**
   * An offer: at most maxMessageBytes, and paid for from the sender's gossip bucket (an offer is an
   * announcement sent to one node), so a peer cannot flood this way what gossip would drop.
   */
  async #receiveOffer(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const { signal, clear } = combineSignals(
      [this.#shutdown.signal],
      this.#helloTimeoutMs,
      () => new HelloTimeoutError(`offer from ${peer} not read within ${this.#helloTimeoutMs} ms`)
    )
    try {
      const [data] = await Promise.all([readBlob(stream, signal), stream.close({ signal })])
      if (data.byteLength > this.#maxMessageBytes) {
        this.gossipDropped.oversized++
        this.penalize(peer, 'oversized_message')
        return
      }
      if (!this.#gossipRate.take(peer)) {
        this.gossipDropped.rateLimited++
        this.penalize(peer, 'rate_limited')
        return
      }
      this.#emit(this.#offerHandlers, peer, data)
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      if (!this.#stopped) this.#log.debug({ peer, err }, 'offer not read')
    } finally {
      clear()
    }
  }

  async #answerHello(stream: Stream, connection: Connection, version: HelloVersion): Promise<void> {
    const peer = connection.remotePeer.toString()
    const timeoutMs = this.#helloTimeoutMs
    const { signal, clear } = combineSignals(
      [this.#shutdown.signal],
      timeoutMs,
      () => new HelloTimeoutError(`hello answer to ${peer} not sent within ${timeoutMs} ms`)
    )
    try {
      if (this.#helloProvider == null) await raceSignal(this.#helloProviderReady, signal)
      const provider = this.#helloProvider!
      const bytes = await raceSignal(
        Promise.resolve().then(() => provider(version, peer)),
        signal
      )
      await sendBlob(stream, bytes, signal)
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      if (!this.#stopped) this.#log.debug({ peer, err }, 'hello not answered')
    } finally {
      clear()
    }
  }

  #emit<A extends unknown[]>(handlers: Set<(...args: A) => void>, ...args: A): void {
    for (const handler of handlers) {
      try {
        handler(...args)
      } catch (err) {
        this.#log.warn({ err }, 'p2p event handler threw')
      }
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task)
    void task.finally(() => this.#tasks.delete(task))
  }
}

function subscribe<H>(set: Set<H>, handler: H): () => void {
  set.add(handler)
  return () => {
    set.delete(handler)
  }
}
