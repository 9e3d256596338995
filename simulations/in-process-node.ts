/**
 * A real SegmeshNode in this process: its own data folder, HTTP port and libp2p TCP port on
 * 127.0.0.1. Given its probe's hooks, and started inside runAs() so its timers and sockets are
 * attributed to it. Fast: 50 nodes start in seconds. A kill here is a stop without drain (no
 * process to SIGKILL).
 */
import pino from 'pino'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import { hourDigests } from '../replication/digests.ts'
import { claimNode } from './instrument.ts'
import { type NodeCounters, countersOf } from './counters.ts'
import { NodeProbe, type GossipFaults, type ProbeEvent, runAs } from './probe.ts'
import type { SyntheticSegment } from './segments.ts'
import {
  ADMIN_TOKEN,
  CounterCarry,
  type DigestMap,
  ONE_HOST_FLAGS,
  PEER_BAN_SECONDS,
  type SimNode,
  type SimNodeInit,
  simNodePlace
} from './sim-node.ts'

export class InProcessNode implements SimNode {
  readonly crashes = []
  readonly id: number
  readonly dataDir: string
  readonly url: string
  readonly publicUrl: string
  readonly pid = null
  peerId: string | null = null
  multiaddr: string | null = null
  readonly #init: SimNodeInit
  readonly #probe: NodeProbe
  readonly #events: ProbeEvent[] = []
  readonly #carry = new CounterCarry()
  #node: SegmeshNode | null = null

  constructor(init: SimNodeInit) {
    this.#init = init
    ;({ id: this.id, dataDir: this.dataDir, url: this.url, publicUrl: this.publicUrl } = simNodePlace(init))
    this.#probe = new NodeProbe(init.id, init.seed, (e) => this.#events.push(e))
  }

  get up(): boolean {
    return this.#node != null
  }

  async start(bootstrap: string | null): Promise<void> {
    if (this.#node != null) return
    const init = this.#init
    const config = resolveConfig({
      flags: {
        data: this.dataDir,
        'http-host': '127.0.0.1',
        'http-port': String(init.httpPort),
        'p2p-host': '127.0.0.1',
        'p2p-port': String(init.p2pPort),
        'public-url': init.publicUrl,
        bootstrap: bootstrap == null ? [] : [bootstrap],
        watch: false,
        'digest-interval-seconds': String(init.digestIntervalSeconds),
        'index-map-size-mb': '256',
        'peer-ban-seconds': String(PEER_BAN_SECONDS),
        'admin-token': ADMIN_TOKEN,
        ...ONE_HOST_FLAGS
      }
    })
    const node = new SegmeshNode({ config, log: pino({ level: process.env.SEGSIM_LOG ?? 'silent' }), hooks: this.#probe.hooks() })
    this.#probe.restarted()
    this.#probe.segmesh = node
    claimNode(this.#probe, { segmentsDir: config.segmentsDir, p2pPort: init.p2pPort, httpPort: init.httpPort })
    try {
      await runAs(this.#probe, async () => await node.start())
    } catch (err) {
      await node.stop(0).catch(() => {})
      throw err
    }
    this.#node = node
    this.peerId = node.host!.peerId
    this.multiaddr = node.host!.multiaddrs()[0]!
  }

  async stop(): Promise<void> {
    await this.#halt(500)
  }

  async kill(): Promise<void> {
    await this.#halt(0)
  }

  async #halt(graceMs: number): Promise<void> {
    const node = this.#node
    if (node == null) return
    this.#carry.finish(countersOf(this.#probe))
    this.#node = null
    await runAs(this.#probe, async () => await node.stop(graceMs))
  }

  async write(segment: SyntheticSegment): Promise<void> {
    const node = this.#live()
    const { ref } = segment
    const result = await runAs(
      this.#probe,
      async () =>
        await node.store.recordSegment(
          { channel: ref.channel, quality: ref.quality, start: ref.start, duration: ref.duration, type: ref.type as 'full' },
          segment.bytes
        )
    )
    if (result.ref.file !== ref.file) throw new Error(`recorded as ${result.ref.file}, expected ${ref.file}`)
  }

  async setFaults(blocked: { peerIds: string[]; urls: string[] }, gossip: GossipFaults): Promise<void> {
    this.#probe.faults = gossip
    await runAs(this.#probe, async () => await this.#probe.setBlocked(blocked.peerIds, blocked.urls))
  }

  async digests(): Promise<DigestMap> {
    const out: DigestMap = new Map()
    for (const [key, hours] of hourDigests(this.#live().index, 0)) out.set(key, new Map(hours.map((h) => [h.hour, h.digest])))
    return out
  }

  async counters(): Promise<NodeCounters> {
    return this.#carry.total(this.#node == null ? null : countersOf(this.#probe))
  }

  async memory(): Promise<null> {
    return null
  }

  async cpuSeconds(): Promise<null> {
    return null
  }

  async events(): Promise<ProbeEvent[]> {
    return this.#events
  }

  #live(): SegmeshNode {
    if (this.#node == null) throw new Error(`node ${this.id} is down`)
    return this.#node
  }
}
