/**
 * Gossip topics. Announcements go to a topic chosen by their channel, so a node that keeps some
 * channels (--keep) hears what it stores and not the whole network's recording. Channels share
 * ANNOUNCE_BUCKETS topics by a hash of their name, not a topic each: gossipsub accepts only topics
 * it is told of at start (`allowedTopics`: a peer could otherwise grow our topic tables with one
 * subscription per made-up name), and channels are not known at start. A node subscribes to the
 * buckets of the channels it keeps as it sees them (ChannelTopics), and a node that keeps
 * everything also the announcement topics its peers subscribe to (and leaves those whose channels
 * it never sees: FOLLOW_GRACE_MS): so a network recording one channel gossips on one topic. Each
 * subscribed topic is a mesh to build again whenever connections come and go: with all 16
 * subscribed, the 100-node heal in one process took 47 s instead of 20 and idle traffic after it
 * was 2.7 times as much (28.8 against 10.6 KiB a minute), though between stable connections an
 * extra topic costs nothing. A node that keeps a few
 * channels hears the other channels of their buckets too, and drops them.
 *
 * The single topic of earlier versions (LEGACY_TOPIC) is still subscribed to, so announcements and
 * digests of older nodes are heard; nothing is published on it. Older nodes, which listen only
 * there, learn this node's segments by push-pull.
 */
import { createHash } from 'node:crypto'
import type { KeepFilter } from './keep.ts'
import { type AnnouncedItem, type Message, type PeerInfo, announceMessages } from './messages.ts'

export const LEGACY_TOPIC = 'segmesh/v1'
export const ANNOUNCE_BUCKETS = 16
const PREFIX = 'segmesh/2/announce/'

/** Every announcement topic, in bucket order. */
export const ANNOUNCE_TOPICS: readonly string[] = Object.freeze(Array.from({ length: ANNOUNCE_BUCKETS }, (_, i) => `${PREFIX}${i}`))

/** The topic of a channel's announcements: the same on every node (sha256 of the name, not a per-process hash). */
export function announceTopic(channel: string): string {
  return ANNOUNCE_TOPICS[createHash('sha256').update(channel).digest().readUInt32BE(0) % ANNOUNCE_BUCKETS]!
}

/**
 * A bucket followed into because a peer subscribed, with none of its channels seen here, is left
 * after this long (ChannelTopics.dropUnseen). A channel recorded anywhere shows in hello roots
 * within a few push-pull rounds, and in this node's own store once it fetched a segment of it; a
 * bucket still unseen after ten minutes carries nothing this node stores. Without it, one peer
 * subscribing to every bucket kept every full node in 16 meshes until restart.
 */
export const FOLLOW_GRACE_MS = 10 * 60_000

/**
 * The announcement topics this node subscribes to: the buckets of the channels it keeps, as it
 * sees them (its own store, peers' hellos). At most ANNOUNCE_BUCKETS; a node with --keep subscribes
 * to its channels' buckets at once.
 */
export class ChannelTopics {
  readonly #keep: KeepFilter
  readonly #subscribe: (topic: string) => void
  readonly #unsubscribe: (topic: string) => void
  readonly #subscribed = new Set<string>()
  /** Buckets subscribed to only because a peer did, none of their channels seen yet: since when (ms). */
  readonly #followed = new Map<string, number>()

  constructor(keep: KeepFilter, subscribe: (topic: string) => void, unsubscribe: (topic: string) => void = () => {}) {
    this.#keep = keep
    this.#subscribe = subscribe
    this.#unsubscribe = unsubscribe
    for (const channel of keep.channels()) this.saw(channel)
  }

  /** A channel exists somewhere: its bucket is subscribed to if this node keeps any of it. */
  saw(channel: string): void {
    if (!this.#keep.keepsChannel(channel)) return
    const topic = announceTopic(channel)
    this.#followed.delete(topic)
    this.#add(topic)
  }

  /**
   * A peer subscribed to `topic`. A node that keeps everything follows it into an announcement
   * topic at once: a recorder's first segment of a new channel subscribes it, and the subscription
   * spreads hop by hop in round trips, where hellos would take rounds of push-pull (at the start of
   * a 100-node simulation, a quarter of the announcements went unheard that way).
   */
  peerSubscribed(topic: string, nowMs: number = Date.now()): void {
    if (!this.#keep.everything || !ANNOUNCE_TOPICS.includes(topic) || this.#subscribed.has(topic)) return
    this.#followed.set(topic, nowMs)
    this.#add(topic)
  }

  /** Leave the buckets followed FOLLOW_GRACE_MS ago or more whose channels were never seen; returns them. */
  dropUnseen(nowMs: number = Date.now()): string[] {
    const dropped: string[] = []
    for (const [topic, since] of this.#followed) {
      if (nowMs - since < FOLLOW_GRACE_MS) continue
      this.#followed.delete(topic)
      this.#subscribed.delete(topic)
      this.#unsubscribe(topic)
      dropped.push(topic)
    }
    return dropped
  }

  #add(topic: string): void {
    if (this.#subscribed.has(topic)) return
    this.#subscribed.add(topic)
    this.#subscribe(topic)
  }

  get topics(): string[] {
    return [...this.#subscribed].sort()
  }
}

/** Announcement messages for `items`, each with the topic it goes on (items grouped by their channel's topic). */
export function announcementsByTopic(from: PeerInfo, items: readonly AnnouncedItem[]): Array<{ topic: string; message: Message }> {
  const byTopic = new Map<string, AnnouncedItem[]>()
  for (const item of items) {
    const topic = announceTopic(item.ref.channel)
    const group = byTopic.get(topic)
    if (group == null) byTopic.set(topic, [item])
    else group.push(item)
  }
  return [...byTopic].flatMap(([topic, group]) => announceMessages(from, group).map((message) => ({ topic, message })))
}

/** Every topic a node accepts messages and subscriptions on. */
export const KNOWN_TOPICS: readonly string[] = Object.freeze([...ANNOUNCE_TOPICS, LEGACY_TOPIC])
