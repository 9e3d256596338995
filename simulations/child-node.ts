/**
 * A node as a real child process: `bin/segmesh start` with its own data folder and ports, and the
 * test-only shim (child/shim.ts) loaded through NODE_OPTIONS. The harness drives it the way an
 * operator and a recorder would: files dropped into its segments folder (its watcher indexes and
 * announces them), tombstones over the admin API, SIGTERM, SIGKILL and restarts on the same ports
 * and data. Faults go through `control.json`, which the shim applies and confirms.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Control } from './child/shim.ts'
import type { NodeCounters } from './counters.ts'
import type { GossipFaults, ProbeEvent } from './probe.ts'
import type { SyntheticSegment } from './segments.ts'
import {
  ADMIN_TOKEN,
  CounterCarry,
  type DigestMap,
  type NodeCrash,
  ONE_HOST_FLAGS,
  PEER_BAN_SECONDS,
  type SimNode,
  type SimNodeInit,
  cpuOf,
  fetchDigests,
  OWN_ONLY,
  getJson,
  rssOf,
  simNodePlace
} from './sim-node.ts'

const SEGMESH = fileURLToPath(new URL('../bin/segmesh', import.meta.url))
const PRELOAD = fileURLToPath(new URL('./child/preload.mjs', import.meta.url))

export class ChildNode implements SimNode {
  readonly id: number
  readonly dataDir: string
  readonly url: string
  readonly publicUrl: string
  peerId: string | null = null
  multiaddr: string | null = null
  readonly #init: SimNodeInit
  readonly #carry = new CounterCarry()
  #child: ChildProcess | null = null
  /** The child being stopped or killed on purpose: its exit is not a crash. */
  #halting: ChildProcess | null = null
  readonly crashes: NodeCrash[] = []
  #log: WriteStream | null = null
  #control: Control = { version: 0, blockedPeers: [], blockedUrls: [], gossip: { loss: 0, delayMs: 0 } }

  constructor(init: SimNodeInit) {
    this.#init = init
    ;({ id: this.id, dataDir: this.dataDir, url: this.url, publicUrl: this.publicUrl } = simNodePlace(init))
  }

  get up(): boolean {
    return this.#child != null
  }

  get pid(): number | null {
    return this.#child?.pid ?? null
  }

  async start(bootstrap: string | null): Promise<void> {
    if (this.#child != null) return
    const init = this.#init
    await writeFile(join(init.dir, 'control.json'), JSON.stringify(this.#control))
    // biome-ignore format: command-line flags read best as flag/value pairs on a line
    const args = [
      'start', '--data', this.dataDir, '--http-host', '127.0.0.1', '--http-port', String(init.httpPort),
      '--p2p-host', '127.0.0.1', '--p2p-port', String(init.p2pPort), '--public-url', init.publicUrl,
      '--digest-interval-seconds', String(init.digestIntervalSeconds), '--index-map-size-mb', '256',
      '--peer-ban-seconds', String(PEER_BAN_SECONDS),
      ...Object.entries(ONE_HOST_FLAGS).flatMap(([flag, value]) => [`--${flag}`, value]),
      '--rescan-interval-seconds', '30', '--log-level', process.env.SEGSIM_LOG ?? 'warn', ...(init.args ?? []),
      ...(bootstrap == null ? [] : ['--bootstrap', bootstrap])
    ]
    // The node refuses unknown SEGMESH_* variables: pass only ours.
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(process.env)) if (v != null && !k.startsWith('SEGMESH_') && !k.startsWith('SEGSIM_')) env[k] = v
    Object.assign(env, {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PRELOAD}`.trim(),
      SEGSIM_DIR: init.dir,
      SEGSIM_NODE: String(init.id),
      SEGSIM_SEED: String(init.seed),
      SEGMESH_ADMIN_TOKEN: ADMIN_TOKEN
    })
    this.#log ??= createWriteStream(join(init.dir, 'node.log'), { flags: 'a' })
    const child = spawn(SEGMESH, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stderr!.pipe(this.#log, { end: false })
    this.#child = child
    child.once('exit', () => {
      if (this.#child === child) this.#child = null
    })
    // 'close' comes once its pipes are drained too: the log has everything the child printed.
    child.once('close', (code, signal) => {
      if (this.#halting !== child) void this.#crashed(code, signal)
    })
    try {
      await this.#readBanner(child)
    } catch (err) {
      this.#halting = child
      child.kill('SIGKILL')
      this.#child = null
      const tail = (await readFile(join(init.dir, 'node.log'), 'utf8').catch(() => '')).slice(-2000)
      throw new Error(`node ${this.id} did not start: ${(err as Error).message}\n${tail}`)
    }
  }

  /** Read `segmesh peer id` / `multiaddr` / `public url` lines; the last one means ready. */
  async #readBanner(child: ChildProcess): Promise<void> {
    // Every stdout line goes to the log, for as long as the child lives, so its pipe never fills.
    const lines = createInterface({ input: child.stdout! })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not ready within 60 s')), 60_000).unref()
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`exited (${code ?? signal}) before it was ready`))
      })
      lines.on('line', (line) => {
        this.#log?.write(`${line}\n`)
        const id = /^segmesh peer id (\S+)$/.exec(line)
        if (id != null) this.peerId = id[1]!
        const addr = /^segmesh multiaddr (\S+)$/.exec(line)
        if (addr != null) this.multiaddr ??= addr[1]!
        if (line.startsWith('segmesh public url ')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
  }

  async stop(): Promise<void> {
    await this.#halt('SIGTERM')
  }

  async kill(): Promise<void> {
    await this.#halt('SIGKILL')
  }

  async #halt(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    if (child == null) return
    const exited = once(child, 'exit')
    this.#halting = child
    if (signal === 'SIGKILL') this.#carry.finish(await this.#stats())
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(timer)
    // After a graceful stop the last stats are complete (the shim wrote them on its last tick).
    if (signal !== 'SIGKILL') this.#carry.finish(await this.#stats())
    await rm(join(this.#init.dir, 'stats.json'), { force: true })
    this.#child = null
  }

  async #crashed(code: number | null, signal: string | null): Promise<void> {
    const at = Date.now()
    // Writes are in order: once this empty one is flushed, all before it are in the file.
    await new Promise<void>((resolve) => (this.#log == null ? resolve() : this.#log.write('', () => resolve())))
    const logTail = (await readFile(join(this.#init.dir, 'node.log'), 'utf8').catch(() => '')).slice(-3000)
    this.crashes.push({ at, code, signal, logTail })
  }

  async write(segment: SyntheticSegment): Promise<void> {
    const path = join(this.dataDir, 'segments', segment.path)
    const temp = join(dirname(path), `.sim-${randomUUID()}`)
    await mkdir(dirname(path), { recursive: true })
    // What a recorder sharing the folder does: a hidden temp file, synced, renamed into place.
    const fh = await open(temp, 'w')
    try {
      await fh.writeFile(segment.bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(temp, path)
    const { channel, quality, hour, file } = segment.ref
    const deadline = Date.now() + 30_000
    // Once on its disk, the segment is the node's: a node killed now indexes it when it restarts.
    while (Date.now() < deadline && this.#child != null) {
      const { status, body } = await getJson(`${this.url}/files/${channel}/${quality}/${hour}`, OWN_ONLY).catch(() => ({
        status: 0,
        body: null
      }))
      if (status === 200 && Array.isArray(body) && body.includes(file)) return
      await sleep(50)
    }
    if (this.#child != null) throw new Error(`node ${this.id} did not list ${segment.path} within 30 s`)
  }

  async setFaults(blocked: { peerIds: string[]; urls: string[] }, gossip: GossipFaults): Promise<void> {
    this.#control = { version: this.#control.version + 1, blockedPeers: blocked.peerIds, blockedUrls: blocked.urls, gossip }
    const path = join(this.#init.dir, 'control.json')
    await writeFile(`${path}.tmp`, JSON.stringify(this.#control))
    await rename(`${path}.tmp`, path)
    if (this.#child == null) return
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && this.#child != null) {
      const applied = JSON.parse(await readFile(join(this.#init.dir, 'applied.json'), 'utf8').catch(() => '{}')) as { version?: number }
      if ((applied.version ?? -1) >= this.#control.version) return
      await sleep(20)
    }
    if (this.#child != null) throw new Error(`node ${this.id} did not apply its faults within 10 s`)
  }

  async digests(): Promise<DigestMap> {
    return await fetchDigests(this.url)
  }

  async #stats(): Promise<NodeCounters | null> {
    return (await this.#statsFile())?.counters ?? null
  }

  async #statsFile(): Promise<{ counters: NodeCounters; memory: { rss: number; heapUsed: number } } | null> {
    const text = await readFile(join(this.#init.dir, 'stats.json'), 'utf8').catch(() => null)
    return text == null ? null : (JSON.parse(text) as { counters: NodeCounters; memory: { rss: number; heapUsed: number } })
  }

  async counters(): Promise<NodeCounters> {
    return this.#carry.total(this.#child == null ? null : await this.#stats())
  }

  async memory(): Promise<{ rss: number; heapUsed: number | null } | null> {
    const rss = this.pid == null ? null : await rssOf(this.pid)
    return rss == null ? null : { rss, heapUsed: (await this.#statsFile())?.memory.heapUsed ?? null }
  }

  async cpuSeconds(): Promise<number | null> {
    return this.pid == null ? null : await cpuOf(this.pid)
  }

  async events(): Promise<ProbeEvent[]> {
    const text = await readFile(join(this.#init.dir, 'events.jsonl'), 'utf8').catch(() => '')
    const out: ProbeEvent[] = []
    for (const line of text.split('\n')) {
      // A SIGKILL can cut the last line short.
      try {
        if (line !== '') out.push(JSON.parse(line) as ProbeEvent)
      } catch {}
    }
    return out
  }
}
