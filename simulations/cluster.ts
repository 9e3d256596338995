/**
 * N nodes of one run: ports and folders, fault proxies, start order, and the faults applied to all
 * of them (the current grudge, gossip faults, toxics, who is down). A partition is applied on both
 * ends of every cut link: each node blocks the other's libp2p peer id and HTTP URL.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts } from '../lib/free-ports.ts'
import { ChildNode } from './child-node.ts'
import { InProcessNode } from './in-process-node.ts'
import { watchPorts } from './instrument.ts'
import type { Plan, Toxic } from './plan.ts'
import type { GossipFaults } from './probe.ts'
import type { SimNode } from './sim-node.ts'
import { ToxicProxy } from './toxic-proxy.ts'

export type Mode = 'in-process' | 'child'

export interface ClusterInit {
  plan: Plan
  mode: Mode
  /** The run's scratch folder (node folders go under it). */
  root: string
  digestIntervalSeconds: number
  log: (line: string) => void
}

const NO_GOSSIP_FAULTS: GossipFaults = { loss: 0, delayMs: 0 }

/** Peers every node must know before the workload starts. */
export const MESH_PEERS = 8

export class Cluster {
  readonly nodes: SimNode[]
  readonly proxies: Map<number, ToxicProxy>
  readonly #init: ClusterInit
  #grudge: Record<string, number[]> = {}
  readonly #gossip = new Map<number, GossipFaults>()

  private constructor(init: ClusterInit, nodes: SimNode[], proxies: Map<number, ToxicProxy>) {
    this.#init = init
    this.nodes = nodes
    this.proxies = proxies
  }

  static async create(init: ClusterInit): Promise<Cluster> {
    const { plan } = init
    const ports = await freePorts(plan.nodes * 2 + plan.proxied.length)
    const httpPorts = ports.slice(0, plan.nodes)
    const p2pPorts = ports.slice(plan.nodes, plan.nodes * 2)
    const proxies = new Map<number, ToxicProxy>()
    for (const [i, node] of plan.proxied.entries()) proxies.set(node, await ToxicProxy.listen(ports[plan.nodes * 2 + i]!, httpPorts[node]!))
    await writeFile(join(init.root, 'cluster.json'), JSON.stringify({ p2pPorts, httpPorts }))
    const nodes: SimNode[] = []
    for (let id = 0; id < plan.nodes; id++) {
      watchPorts(p2pPorts[id]!, httpPorts[id]!)
      const dir = join(init.root, `n${String(id).padStart(2, '0')}`)
      await mkdir(dir, { recursive: true })
      const nodeInit = {
        id,
        dir,
        httpPort: httpPorts[id]!,
        p2pPort: p2pPorts[id]!,
        publicUrl: proxies.get(id)?.url ?? `http://127.0.0.1:${httpPorts[id]}`,
        digestIntervalSeconds: init.digestIntervalSeconds,
        seed: plan.seed
      }
      nodes.push(init.mode === 'child' ? new ChildNode(nodeInit) : new InProcessNode(nodeInit))
    }
    return new Cluster(init, nodes, proxies)
  }

  #bootstrapOf(id: number): string | null {
    const b = this.#init.plan.bootstrapOf[id] ?? -1
    return b < 0 ? null : this.nodes[b]!.multiaddr
  }

  /**
   * Start every node, each through the earlier node the plan names. Child processes start a few
   * at a time (a batch never contains a node's own bootstrap), in-process nodes one by one.
   */
  async startAll(): Promise<void> {
    const width = this.#init.mode === 'child' ? 4 : 1
    let next = 0
    while (next < this.nodes.length) {
      const batch: number[] = [next++]
      while (batch.length < width && next < this.nodes.length && (this.#init.plan.bootstrapOf[next] ?? -1) < batch[0]!) batch.push(next++)
      await Promise.all(batch.map(async (id) => await this.nodes[id]!.start(this.#bootstrapOf(id))))
    }
  }

  /**
   * Wait until every node knows MESH_PEERS others (or all, in a smaller network), or give up.
   * Peer exchange gets there in seconds; nobody needs to know everyone.
   */
  async waitForMesh(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    const want = Math.min(MESH_PEERS, this.nodes.length - 1)
    while (Date.now() < deadline) {
      const known = await Promise.all(this.nodes.map(async (n) => (await n.counters()).peersKnown))
      if (known.every((k) => k >= want)) return true
      await sleep(200)
    }
    return false
  }

  /** Apply a grudge (node → nodes it drops), or lift it with `{}`, on every node at once. */
  async partition(grudge: Record<string, number[]>): Promise<void> {
    this.#grudge = grudge
    await Promise.all(this.nodes.map(async (n) => await this.#applyFaults(n.id)))
  }

  async gossip(nodes: readonly number[], faults: GossipFaults): Promise<void> {
    for (const n of nodes) this.#gossip.set(n, faults)
    await Promise.all(nodes.map(async (n) => await this.#applyFaults(n)))
  }

  toxic(node: number, toxic: Toxic | null): void {
    const proxy = this.proxies.get(node)
    if (proxy == null) throw new Error(`node ${node} has no proxy`)
    proxy.toxic = toxic
  }

  async #applyFaults(id: number): Promise<void> {
    const drops = (this.#grudge[String(id)] ?? []).map((d) => this.nodes[d]!)
    await this.nodes[id]!.setFaults(
      {
        // A node that never started has no peer id yet; it cannot be dialled by id either.
        peerIds: drops.map((d) => d.peerId).filter((p): p is string => p != null),
        urls: drops.map((d) => d.publicUrl)
      },
      this.#gossip.get(id) ?? NO_GOSSIP_FAULTS
    )
  }

  async kill(id: number): Promise<void> {
    await this.nodes[id]!.kill()
  }

  async stop(id: number): Promise<void> {
    await this.nodes[id]!.stop()
  }

  /** Start a stopped node again with the flags it had (same ports, data and bootstrap). */
  async restart(id: number): Promise<void> {
    await this.nodes[id]!.start(this.#bootstrapOf(id))
  }

  /** Lift every fault and start every node that is down. */
  async healAll(): Promise<void> {
    this.#gossip.clear()
    for (const proxy of this.proxies.values()) proxy.toxic = null
    await this.partition({})
    for (const n of this.nodes) if (!n.up) await this.restart(n.id)
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => await n.stop().catch((err) => this.#init.log(`node ${n.id} stop failed: ${String(err)}`)))
    )
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => await n.kill().catch(() => {})))
    await Promise.all([...this.proxies.values()].map(async (p) => await p.close()))
  }
}
