/**
 * Five nodes as five machines on a LAN: each `segmesh start` runs in a Linux network namespace of
 * its own, on one bridge, every node joined through node 0 (the product's defaults otherwise: 30 s
 * push-pull). Three seconds after they joined, {0, 1} are cut from {2, 3, 4} by moving the side's
 * links to a second bridge: packets between the sides go nowhere, with no error and no reset (a
 * cable pulled, a firewall's DROP), while each side keeps working; the side without the bootstrap
 * must find itself. Every node records a segment in turn (what a recorder sharing its folder does:
 * a hidden temp file, synced, renamed in) for the partition's length; then the links go back.
 *
 * Prints per round: how long after each write its own side held it (during the partition), and how
 * long after the heal every node held every segment. Reads the nodes' folders directly (the bench
 * needs no route into the namespaces once they are cut).
 *
 * Needs root and iproute2 (`ip netns`, bridges, veth); everything it makes is removed at the end.
 *
 *   node --import tsx --import ./node/compat.ts bench/netns-partition.ts [--rounds N] [--partition-seconds S]
 */
import { randomUUID } from 'node:crypto'
import { mkdir, readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { replaceFile } from '../storage/durable-file.ts'
import { formatSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import { segmentBytes } from '../simulations/segments.ts'
import { cleanupOnExit, makeTempDir } from './common.ts'
import { type Child, fmt, median, numberOption, printMachine, stopAll, table } from './http-util.ts'
import { NamespaceLan } from './netns.ts'

const NODES = 5
const SIDE_B = new Set([2, 3, 4])
const ROUNDS = numberOption('rounds', 3)
const PARTITION_S = numberOption('partition-seconds', 20)
const WRITE_EVERY_MS = 500
const CHANNEL = 'netns'
const QUALITY = 'source'
const lan = new NamespaceLan(NODES)

interface Node {
  i: number
  dir: string
  child: Child
  url: string
}

/** Side B's links onto the other bridge (cut), or back (heal). */
function setCut(cut: boolean): void {
  for (const i of SIDE_B) lan.setCut(i, cut)
}

/** Connected peers a node reports in /status (over the first bridge, before the cut). */
async function connectedPeers(node: Node): Promise<number> {
  try {
    const res = await fetch(`${node.url}/status`, { signal: AbortSignal.timeout(2000) })
    const status = (await res.json()) as { peers?: Array<{ connected?: boolean }> }
    return (status.peers ?? []).filter((p) => p.connected === true).length
  } catch {
    return 0
  }
}

/** What a recorder sharing the node's folder does: a hidden temp file, synced, renamed into the hour. */
async function record(node: Node, seq: number, hourUs: number): Promise<string> {
  const bytes = segmentBytes(`netns-${randomUUID()}`, 32 * 1024)
  const ref = formatSegmentRef({
    channel: CHANNEL,
    quality: QUALITY,
    start: hourUs + seq * 2_000_000,
    duration: 2_000_000,
    type: 'full',
    hash: sha256(bytes)
  })
  const path = join(node.dir, 'segments', segmentRelPath(ref))
  await mkdir(dirname(path), { recursive: true })
  await replaceFile(path, bytes)
  return ref.file
}

/** The segment files a node holds in the hour. */
async function held(node: Node, hour: string): Promise<Set<string>> {
  const names = await readdir(join(node.dir, 'segments', CHANNEL, QUALITY, hour)).catch(() => [] as string[])
  return new Set(names.filter((n) => n.endsWith('.ts') && !n.startsWith('.')))
}

interface RoundResult {
  joinedS: number
  writes: number
  /** Per write: ms from the write until every node of its side held it (null: not within the partition). */
  sideLagMs: { a: Array<number | null>; b: Array<number | null> }
  healMs: number | null
}

async function round(r: number): Promise<RoundResult> {
  const root = makeTempDir('segmesh-netns-')
  cleanupOnExit(root)
  lan.build()
  const nodes: Node[] = []
  try {
    const started = performance.now()
    const startNode = async (i: number, extra: string[]): Promise<Node & { multiaddr: string }> => {
      const dir = join(root, `n${i}`)
      return { i, dir, ...(await lan.startNode(i, dir, extra)) }
    }
    const first = await startNode(0, [])
    nodes.push(first)
    nodes.push(...(await Promise.all([1, 2, 3, 4].map(async (i) => await startNode(i, ['--bootstrap', first.multiaddr])))))
    // Joined: every node connected to at least one other.
    while ((await Promise.all(nodes.map(connectedPeers))).some((n) => n === 0)) await sleep(100)
    const joinedS = (performance.now() - started) / 1000
    await sleep(3000)
    setCut(true)
    const cutAt = performance.now()
    const hourUs = hourStart(Date.now() * 1000) - MICROS_PER_HOUR
    const hour = formatHour(hourUs)
    const written: Array<{ file: string; at: number; side: 'a' | 'b' }> = []
    const firstSeen = new Map<string, number[]>()
    let seq = 0
    const poll = async (): Promise<void> => {
      const sets = await Promise.all(nodes.map(async (n) => await held(n, hour)))
      const now = performance.now()
      for (const [i, set] of sets.entries()) {
        for (const file of set) {
          const seen = firstSeen.get(file) ?? Array<number>(NODES).fill(Number.NaN)
          if (Number.isNaN(seen[i]!)) seen[i] = now
          firstSeen.set(file, seen)
        }
      }
    }
    while (performance.now() - cutAt < PARTITION_S * 1000) {
      const node = nodes[seq % NODES]!
      const file = await record(node, seq, hourUs)
      written.push({ file, at: performance.now(), side: SIDE_B.has(node.i) ? 'b' : 'a' })
      seq++
      const next = performance.now() + WRITE_EVERY_MS
      while (performance.now() < next) {
        await poll()
        await sleep(50)
      }
    }
    const sideLag = (side: 'a' | 'b'): Array<number | null> =>
      written
        .filter((w) => w.side === side)
        .map((w) => {
          const seen = firstSeen.get(w.file) ?? []
          const members = nodes.filter((n) => SIDE_B.has(n.i) === (side === 'b')).map((n) => seen[n.i] ?? Number.NaN)
          return members.some(Number.isNaN) ? null : Math.max(...members) - w.at
        })
    // What each node lacked at the heal: the other side's writes.
    const lacked = nodes.map((n) =>
      written.filter((w) => Number.isNaN((firstSeen.get(w.file) ?? [])[n.i] ?? Number.NaN)).map((w) => w.file)
    )
    setCut(false)
    const healAt = performance.now()
    let healMs: number | null = null
    while (performance.now() - healAt < 120_000) {
      await poll()
      const all = written.every((w) => (firstSeen.get(w.file) ?? []).length === NODES && !(firstSeen.get(w.file) ?? []).some(Number.isNaN))
      if (all) {
        healMs = Math.max(...written.map((w) => Math.max(...firstSeen.get(w.file)!))) - healAt
        break
      }
      await sleep(50)
    }
    // Per node, when the first and the last of what it lacked arrived: a late first is reconnection, a long tail the downloads.
    const arrivals = nodes.map((n) => {
      const times = lacked[n.i]!.map((f) => (firstSeen.get(f) ?? [])[n.i]! - healAt).filter(Number.isFinite)
      return times.length === 0 ? `${n.i}: -` : `${n.i}: ${fmt(Math.min(...times) / 1000, 2)}–${fmt(Math.max(...times) / 1000, 2)} s`
    })
    console.log(
      `round ${r}: joined in ${fmt(joinedS)} s, ${written.length} writes, heal ${healMs == null ? 'not within 120 s' : `${fmt(healMs / 1000, 2)} s`}; first–last arrival of what each node lacked: ${arrivals.join(', ')}`
    )
    return {
      joinedS,
      writes: written.length,
      sideLagMs: { a: sideLag('a'), b: sideLag('b') },
      healMs: healMs == null ? null : Math.max(0, healMs)
    }
  } finally {
    await Promise.all(nodes.map(async (n) => await n.child.stop(10_000)))
    lan.tearDown()
  }
}

const spread = (values: Array<number | null>): string => {
  const got = values.filter((v): v is number => v != null).sort((a, b) => a - b)
  const missed = values.length - got.length
  if (got.length === 0) return `none of ${values.length}`
  return `${fmt(median(got) / 1000, 2)} / ${fmt(got.at(-1)! / 1000, 2)} s${missed > 0 ? `, ${missed} of ${values.length} never` : ''}`
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)')
  printMachine()
  console.log(
    `${NODES} nodes, one namespace each; cut {0, 1} | {2, 3, 4} for ${PARTITION_S} s, 3 s after joining; a write every ${WRITE_EVERY_MS} ms`
  )
  const rows: string[][] = []
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      const res = await round(r)
      rows.push([
        String(r),
        fmt(res.joinedS),
        String(res.writes),
        spread(res.sideLagMs.a),
        spread(res.sideLagMs.b),
        res.healMs == null ? 'no' : `${fmt(res.healMs / 1000, 2)} s`
      ])
    }
  } finally {
    await stopAll()
    lan.tearDown()
  }
  console.log(
    `\n${table(
      [
        'round',
        'joined, s',
        'writes',
        'side with the bootstrap: each write on all its nodes, median / max',
        'side without it: the same',
        'after the heal: every segment on every node'
      ],
      rows
    )}`
  )
}

await main()
