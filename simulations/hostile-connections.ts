/**
 * Attackers at the libp2p edge, over real TCP (the HTTP-side liars are in test/helpers/hostile-peers.ts):
 * - startAuthorRelay: one libp2p connection that relays gossip signed by any key it is given, as a
 *   relay of many nodes would (a Sybil flood: a fresh key per message);
 * - holdIdleSockets: TCP sockets to the p2p port that never send a byte, reopened when closed.
 */
import { type Socket, connect } from 'node:net'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { PublishConfigType } from '@libp2p/gossipsub/types'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

/**
 * Makes `pubsub` sign what it publishes next with `key`. gossipsub keeps its signer in the private
 * `publishConfig`; swapping it on the attacker's own node makes genuine signed RPCs from any author.
 */
function signAs(pubsub: GossipSub, key: PrivateKey): void {
  const internals = pubsub as unknown as { publishConfig: unknown }
  internals.publishConfig = {
    type: PublishConfigType.Signing,
    author: peerIdFromPrivateKey(key),
    key: publicKeyToProtobuf(key.publicKey),
    privateKey: key
  }
}

export interface AuthorRelay {
  /** The relay's own peer id: the connection the victim sees. */
  readonly peerId: string
  /** Publish `data` on the topic signed by `key` (the relay's own key never signs). */
  send: (key: PrivateKey, data: Uint8Array) => Promise<void>
  /** A fresh Ed25519 key and its peer id, for a message that must name its author. */
  freshAuthor: () => Promise<{ key: PrivateKey; peerId: string }>
  stop: () => Promise<void>
}

/**
 * A libp2p node dialled to `target` (a multiaddr with `/p2p/<id>`) that publishes on `topic` under
 * whichever key `send` is given (`signAs` per message): genuine signed RPCs from any number of
 * authors over this one connection.
 */
export async function startAuthorRelay(init: { target: string; topic: string; timeoutMs?: number }): Promise<AuthorRelay> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) }
  })
  try {
    const pubsub: GossipSub = node.services.pubsub
    pubsub.subscribe(init.topic)
    const target = multiaddr(init.target)
    await node.dial(target)
    // Published before the target's subscription is known, a message goes nowhere.
    const targetId = target.getComponents().find((c) => c.name === 'p2p')?.value
    const until = Date.now() + (init.timeoutMs ?? 15_000)
    while (!pubsub.getSubscribers(init.topic).some((p) => p.toString() === targetId)) {
      if (Date.now() > until) throw new Error(`no subscription from ${targetId} after ${init.timeoutMs ?? 15_000} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return {
      peerId: node.peerId.toString(),
      send: async (key, data) => {
        signAs(pubsub, key)
        await pubsub.publish(init.topic, data)
      },
      freshAuthor: async () => {
        const key = await generateKeyPair('Ed25519')
        return { key, peerId: peerIdFromPrivateKey(key).toString() }
      },
      stop: async () => {
        await node.stop()
      }
    }
  } catch (err) {
    await node.stop()
    throw err
  }
}

export interface IdleSockets {
  /** Sockets open for over 200 ms: taken into the handshake, not refused on arrival. */
  held: () => number
  /** Sockets opened so far. */
  opened: () => number
  stop: () => void
}

/**
 * Keep `count` TCP sockets to `host:port` that never send a byte, opening a new one 100 ms after
 * the node closes one, at most `maxOpens` in all (a bounded attack). `localAddress` picks the
 * source (127.0.0.2 is another remote IP to a node on 127.0.0.1).
 */
export function holdIdleSockets(init: {
  port: number
  host?: string
  count: number
  maxOpens?: number
  localAddress?: string
}): IdleSockets {
  const open = new Map<Socket, number>()
  const maxOpens = init.maxOpens ?? 20 * init.count
  let opens = 0
  let stopped = false
  const openOne = (): void => {
    if (stopped || opens >= maxOpens) return
    opens++
    const socket = connect({
      port: init.port,
      host: init.host ?? '127.0.0.1',
      ...(init.localAddress != null ? { localAddress: init.localAddress } : {})
    })
    open.set(socket, Date.now())
    socket.on('error', () => {})
    socket.on('close', () => {
      open.delete(socket)
      if (!stopped) setTimeout(openOne, 100).unref()
    })
  }
  for (let i = 0; i < init.count; i++) openOne()
  return {
    held: () => [...open.values()].filter((at) => Date.now() - at > 200).length,
    opened: () => opens,
    stop: () => {
      stopped = true
      for (const socket of open.keys()) socket.destroy()
    }
  }
}
