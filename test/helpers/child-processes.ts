/** Child processes of this test process, read from the OS (Linux /proc), not from the code under test. */
import { readFile, readdir } from 'node:fs/promises'

/** Pids of this process's live (not zombie) children whose command is one of `commands`. */
export async function childPids(commands: readonly string[] = ['ffmpeg', 'ffprobe']): Promise<number[]> {
  const pids: number[] = []
  for (const pid of await candidates()) {
    // `pid (comm) state ppid …`; comm may hold spaces or parentheses, so split after the last ')'.
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
    if (stat == null) continue
    const close = stat.lastIndexOf(')')
    const comm = stat.slice(stat.indexOf('(') + 1, close)
    const [state, ppid] = stat.slice(close + 2).split(' ')
    if (Number(ppid) === process.pid && state !== 'Z' && commands.includes(comm)) pids.push(pid)
  }
  return pids
}

/**
 * This process's children as each of its threads' `children` file lists them: a few reads, where
 * scanning all of /proc took tens of milliseconds on a busy machine, long enough for a poll to
 * miss a short-lived ffmpeg. Every process when the kernel has no such file.
 */
async function candidates(): Promise<number[]> {
  const tids = await readdir('/proc/self/task')
  const lists = await Promise.all(tids.map(async (tid) => await readFile(`/proc/self/task/${tid}/children`, 'utf8').catch(() => null)))
  if (lists.every((l) => l == null)) return (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number)
  return lists.flatMap((l) =>
    (l ?? '')
      .split(' ')
      .filter((pid) => /^\d+$/.test(pid))
      .map(Number)
  )
}
