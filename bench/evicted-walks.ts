/**
 * What evicted hours cost replication once settled (a limit of --max-disk-bytes today): a node that
 * evicted hours differs from its peers in them for good, so its pairwise exchanges keep walking
 * those ranges. Two real nodes in this process: a holder of HOURS hours of small segments, and a
 * node with a budget of two hours (`--min-copies 1`, so the holder's promise suffices) joined to
 * it, push-pull every second. Once the budgeted node has settled, over `--seconds` (default 30): the
 * repairs (walks), range and name requests, names offered to it and names it dropped; against a
 * control pair with no budget, settled the same way.
 *
 *   node --import tsx --import ./node/compat.ts bench/evicted-walks.ts [--quick] [--seconds S]
 */
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { bytesFor } from '../test/helpers/tree.ts'
import { QUICK, machineInfo, table } from './common.ts'
import { numberOption } from './http-util.ts'
import { Cluster, until } from './replication-net.ts'

const HOURS = 6
const PER_HOUR = QUICK ? 60 : 600
const SIZE = 4096
const SECONDS = numberOption('seconds', QUICK ? 10 : 30)

interface Counts {
  walks: number
  rangeRequests: number
  offered: number
  dropped: number
}

const counts = (holder: SegmeshNode, node: SegmeshNode): Counts => ({
  walks: holder.replicator!.stats.repairs + node.replicator!.stats.repairs,
  rangeRequests: holder.replicator!.stats.rangeRequests + node.replicator!.stats.rangeRequests,
  offered: holder.replicator!.stats.offered + node.replicator!.stats.offered,
  dropped: node.replicator!.stats.wantsDropped
})

async function pair(budget: boolean): Promise<{ evicted: number; held: number; per: Counts }> {
  const cluster = new Cluster('evicted-walks-')
  try {
    const holder = await cluster.start({ digestIntervalSeconds: 1 })
    const first = hourStart(Date.now() * 1000) - (HOURS + 1) * MICROS_PER_HOUR
    for (let h = 0; h < HOURS; h++)
      for (let i = 0; i < PER_HOUR; i++)
        await holder.store.recordSegment(
          { channel: 'c', quality: 'q', start: first + h * MICROS_PER_HOUR + i * 2_000_000, duration: 2_000_000, type: 'full' },
          bytesFor(`${h}-${i}`, SIZE)
        )
    const flags: Record<string, string> = budget ? { 'max-disk-bytes': String(2 * PER_HOUR * SIZE), 'min-copies': '1' } : {}
    const node = await cluster.start({ bootstrap: [holder], digestIntervalSeconds: 1, flags })
    // Settled: nothing stored or evicted for 5 s.
    let last = ''
    let since = Date.now()
    await until(
      async () => {
        await node.budget?.check()
        const now = `${node.index.totals().segments} ${node.budget?.state().evictions.hours ?? 0}`
        if (now !== last) {
          last = now
          since = Date.now()
        }
        return Date.now() - since > 5000
      },
      300_000,
      200
    )
    const before = counts(holder, node)
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
    const after = counts(holder, node)
    return {
      evicted: node.budget?.state().evictedHours ?? 0,
      held: node.index.totals().segments,
      per: {
        walks: after.walks - before.walks,
        rangeRequests: after.rangeRequests - before.rangeRequests,
        offered: after.offered - before.offered,
        dropped: after.dropped - before.dropped
      }
    }
  } finally {
    await cluster.stopAll()
  }
}

async function main(): Promise<void> {
  console.log(machineInfo())
  console.log(`${HOURS} hours × ${PER_HOUR} segments on the holder; push-pull every second; ${SECONDS} s measured once settled\n`)
  const rows: string[][] = []
  for (const budget of [false, true]) {
    const r = await pair(budget)
    rows.push([
      budget ? 'budget of 2 hours' : 'no budget (control)',
      String(r.held),
      String(r.evicted),
      String(r.per.walks),
      String(r.per.rangeRequests),
      String(r.per.offered),
      String(r.per.dropped)
    ])
  }
  console.log(table(['node', 'segments held', 'hours evicted', 'walks', 'range/name requests', 'names offered', 'names dropped'], rows))
}

await main()
