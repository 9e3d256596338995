/**
 * Child process of test/crash-safety.test.ts: writes segments, rewrites and tombstones into one
 * data folder forever, until the test SIGKILLs it. Usage: crash-writer.ts DIR SEED
 *
 * Prints `running` once the index is open, then one line per durable operation:
 * `seg <relpath>` after a segment write resolved, `tomb <relpath>` after a tombstone did. Writes
 * to a pipe are synchronous on Linux, so a printed line reached the parent before any kill.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { TombstonedError } from '../../storage/errors.ts'
import { sha256 } from '../../storage/segment-hash.ts'
import { SegmentIndex } from '../../storage/segment-index.ts'
import { type SegmentRef, formatSegmentRef, parseSegmentRef, segmentRelPath } from '../../storage/segment-name.ts'
import { SegmentStore } from '../../storage/segment-store.ts'
import { Rng } from '../../simulations/prng.ts'

const T0 = Date.UTC(2020, 0, 1) * 1000
const CHANNELS = ['alpha', 'beta']
const QUALITIES = ['source', '480p']

/** Seedable, so a run replays: varies sizes and timings. */
function prng(seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.next()
}

const [dir, seedText] = process.argv.slice(2)
if (dir == null || seedText == null) throw new TypeError('usage: crash-writer.ts DIR SEED')
const rand = prng(Number(seedText))
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1))
const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!

function randomBytes(size: number): Buffer {
  const out = Buffer.alloc(size)
  for (let i = 0; i + 4 <= size; i += 4) out.writeUInt32LE(Math.floor(rand() * 4294967296), i)
  return out
}

/** Chunks with short pauses between them, so a kill often lands mid-write and leaves a temp file. */
async function* chunked(bytes: Buffer): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; ) {
    const size = int(8, 64) * 1024
    yield bytes.subarray(at, at + size)
    at += size
    if (at < bytes.length) await sleep(int(0, 3))
  }
}

const index = SegmentIndex.open(join(dir, 'index'))
const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })

// Segments this writer may rewrite or tombstone: what earlier rounds left, then its own.
const pool: SegmentRef[] = []
for (const channel of index.channels()) {
  for (const quality of index.qualities(channel)) {
    for (const summary of index.hourSummaries(channel, quality)) {
      for (const s of index.hourSegments(channel, quality, summary.start)) {
        const parsed = parseSegmentRef(channel, quality, s.hour, s.file)
        if (parsed.ok) pool.push(parsed.value)
      }
    }
  }
}

process.stdout.write('running\n')

for (;;) {
  const channel = pick(CHANNELS)
  const quality = pick(QUALITIES)
  // Three hours, so reconcile walks several hour folders per channel/quality.
  const start = T0 + int(0, 3 * 3600 - 1) * 1_000_000 + int(0, 999_999)
  const duration = int(1_000_000, 6_000_000)
  const type = rand() < 0.8 ? ('full' as const) : ('suspect' as const)
  const roll = rand()
  try {
    if (roll < 0.45) {
      const bytes = randomBytes(int(1, 300) * 1024)
      const ref = formatSegmentRef({ channel, quality, start, duration, type, hash: sha256(bytes) })
      const result = await store.writeSegment(ref, rand() < 0.7 ? chunked(bytes) : bytes)
      pool.push(result.ref)
      process.stdout.write(`seg ${segmentRelPath(result.ref)}\n`)
    } else if (roll < 0.85) {
      const bytes = randomBytes(int(1, 300) * 1024)
      const result = await store.recordSegment({ channel, quality, start, duration, type }, chunked(bytes))
      pool.push(result.ref)
      process.stdout.write(`seg ${segmentRelPath(result.ref)}\n`)
    } else if (roll < 0.93 && pool.length > 0) {
      // Same name, same bytes: the rename replaces an existing (maybe indexed) file.
      const ref = pick(pool)
      const result = await store.writeSegment(ref, chunked(await readFile(store.pathOf(ref))))
      process.stdout.write(`seg ${segmentRelPath(result.ref)}\n`)
    } else if (pool.length > 0) {
      const ref = pick(pool)
      await store.writeTombstone(ref)
      process.stdout.write(`tomb ${segmentRelPath(ref)}\n`)
    }
  } catch (err) {
    // A rewrite of a segment tombstoned meanwhile is refused; anything else is a real failure.
    if (!(err instanceof TombstonedError)) throw err
  }
}
