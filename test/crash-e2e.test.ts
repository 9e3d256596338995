/**
 * Crash safety end to end: a real node (bin/segmesh start, a child process) is SIGKILLed at seeded
 * random moments while it backfills from a peer, records a live HLS stream, or writes a tombstone
 * for an admin, round after round, and restarted on the same data and ports. test/crash-safety.test.ts
 * proves the store alone; this proves the node: after every kill the index names only files that
 * are on disk at their size and hash, with no temp file indexed and every acknowledged tombstone
 * kept; at the end, after a graceful stop, index and disk agree exactly, the backfill has completed,
 * and no tombstoned segment came back — on this node or on the peer it replicated the tombstones to.
 * CRASH_SEED=<seed> replays a run's choices (the exact kill instants still depend on scheduling).
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { request } from 'undici'
import { ChildNode } from '../simulations/child-node.ts'
import { freePorts } from '../lib/free-ports.ts'
import { Rng } from '../simulations/prng.ts'
import { ADMIN_TOKEN } from '../simulations/sim-node.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { TOMBSTONE_EXT, formatSegmentRef, parseSegmentRef, segmentFileNameOfTombstone, segmentRelPath } from '../storage/segment-name.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { HlsOrigin } from './helpers/hls-origin.ts'
import { startNode, until } from './helpers/network.ts'

const ROUNDS = 12
type Mode = 'backfill' | 'recording' | 'tombstone'
const MODES: readonly Mode[] = ['backfill', 'recording', 'tombstone']

interface DiskTree {
  segments: Map<string, number>
  tombstones: Set<string>
  temps: string[]
}

/** segments/CHANNEL/QUALITY/HOUR/FILE as the node left it (hidden files, like disk probes, skipped). */
async function walkDisk(segmentsDir: string): Promise<DiskTree> {
  const tree: DiskTree = { segments: new Map(), tombstones: new Set(), temps: [] }
  const entries = await readdir(segmentsDir, { recursive: true, withFileTypes: true }).catch(() => [])
  for (const e of entries) {
    if (!e.isFile() || e.name.startsWith('.')) continue
    const rel = join(e.parentPath, e.name).slice(segmentsDir.length + 1)
    const parts = rel.split('/')
    assert.equal(parts.length, 4, `stray file ${rel}`)
    const dir = parts.slice(0, 3).join('/')
    if (e.name.endsWith(TOMBSTONE_EXT)) {
      tree.tombstones.add(`${dir}/${segmentFileNameOfTombstone(e.name)}`)
      continue
    }
    const parsed = parseSegmentRef(parts[0]!, parts[1]!, parts[2]!, parts[3]!)
    assert.ok(parsed.ok, `not a segment name: ${rel}`)
    if (parsed.value.type === 'temp') tree.temps.push(rel)
    else tree.segments.set(rel, (await stat(join(segmentsDir, rel))).size)
  }
  return tree
}

/**
 * Open the (dead) node's index and check it against the disk. Always: every indexed segment is on
 * disk at its size, its bytes hash to its name, nothing temp is indexed, every indexed tombstone is
 * a file, every acknowledged tombstone is indexed. `exact` (after a graceful stop): also every
 * segment and tombstone file is indexed.
 */
async function checkNode(
  dataDir: string,
  acked: ReadonlySet<string>,
  verified: Set<string>,
  exact: boolean
): Promise<{ segments: number; temps: number }> {
  const segmentsDir = join(dataDir, 'segments')
  const disk = await walkDisk(segmentsDir)
  const index = SegmentIndex.open(join(dataDir, 'index'), { mapSize: 256 * 1024 ** 2 })
  try {
    const indexed = new Map<string, number>()
    for (const channel of index.channels()) {
      for (const quality of index.qualities(channel)) {
        for (const h of index.hourSummaries(channel, quality)) {
          for (const s of index.hourSegments(channel, quality, h.start, { hidden: true }))
            indexed.set(`${channel}/${quality}/${s.hour}/${s.file}`, s.size)
        }
      }
    }
    const tombstones = new Set(index.tombstones().map((t) => `${t.channel}/${t.quality}/${t.hour}/${t.segment}`))
    for (const [rel, size] of indexed) {
      assert.ok(!rel.includes('-temp-'), `temp file indexed: ${rel}`)
      assert.equal(disk.segments.get(rel), size, `indexed ${rel} (${size} bytes) is not on disk at that size`)
      const key = `${rel}:${size}`
      if (verified.has(key)) continue
      const parsed = parseSegmentRef(...(rel.split('/') as [string, string, string, string]))
      assert.ok(
        parsed.ok && sha256(await readFile(join(segmentsDir, rel))).equals(parsed.value.hash!),
        `bytes of ${rel} do not match its name`
      )
      verified.add(key)
    }
    for (const rel of tombstones) assert.ok(disk.tombstones.has(rel), `indexed tombstone without a file: ${rel}`)
    for (const rel of acked) assert.ok(tombstones.has(rel), `acknowledged tombstone lost: ${rel}`)
    if (exact) {
      assert.deepEqual(
        [...disk.segments.keys()].filter((rel) => !indexed.has(rel)),
        [],
        'segment files not indexed'
      )
      assert.deepEqual(
        [...disk.tombstones].filter((rel) => !tombstones.has(rel)),
        [],
        'tombstone files not indexed'
      )
    }
    return { segments: indexed.size, temps: disk.temps.length }
  } finally {
    await index.stop()
  }
}

async function listing(url: string, path: string): Promise<string[]> {
  const res = await request(`${url}${path}`)
  const body = (await res.body.json()) as unknown
  return res.statusCode === 200 && Array.isArray(body) ? (body as string[]) : []
}

test('a node SIGKILLed during backfill, recording and tombstone writes keeps index == disk and resumes', {
  timeout: 300_000
}, async (t) => {
  const seed = process.env['CRASH_SEED'] != null ? Number(process.env['CRASH_SEED']) : Math.floor(Math.random() * 2 ** 31)
  t.diagnostic(`seed ${seed} (replay with CRASH_SEED=${seed})`)
  const rng = new Rng(seed)
  const between = (lo: number, hi: number): number => lo + rng.int(hi - lo + 1)

  // The peer it backfills from (in this process), and the live stream it records.
  const source = await startNode(t)
  const origin = await HlsOrigin.start(t, { count: 40, window: 3 })
  const dir = await mkdtemp(join(tmpdir(), 'segmesh-crash-e2e-'))
  const [httpPort, p2pPort] = (await freePorts(2)) as [number, number]
  const victim = new ChildNode({
    id: 1,
    dir,
    httpPort,
    p2pPort,
    publicUrl: `http://127.0.0.1:${httpPort}`,
    digestIntervalSeconds: 1,
    seed,
    args: ['--record', `live=${origin.mediaUrl()}`, '--record-poll-ms', '200']
  })
  // Killed before its folder is removed: removing it under a running node fails (ENOTEMPTY) and
  // would leave the node holding the test process open.
  t.after(async () => {
    await victim.kill()
    await rm(dir, { recursive: true, force: true })
  })
  const bootstrap = source.host!.multiaddrs()[0]!

  // Segments the source gains round after round: random bytes, 2 s apart, in the last hours.
  const first = hourStart(Date.now() * 1000) - 2 * MICROS_PER_HOUR
  const sourceRefs: SegmentRef[] = []
  const feedSource = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const bytes = Buffer.alloc(between(60, 250) * 1024)
      for (let at = 0; at + 4 <= bytes.length; at += 4) bytes.writeUInt32LE(rng.nextU32(), at)
      const ref = formatSegmentRef({
        channel: 'c',
        quality: 'q',
        start: first + sourceRefs.length * 2_000_000,
        duration: 2_000_000,
        type: 'full',
        hash: sha256(bytes)
      })
      await source.store.writeSegment(ref, bytes)
      sourceRefs.push(ref)
    }
  }

  const acked = new Set<string>()
  const verified = new Set<string>()
  const counts: Record<Mode, number> = { backfill: 0, recording: 0, tombstone: 0 }
  let tempsAtKill = 0
  await feedSource(20)
  for (let round = 1; round <= ROUNDS; round++) {
    const mode = MODES[round % MODES.length]!
    counts[mode]++
    if (mode === 'backfill' && rng.next() < 0.5) await feedSource(between(10, 25))
    await victim.start(bootstrap)
    let advancing: NodeJS.Timeout | null = null
    if (mode === 'backfill') {
      await feedSource(between(10, 25))
      await sleep(between(50, 1500))
    } else if (mode === 'recording') {
      advancing = setInterval(() => origin.advance(), 400)
      await sleep(between(300, 2500))
    } else {
      // Tombstone something the node lists (a backfilled or a recorded segment), and kill at once.
      const hours = [
        ...(await listing(victim.url, '/files/c/q')).map((h) => `c/q/${h}`),
        ...(await listing(victim.url, '/files/live/source')).map((h) => `live/source/${h}`)
      ]
      const hour = hours[rng.int(Math.max(1, hours.length))]
      const names = hour == null ? [] : await listing(victim.url, `/files/${hour}`)
      const name = names[rng.int(Math.max(1, names.length))]
      if (name != null) {
        const segment = `${hour}/${name}`
        void request(`${victim.url}/admin/tombstone`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ segment })
        }).then(
          async (res) => {
            await res.body.dump()
            if (res.statusCode === 200 || res.statusCode === 201) acked.add(segment)
          },
          () => {}
        )
        // Sometimes before the answer (the write may or may not be durable), sometimes after (it must be).
        await sleep(rng.next() < 0.5 ? between(0, 20) : between(50, 400))
      }
    }
    await victim.kill()
    if (advancing != null) clearInterval(advancing)
    const check = await checkNode(victim.dataDir, acked, verified, false)
    tempsAtKill += check.temps
  }
  t.diagnostic(
    `rounds by mode ${JSON.stringify(counts)}; ${acked.size} acknowledged tombstones; temp files found after kills: ${tempsAtKill}`
  )

  // Replication resumes: the backfill completes (every source segment held or tombstoned here),
  // recorded segments are there, and no tombstoned segment is listed again.
  await victim.start(bootstrap)
  await until(
    'the backfill completes after the last restart',
    async () => {
      const held = new Set<string>()
      for (const hour of await listing(victim.url, '/files/c/q')) {
        for (const name of await listing(victim.url, `/files/c/q/${hour}?tombstones=true`)) held.add(`c/q/${hour}/${name}`)
      }
      return sourceRefs.every((r) => held.has(segmentRelPath(r)) || held.has(segmentRelPath(r).replace(/\.ts$/, TOMBSTONE_EXT)))
    },
    90_000
  )
  const recorded = (await listing(victim.url, '/files/live/source')).length
  assert.ok(recorded > 0, 'nothing recorded')
  for (const rel of acked) {
    const [channel, quality, hour, file] = rel.split('/') as [string, string, string, string]
    assert.ok(!(await listing(victim.url, `/files/${channel}/${quality}/${hour}`)).includes(file), `tombstoned ${rel} is listed again`)
  }
  // The tombstones reached the peer too, and hide its copies.
  await until(
    'the peer applies every acknowledged tombstone',
    () =>
      [...acked].every((rel) => {
        const [channel, quality, hour, file] = rel.split('/') as [string, string, string, string]
        const parsed = parseSegmentRef(channel, quality, hour, file)
        return parsed.ok && source.index.isTombstoned(parsed.value)
      }),
    60_000
  )
  await victim.stop()
  const final = await checkNode(victim.dataDir, acked, verified, true)
  t.diagnostic(
    `final: ${final.segments} segments indexed == on disk, ${verified.size} hashes verified, ${final.temps} leftover temp files (not indexed)`
  )
  assert.ok(counts.backfill > 0 && counts.recording > 0 && counts.tombstone > 0, `every mode ran: ${JSON.stringify(counts)}`)
})
