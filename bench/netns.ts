/**
 * Machines on a LAN, for benches that need real links between nodes: each node is a Linux network
 * namespace with one veth pair to a bridge in the root namespace, which also carries the bench's own
 * traffic (it holds the bridge's address). Optionally every link is shaped to a NIC's rate in both
 * directions (tbf on each end's egress), so a node's sends and receives are bounded as a machine's
 * would be, whatever the host's loopback can do. A second bridge lets a bench cut the LAN silently
 * (a link moved there: packets go nowhere, with no error and no reset).
 *
 * Needs root and iproute2 (`ip netns`, bridges, veth, `tc` with tbf). Names carry the bench's pid,
 * so two benches never share one; `tearDown` removes everything.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { type Child, ROOT, segmeshChild } from './http-util.ts'

export interface LanOptions {
  /** First three octets of the LAN's /24. @default '10.77.N', N from the pid (two benches at once get two LANs) */
  subnet?: string
  /** Each node link's rate in Mbit/s, both ways; none: unshaped. */
  rateMbit?: number
}

export interface LanNode {
  child: Child
  url: string
  multiaddr: string
}

export class NamespaceLan {
  readonly size: number
  readonly #subnet: string
  readonly #rateMbit: number | undefined
  readonly #prefix = `sgm${process.pid % 10000}`
  readonly #bridges: [string, string]

  constructor(size: number, options: LanOptions = {}) {
    this.size = size
    this.#subnet = options.subnet ?? `10.77.${process.pid % 250}`
    this.#rateMbit = options.rateMbit
    this.#bridges = [`${this.#prefix}a`, `${this.#prefix}b`]
  }

  ns(i: number): string {
    return `${this.#prefix}n${i}`
  }

  /** Node i's address on the LAN. */
  ip(i: number): string {
    return `${this.#subnet}.${i + 1}`
  }

  #hostVeth(i: number): string {
    return `${this.#prefix}v${i}`
  }

  build(): void {
    for (const br of this.#bridges) {
      run('ip', 'link', 'add', br, 'type', 'bridge')
      run('ip', 'link', 'set', br, 'up')
    }
    run('ip', 'addr', 'add', `${this.#subnet}.254/24`, 'dev', this.#bridges[0])
    for (let i = 0; i < this.size; i++) {
      run('ip', 'netns', 'add', this.ns(i))
      run('ip', 'link', 'add', this.#hostVeth(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns(i))
      run('ip', 'link', 'set', this.#hostVeth(i), 'master', this.#bridges[0], 'up')
      run('ip', '-n', this.ns(i), 'addr', 'add', `${this.ip(i)}/24`, 'dev', 'eth0')
      run('ip', '-n', this.ns(i), 'link', 'set', 'eth0', 'up')
      run('ip', '-n', this.ns(i), 'link', 'set', 'lo', 'up')
      if (this.#rateMbit != null) {
        // 20 ms of queue at the rate: enough for TCP to fill the link without drops at every burst.
        const shape = ['root', 'tbf', 'rate', `${this.#rateMbit}mbit`, 'burst', '256kb', 'latency', '20ms']
        run('tc', '-n', this.ns(i), 'qdisc', 'add', 'dev', 'eth0', ...shape)
        run('tc', 'qdisc', 'add', 'dev', this.#hostVeth(i), ...shape)
      }
    }
  }

  tearDown(): void {
    for (let i = 0; i < this.size; i++) {
      // The pair goes with either end; deleted here so the next build can make it again at once.
      tryRun('ip', 'link', 'del', this.#hostVeth(i))
      tryRun('ip', 'netns', 'del', this.ns(i))
    }
    for (const br of this.#bridges) tryRun('ip', 'link', 'del', br)
  }

  /** Node i's link onto the second bridge (cut off from the first), or back. */
  setCut(i: number, cut: boolean): void {
    run('ip', 'link', 'set', this.#hostVeth(i), 'master', this.#bridges[cut ? 1 : 0])
  }

  /** `segmesh start` in node i's namespace, HTTP on :8080 and libp2p on :4001 of its address. */
  async startNode(i: number, dir: string, extra: readonly string[]): Promise<LanNode> {
    const ip = this.ip(i)
    // biome-ignore format: command-line flags read best as flag/value pairs on a line
    const node = await segmeshChild(`node ${i}`, ['ip', 'netns', 'exec', this.ns(i), join(ROOT, 'bin/segmesh'), 'start',
      '--data', dir, '--log-level', 'warn', '--http-host', ip, '--http-port', '8080', '--p2p-host', ip, '--p2p-port', '4001',
      '--public-url', `http://${ip}:8080`, ...extra
    ], 60_000)
    return { child: node.child, url: node.url, multiaddr: node.multiaddr ?? '' }
  }
}

function run(command: string, ...args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

function tryRun(command: string, ...args: string[]): void {
  try {
    run(command, ...args)
  } catch {}
}
