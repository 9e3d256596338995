/** Child processes of this test process, read from the OS (Linux /proc), not from the code under test. */
import { readFile, readdir } from 'node:fs/promises'

/** Pids of this process's live (not zombie) children whose command is one of `commands`. */
export async function childPids(commands: readonly string[] = ['ffmpeg', 'ffprobe']): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    // `pid (comm) state ppid …`; comm may hold spaces or parentheses, so split after the last ')'.
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null)
    if (stat == null) continue
    const close = stat.lastIndexOf(')')
    const comm = stat.slice(stat.indexOf('(') + 1, close)
    const [state, ppid] = stat.slice(close + 2).split(' ')
    if (Number(ppid) === process.pid && state !== 'Z' && commands.includes(comm)) pids.push(Number(entry))
  }
  return pids
}
