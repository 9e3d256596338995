import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { freePorts } from '../../lib/free-ports.ts'
import { ChildNode } from '../../simulations/child-node.ts'

/**
 * Makes `segmesh start` child processes (simulations/child-node.ts) in one temp folder. One
 * after-hook kills them, then removes the folder: a folder removed under running nodes fails
 * (ENOTEMPTY), and the nodes left running would hold the test process open until its timeout. A
 * node left SIGSTOPped is continued first, so that it can be killed and reaped.
 */
export async function childNodes(
  t: TestContext,
  options: { digestIntervalSeconds?: number } = {}
): Promise<(id: number) => Promise<ChildNode>> {
  const dir = await mkdtemp(join(tmpdir(), 'segmesh-child-node-'))
  const nodes: ChildNode[] = []
  t.after(async () => {
    for (const n of nodes) if (n.pid != null) process.kill(n.pid, 'SIGCONT')
    await Promise.all(nodes.map(async (n) => await n.kill()))
    await rm(dir, { recursive: true, force: true })
  })
  return async (id) => {
    const [httpPort, p2pPort] = (await freePorts(2)) as [number, number]
    await mkdir(join(dir, `n${id}`))
    const node = new ChildNode({
      id,
      dir: join(dir, `n${id}`),
      httpPort,
      p2pPort,
      publicUrl: `http://127.0.0.1:${httpPort}`,
      digestIntervalSeconds: options.digestIntervalSeconds ?? 1,
      seed: 1
    })
    nodes.push(node)
    return node
  }
}
