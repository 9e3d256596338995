/**
 * The disk budget (--max-disk-bytes, issue 15), real nodes in this process (HTTP and libp2p on
 * 127.0.0.1), a 3-hour archive of synthetic segments three hours old and older.
 *
 *   node --import tsx --import ./node/compat.ts bench/disk-budget.ts [--quick]
 *
 * Part 1: a node with a budget of a third of the archive joins the holder and two full copies,
 * and backfills while 4 viewers read random segments of the archive through it. Its indexed
 * segment bytes are sampled every 5 ms: the most over the budget (goal: at most one segment), and
 * for each eviction whether it passed over an older hour it held then and still holds at the end
 * while the other three hold it whole (goal: none: oldest first).
 * Part 2: three nodes with --min-copies 2 whose budgets together hold two copies (each two thirds
 * of the archive); the first records the archive. Once nothing moves for 5 s: how many nodes hold
 * each segment (goal: every segment on at least 2).
 */
import { request } from 'undici'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import { bytesFor, namedBytes } from '../test/helpers/tree.ts'
import { QUICK, machineInfo, mib, table } from './common.ts'
import { Cluster, until } from './replication-net.ts'

const HOURS = 3
const PER_HOUR = QUICK ? 60 : 600
const SIZE = 96 * 1024
const TOTAL = HOURS * PER_HOUR * SIZE
const first = hourStart(Date.now() * 1000) - (HOURS + 2) * MICROS_PER_HOUR
const HOUR_STARTS = Array.from({ length: HOURS }, (_, h) => first + h * MICROS_PER_HOUR)
const spacing = MICROS_PER_HOUR / PER_HOUR

const heldHours = (node: SegmeshNode): Set<number> =>
  new Set(
    node.index
      .hourSummaries('c', 'q')
      .filter((h) => h.segments > 0)
      .map((h) => h.start)
  )

/** Wait until `nodes`' segment counts have not changed for `quietMs` (or `maxMs` passed). */
async function settle(nodes: readonly SegmeshNode[], quietMs: number, maxMs: number): Promise<void> {
  let last = ''
  let since = Date.now()
  await until(
    () => {
      const now = nodes.map((n) => n.index.totals().segments).join(',')
      if (now !== last) {
        last = now
        since = Date.now()
      }
      return Date.now() - since >= quietMs
    },
    maxMs,
    100
  )
}

async function partOne(cluster: Cluster): Promise<void> {
  const holder = await cluster.start()
  const refs: SegmentRef[] = []
  for (const h of HOUR_STARTS) {
    for (let i = 0; i < PER_HOUR; i++) {
      const { ref, body } = namedBytes(`p1-${h}-${i}`, SIZE, { start: h + i * spacing })
      await holder.store.writeSegment(ref, body)
      refs.push(ref)
    }
  }
  const copies = [await cluster.start({ bootstrap: [holder] }), await cluster.start({ bootstrap: [holder] })]
  if (!(await until(() => copies.every((n) => n.index.totals().segments === refs.length), 300_000, 100)))
    throw new Error('the full copies never finished backfilling')
  const max = Math.floor(TOTAL / 3)
  const node = await cluster.start({ bootstrap: [holder, ...copies], flags: { 'max-disk-bytes': String(max) } })
  let most = 0
  let held = heldHours(node)
  const order: Array<{ hour: number; heldBefore: Set<number> }> = []
  const sampler = setInterval(() => {
    most = Math.max(most, node.index.totals().bytes)
    for (const h of HOUR_STARTS) {
      if (order.some((o) => o.hour === h) || !node.budget!.isEvicted({ channel: 'c', quality: 'q', start: h })) continue
      order.push({ hour: h, heldBefore: held })
    }
    held = heldHours(node)
  }, 5)

  const viewers = { ok: 0, other: 0, bytes: 0, codes: new Map<number, number>() }
  let reading = true
  const viewer = async (seed: number): Promise<void> => {
    let i = seed
    while (reading) {
      i = (i * 7919 + 104729) % refs.length
      const res = await request(`${node.url}/segments/${segmentRelPath(refs[i]!)}`)
      const body = await res.body.arrayBuffer()
      if (res.statusCode === 200 && body.byteLength === SIZE) viewers.ok++
      else {
        viewers.other++
        viewers.codes.set(res.statusCode, (viewers.codes.get(res.statusCode) ?? 0) + 1)
      }
      viewers.bytes += body.byteLength
    }
  }
  const reads = [1, 2, 3, 4].map(viewer)
  const started = performance.now()
  await settle([node], 5000, 300_000)
  reading = false
  await Promise.all(reads)
  clearInterval(sampler)
  most = Math.max(most, node.index.totals().bytes)
  const s = node.budget!.state()
  const heldAtEnd = heldHours(node)
  const whole = (n: SegmeshNode, h: number): boolean => n.index.hourSegments('c', 'q', h).length === PER_HOUR
  const passedOver = order.filter((e) =>
    [...e.heldBefore].some((o) => o < e.hour && heldAtEnd.has(o) && [holder, ...copies].every((n) => whole(n, o)))
  ).length
  console.log(
    `\npart 1: one node with a budget of a third of a ${mib(TOTAL)} archive (${HOURS} h × ${PER_HOUR} segments of ${SIZE / 1024} KiB)`
  )
  console.log(
    table(
      ['figure', 'value'],
      [
        ['budget', mib(max)],
        ['most indexed at any sample', mib(most)],
        ['most over the budget', `${Math.max(0, most - max)} bytes (${(Math.max(0, most - max) / SIZE).toFixed(2)} segments; goal ≤ 1)`],
        [
          'held at the end',
          `${mib(node.index.totals().bytes)} in hours ${[...heldHours(node)].map((h) => HOUR_STARTS.indexOf(h)).join(', ') || 'none'}`
        ],
        ['evicted, in order', order.map((e) => HOUR_STARTS.indexOf(e.hour)).join(', ') || 'none'],
        ['evictions that passed over an older hour the others hold', `${passedOver} (goal 0)`],
        ['budget full at the end', String(s.full)],
        [
          'viewer reads through it: 200 whole / other',
          `${viewers.ok} / ${viewers.other} (${[...viewers.codes].map(([c, n]) => `${n} × ${c}`).join(', ') || 'none'}; ${mib(viewers.bytes)})`
        ],
        ['seconds until nothing moved for 5 s', ((performance.now() - started) / 1000).toFixed(1)]
      ]
    )
  )
}

async function partTwo(cluster: Cluster): Promise<void> {
  const max = Math.floor((2 * TOTAL) / 3)
  const flags = { 'max-disk-bytes': String(max), 'min-copies': '2' }
  const recorder = await cluster.start({ flags })
  for (const h of HOUR_STARTS) {
    for (let i = 0; i < PER_HOUR; i++) {
      await recorder.store.recordSegment(
        { channel: 'c', quality: 'q', start: h + i * spacing, duration: 2_000_000, type: 'full' },
        bytesFor(`p2-${h}-${i}`, SIZE)
      )
    }
  }
  const nodes = [recorder, await cluster.start({ bootstrap: [recorder], flags }), await cluster.start({ bootstrap: [recorder], flags })]
  const most = nodes.map(() => 0)
  const sampler = setInterval(() => {
    for (const [i, n] of nodes.entries()) most[i] = Math.max(most[i]!, n.index.totals().bytes)
  }, 5)
  const started = performance.now()
  // Budget passes run every 30 s; here each node is asked for one every second, until nothing has
  // moved (segments held, evictions) for 10 s.
  let last = ''
  let since = Date.now()
  await until(
    async () => {
      await Promise.all(nodes.map(async (n) => await n.budget!.check()))
      const now = nodes.map((n) => `${n.index.totals().segments}/${n.budget!.state().evictions.hours}`).join(' ')
      if (now !== last) {
        last = now
        since = Date.now()
      }
      return Date.now() - since >= 10_000
    },
    300_000,
    1000
  )
  clearInterval(sampler)
  const names = new Map<string, number>()
  for (const n of nodes)
    for (const h of HOUR_STARTS) for (const s of n.index.hourSegments('c', 'q', h)) names.set(s.file, (names.get(s.file) ?? 0) + 1)
  const fewer = [...names.values()].filter((c) => c < 2).length
  console.log(`\npart 2: three nodes, --min-copies 2, each with a budget of two thirds of the archive (${mib(max)}); the first recorded it`)
  console.log(
    table(
      ['node', 'held at the end', 'most held', 'hours held', 'evictions', 'full'],
      nodes.map((n, i) => [
        i === 0 ? 'recorder' : `node ${i}`,
        mib(n.index.totals().bytes),
        mib(most[i]!),
        [...heldHours(n)].map((h) => HOUR_STARTS.indexOf(h)).join(', '),
        String(n.budget!.state().evictions.hours),
        String(n.budget!.full)
      ])
    )
  )
  console.log(
    table(
      ['hour', 'nodes holding all of it'],
      HOUR_STARTS.map((h) => [formatHour(h), String(nodes.filter((n) => n.index.hourSegments('c', 'q', h).length === PER_HOUR).length)])
    )
  )
  console.log(`segments: ${names.size} of ${HOURS * PER_HOUR} held somewhere; on fewer than 2 nodes: ${fewer} (goal 0)`)
  console.log(`seconds: ${((performance.now() - started) / 1000).toFixed(1)}`)
}

async function main(): Promise<void> {
  console.log(machineInfo())
  for (const part of [partOne, partTwo]) {
    const cluster = new Cluster('disk-budget-')
    try {
      await part(cluster)
    } finally {
      await cluster.stopAll()
    }
  }
}

await main()
