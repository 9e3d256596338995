/**
 * The hello exchange and the push-pull rounds of replication/replicator.ts: on every new
 * connection both ends ask each other (mutual); then each node asks one random connected peer per
 * round, the rounds coming after 1, 2, 4 … s and then every 30 s × pushPullScale(known + 1),
 * jittered ±20 %. Only the asker learns (the request has no body): the answer's peers, its roots.
 */
import type { Rng } from '../prng.ts'
import { pushPullScale } from '../../replication/replicator.ts'
import { PROTOCOL, roundDelayUs } from './constants.ts'
import type { Membership } from './membership.ts'
import { helloBytes } from './sizes.ts'
import type { Network } from './topology.ts'

export interface HelloHooks {
  /** Newest names the answer carries (a connection's first answer only). */
  recentNames?: (answerer: number, asker: number) => number
  /** The asker has the answer (`first` on this connection: it carried the newest names): compare roots, maybe walk. */
  answered?: (asker: number, answerer: number, mutual: boolean, first: boolean) => void
}

export class PushPull {
  readonly #net: Network
  readonly #membership: Membership
  readonly #rng: Rng
  readonly #roots: number
  hooks: HelloHooks = {}

  /** `roots`: channel/qualities each node holds (their roots ride in every answer). */
  constructor(net: Network, membership: Membership, roots: number) {
    this.#net = net
    this.#membership = membership
    this.#rng = net.rng.fork('push-pull')
    this.#roots = roots
  }

  /** `asker` asks `answerer` for its hello; the answer lands one round trip later. */
  hello(asker: number, answerer: number, mutual: boolean): void {
    const net = this.#net
    const oneWay = net.oneWay(asker, answerer)
    const c = net.costs
    net.nodes[asker]!.meter.hellosAsked++
    net.charge(asker, c.helloOverheadBytes / 2, c.helloCpuUs / 2)
    net.queue.after(oneWay, () => {
      if (!net.connected(asker, answerer)) return
      const node = net.nodes[answerer]!
      const first = !node.answered.has(asker)
      node.answered.add(asker)
      const sampled = this.#membership.sample(answerer, asker, first ? PROTOCOL.firstSamplePeers : PROTOCOL.refreshSamplePeers)
      const recent = first ? (this.hooks.recentNames?.(answerer, asker) ?? 0) : 0
      net.charge(answerer, helloBytes(this.#roots, sampled.length, recent) + c.helloOverheadBytes / 2, c.helloCpuUs / 2)
      net.queue.at(net.work(answerer, c.helloCpuUs) + oneWay, () => {
        if (!net.connected(asker, answerer)) return
        const me = net.nodes[asker]!
        me.peers.sawDirectly(answerer, net.now, (p) => me.links.has(p))
        this.#membership.learn(asker, sampled)
        this.#membership.maintain(asker)
        this.hooks.answered?.(asker, answerer, mutual, first)
      })
    })
  }

  /** Both ends of a new connection ask at once. */
  connected(a: number, b: number): void {
    this.hello(a, b, true)
    this.hello(b, a, true)
  }

  /** The node's push-pull rounds, from its start. */
  start(node: number): void {
    const self = this.#net.nodes[node]!
    const next = (): void => {
      const max = PROTOCOL.digestIntervalUs * pushPullScale(self.peers.size + 1)
      const delay = roundDelayUs(++self.round, max) * (0.8 + 0.4 * this.#rng.next())
      this.#net.queue.after(Math.round(delay), tick)
    }
    const tick = (): void => {
      this.#membership.maintain(node)
      const peers = [...self.links.keys()]
      if (peers.length > 0) this.hello(node, peers[this.#rng.int(peers.length)]!, false)
      next()
    }
    next()
  }
}
