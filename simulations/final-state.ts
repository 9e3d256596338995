/**
 * What each node holds at the end, read the way clients and operators would see it: listings and
 * `/segments` answers over HTTP while the nodes run; then, with every node stopped, each disk file
 * hashed against its name and a Reconciler pass over the data folder (index ↔ disk).
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { hashFile } from '../storage/file-hash.ts'
import { Reconciler } from '../storage/reconcile.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { parseSegmentFileName, segmentFileNameOfTombstone } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { CHANNEL } from './plan.ts'
import { OWN_ONLY, type SimNode, getJson } from './sim-node.ts'

export interface ServedState {
  node: number
  /** Visible segment paths (CHANNEL/QUALITY/HOUR/FILE). */
  visible: Set<string>
  /** Segment paths this node holds a tombstone for. */
  tombstones: Set<string>
  /** GET /segments/<path> status for every tombstoned path. */
  served: Map<string, number>
}

export interface DiskState {
  node: number
  segmentFiles: number
  tombstoneFiles: number
  tempFiles: number
  /** Files set aside by reconcile as corrupt (`.NAME.corrupt`). */
  corruptAside: number
  /** Segment files whose bytes do not hash to their name. */
  wrongHash: string[]
  /** Reconciler pass over the stopped node's folder. */
  reconcile: { added: number; removed: number; corrupt: number; badNames: number; tempFiles: number }
}

/** Listings (with tombstones) of every hour the node has, and the answer to each tombstoned path: its own (OWN_ONLY), not read through. */
export async function servedState(node: SimNode, tombstoned: Iterable<string>): Promise<ServedState> {
  const visible = new Set<string>()
  const tombstones = new Set<string>()
  const qualities = (await getJson(`${node.url}/files/${CHANNEL}`, OWN_ONLY)).body
  for (const quality of Array.isArray(qualities) ? (qualities as string[]) : []) {
    const hours = (await getJson(`${node.url}/files/${CHANNEL}/${quality}`, OWN_ONLY)).body as string[]
    for (const hour of hours) {
      const names = (await getJson(`${node.url}/files/${CHANNEL}/${quality}/${hour}?tombstones=true`, OWN_ONLY)).body as string[]
      for (const name of names) {
        if (name.endsWith('.tombstone')) tombstones.add(`${CHANNEL}/${quality}/${hour}/${segmentFileNameOfTombstone(name)}`)
        else visible.add(`${CHANNEL}/${quality}/${hour}/${name}`)
      }
    }
  }
  const served = new Map<string, number>()
  for (const path of tombstoned) {
    const url = `${node.url}/segments/${path.split('/').map(encodeURIComponent).join('/')}`
    served.set(path, (await getJson(url, OWN_ONLY)).status)
  }
  return { node: node.id, visible, tombstones, served }
}

/** Hash every file of a stopped node, then let a Reconciler compare its index with its disk. */
export async function diskState(node: SimNode): Promise<DiskState> {
  const out: DiskState = {
    node: node.id,
    segmentFiles: 0,
    tombstoneFiles: 0,
    tempFiles: 0,
    corruptAside: 0,
    wrongHash: [],
    reconcile: { added: 0, removed: 0, corrupt: 0, badNames: 0, tempFiles: 0 }
  }
  const segmentsDir = join(node.dataDir, 'segments')
  const entries = await readdir(segmentsDir, { recursive: true, withFileTypes: true }).catch(() => [])
  for (const e of entries) {
    if (!e.isFile()) continue
    const path = join(e.parentPath, e.name)
    if (e.name.endsWith('.corrupt')) out.corruptAside++
    else if (e.name.startsWith('.')) continue
    else if (e.name.endsWith('.tombstone')) out.tombstoneFiles++
    else {
      const parsed = parseSegmentFileName(e.name)
      if (!parsed.ok) continue
      if (parsed.value.hash == null) {
        out.tempFiles++
        continue
      }
      out.segmentFiles++
      if (!(await hashFile(path)).digest.equals(parsed.value.hash)) out.wrongHash.push(path.slice(segmentsDir.length + 1))
    }
  }
  const index = SegmentIndex.open(join(node.dataDir, 'index'), { mapSize: 256 * 1024 ** 2 })
  try {
    const report = await new Reconciler(new SegmentStore({ segmentsDir, index })).reconcileAll({ tempGraceMs: null })
    out.reconcile = {
      added: report.added,
      removed: report.removed,
      corrupt: report.corrupt,
      badNames: report.badNames,
      tempFiles: report.tempFiles
    }
  } finally {
    await index.stop()
  }
  return out
}
