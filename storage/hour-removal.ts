/**
 * Removing the segment files of one hour, as retention and the disk budget both do: every segment
 * file (tombstoned ones too) except those a write of this process holds open, unlinked 16 at a
 * time, the folder fsync'd, then the hour reconciled so the index follows the disk. Tombstones are
 * left in place: retention removes them itself once nothing is left, the budget never does.
 */
import { readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { runLimited } from '../lib/concurrency.ts'
import { type Logger, silentLogger } from '../lib/logger.ts'
import { fsyncDir } from './durable-file.ts'
import type { Reconciler } from './reconcile.ts'
import { TOMBSTONE_EXT, parseSegmentRef } from './segment-name.ts'
import type { SegmentStore } from './segment-store.ts'
import { parseHour } from './time.ts'

/** Unlinks in flight: one at a time took 3.6× as long as `rm -r` (bench/retention.ts). */
const UNLINK_CONCURRENCY = 16

export interface HourRemoval {
  /** Every file name the hour folder held (tombstones included). */
  names: string[]
  segments: number
  /** Bytes of the removed segments, by the index (a file the index lacked counts 0). */
  bytes: number
  /** Segment files that are still there: being written, or the unlink failed (logged). */
  left: number
}

export async function removeHourSegments(
  store: SegmentStore,
  reconciler: Reconciler,
  hour: { channel: string; quality: string; hour: string },
  log: Logger = silentLogger
): Promise<HourRemoval> {
  const { channel, quality } = hour
  const dir = store.hourDir(hour)
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[]
    throw err
  })
  // Sizes from the index: no stat per file.
  const sizes = new Map(store.index.hourSegments(channel, quality, parseHour(hour.hour)!, { hidden: true }).map((s) => [s.file, s.size]))
  const out: HourRemoval = { names, segments: 0, bytes: 0, left: 0 }
  const jobs: Array<() => Promise<void>> = []
  for (const name of names) {
    if (name.endsWith(TOMBSTONE_EXT) || !parseSegmentRef(channel, quality, hour.hour, name).ok) continue
    const path = join(dir, name)
    if (store.inflight.has(path)) {
      out.left++
      continue
    }
    jobs.push(async () => {
      try {
        await unlink(path)
        out.segments++
        out.bytes += sizes.get(name) ?? 0
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
        // EISDIR (a folder with a segment's name), EPERM, EIO: the name stays.
        out.left++
        log.error({ err, path }, 'could not remove a segment file')
      }
    })
  }
  await runLimited(jobs, UNLINK_CONCURRENCY)
  if (out.segments > 0) await fsyncDir(dir)
  await reconciler.reconcileHour(channel, quality, hour.hour, { tempGraceMs: null })
  return out
}
