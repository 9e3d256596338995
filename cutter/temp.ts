/**
 * Temp folders of cut jobs (re-encoded edges, input lists, spooled MP4): one per job, named after
 * this process so that a later start can sweep what a crashed process left without touching the
 * folders of another node sharing the same temp folder.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'

const PREFIX = 'segmesh-cut-'

export async function makeJobDir(root: string): Promise<string> {
  await mkdir(root, { recursive: true })
  return await mkdtemp(join(root, `${PREFIX}${process.pid}-`))
}

export async function removeJobDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

/** Remove job folders whose process is gone. Returns how many. */
export async function sweepJobDirs(root: string): Promise<number> {
  let names: string[]
  try {
    names = await readdir(root)
  } catch {
    return 0
  }
  let removed = 0
  for (const name of names) {
    const m = /^segmesh-cut-(\d+)-/.exec(name)
    if (m == null || isAlive(Number(m[1]))) continue
    await removeJobDir(join(root, name)).catch(() => {})
    removed++
  }
  return removed
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
