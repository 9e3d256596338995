/**
 * Partial replicas at 20 nodes (issue 15): a recorder holds four channels; 20 nodes in this
 * process (HTTP and libp2p on 127.0.0.1) each keep one of them (`--keep chN`, node i keeps channel
 * i mod 4) and join through the recorder (peer exchange does the rest). Once every node holds its
 * channel:
 * - every node serves every channel: its media playlist equals the recorder's byte for byte, and
 *   every segment it names, fetched through that node, has the recorder's bytes;
 * - nothing not kept was stored on the way (read-through of a channel not kept passes the bytes on);
 * - `/copies` on every node, for every channel, matches the truth computed from the disks of that
 *   node and its connected peers (the set `/copies` counts over).
 *
 *   node --import tsx --import ./node/compat.ts bench/partial-replicas.ts [--quick] [--nodes N] [--seed S]
 *
 * The seed picks which earlier nodes each node also bootstraps from (the recorder always).
 */
import { createHash } from 'node:crypto'
import { request } from 'undici'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { MICROS_PER_HOUR, formatInstant, hourStart } from '../storage/time.ts'
import { bytesFor } from '../test/helpers/tree.ts'
import { QUICK, machineInfo, prng, table } from './common.ts'
import { Cluster, until } from './replication-net.ts'

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const NODES = arg('nodes', QUICK ? 8 : 20)
const SEED = arg('seed', 42)
const CHANNELS = ['ch0', 'ch1', 'ch2', 'ch3']
const SEGMENTS = QUICK ? 10 : 30
const SIZE = 16 * 1024

async function text(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  const res = await request(url, { headers })
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) }
}

async function main(): Promise<void> {
  console.log(machineInfo())
  console.log(`nodes ${NODES} (+ the recorder), channels ${CHANNELS.length}, ${SEGMENTS} segments of ${SIZE / 1024} KiB each, seed ${SEED}`)
  const cluster = new Cluster('partial-replicas-')
  const started = performance.now()
  try {
    const recorder = await cluster.start({ digestIntervalSeconds: 1 })
    const hour = hourStart(Date.now() * 1000) - MICROS_PER_HOUR
    for (const channel of CHANNELS) {
      for (let i = 0; i < SEGMENTS; i++) {
        await recorder.store.recordSegment(
          { channel, quality: 'source', start: hour + i * 2_000_000, duration: 2_000_000, type: 'full' },
          bytesFor(`${channel}-${i}`, SIZE)
        )
      }
    }
    const random = prng(SEED)
    const nodes: SegmeshNode[] = []
    for (let i = 0; i < NODES; i++) {
      const also = nodes.filter(() => random() < 2 / Math.max(1, nodes.length)).slice(0, 2)
      nodes.push(
        await cluster.start({ bootstrap: [recorder, ...also], digestIntervalSeconds: 1, flags: { keep: CHANNELS[i % CHANNELS.length]! } })
      )
    }
    const kept = (i: number): string => CHANNELS[i % CHANNELS.length]!
    const holdsKept = (n: SegmeshNode, i: number): boolean => n.index.hourSegments(kept(i), 'source', hour).length === SEGMENTS
    if (!(await until(() => nodes.every(holdsKept), 300_000, 100))) throw new Error('the nodes never backfilled their channels')
    const backfilled = (performance.now() - started) / 1000
    // A few push-pull rounds (1 s here, 30 s by default), so each node has its peers' roots.
    await new Promise((resolve) => setTimeout(resolve, 5000))

    // Every node serves every channel: the playlist and every segment in it.
    const path = (channel: string): string =>
      `/playlist/${channel}/source.m3u8?start=${formatInstant(hour)}&end=${formatInstant(hour + SEGMENTS * 2_000_000)}`
    const expected = new Map<string, string>()
    for (const channel of CHANNELS) expected.set(channel, (await text(`${recorder.url}${path(channel)}`)).body.toString())
    let playlistsSame = 0
    let segmentsSame = 0
    let segmentsChecked = 0
    let storedNotKept = 0
    const problems: string[] = []
    for (const [i, node] of nodes.entries()) {
      for (const channel of CHANNELS) {
        const url = `${node.url}${path(channel)}`
        const got = await text(url)
        if (got.status === 200 && got.body.toString() === expected.get(channel)) playlistsSame++
        else problems.push(`node ${i} ${channel}: playlist ${got.status} differs`)
        for (const line of got.body.toString().split('\n')) {
          if (line === '' || line.startsWith('#')) continue
          const segment = await text(new URL(line, url).href)
          const direct = await text(new URL(line, `${recorder.url}${path(channel)}`).href)
          segmentsChecked++
          if (segment.status === 200 && segment.body.equals(direct.body)) segmentsSame++
          else problems.push(`node ${i} ${channel}: ${line} ${segment.status}`)
        }
        if (channel !== kept(i) && node.index.hourSegments(channel, 'source', hour).length > 0) storedNotKept++
      }
    }

    // /copies against the disks of each node and its connected peers.
    const byPeerId = new Map([recorder, ...nodes].map((n) => [n.host!.peerId, n]))
    const digestOf = (n: SegmeshNode, channel: string): string => n.index.hourSummaries(channel, 'source', hour, hour + 1)[0]?.digest ?? ''
    let copiesSame = 0
    let copiesChecked = 0
    const copiesSeen = new Map<number, number>()
    for (const [i, node] of nodes.entries()) {
      const around = [node, ...node.host!.connectedPeers().flatMap((id) => byPeerId.get(id) ?? [])]
      for (const channel of CHANNELS) {
        const query = `start=${formatInstant(hour)}&end=${formatInstant(hour + MICROS_PER_HOUR)}`
        const got = JSON.parse((await text(`${node.url}/copies/${channel}/source?${query}`)).body.toString()) as {
          hours: Array<{ copies: number; holders: number }>
        }
        const mine = digestOf(node, channel)
        const truth = {
          copies: mine === '' ? 0 : around.filter((n) => digestOf(n, channel) === mine).length,
          holders: around.filter((n) => digestOf(n, channel) !== '').length
        }
        const answer = got.hours[0] ?? { copies: 0, holders: 0 }
        copiesChecked++
        if (answer.copies === truth.copies && answer.holders === truth.holders) copiesSame++
        else problems.push(`node ${i} ${channel}: /copies ${JSON.stringify(answer)}, disks ${JSON.stringify(truth)}`)
        if (channel === kept(i)) copiesSeen.set(answer.copies, (copiesSeen.get(answer.copies) ?? 0) + 1)
      }
    }
    const copiesOfKept = [...copiesSeen].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${c}: ${n}`)
    console.log(
      table(
        ['figure', 'value'],
        [
          ['seconds until every node held its channel', backfilled.toFixed(1)],
          ['playlists equal to the recorder’s (node × channel)', `${playlistsSame} of ${NODES * CHANNELS.length}`],
          ['segments through a node equal to the recorder’s', `${segmentsSame} of ${segmentsChecked}`],
          ['channels stored that a node does not keep', String(storedNotKept)],
          ['/copies equal to the disks (node × channel)', `${copiesSame} of ${copiesChecked}`],
          ['copies of its own channel seen by nodes (copies: nodes)', copiesOfKept.join(', ')],
          [
            'connected peers per node (min / max)',
            `${Math.min(...nodes.map((n) => n.host!.connectedPeers().length))} / ${Math.max(...nodes.map((n) => n.host!.connectedPeers().length))}`
          ]
        ]
      )
    )
    const digest = createHash('sha256').update(problems.join('\n')).digest('hex').slice(0, 12)
    console.log(
      problems.length === 0 ? 'all checks passed' : `${problems.length} problems (${digest}):\n${problems.slice(0, 20).join('\n')}`
    )
    if (problems.length > 0) process.exitCode = 1
  } finally {
    await cluster.stopAll()
  }
}

await main()
