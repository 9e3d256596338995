// Scratch (deleted before commit): N nodes start at once, all through node 0.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { installInstrumentation } from './instrument.ts'
import { InProcessNode } from './in-process-node.ts'
installInstrumentation()
const N = Number(process.argv[2] ?? 30)
const root = await mkdtemp(join(tmpdir(), 'herd-'))
const nodes = Array.from({ length: N }, (_, i) => new InProcessNode({ id: i, dir: join(root, `n${i}`), httpPort: 45000 + i, p2pPort: 46000 + i, publicUrl: `http://127.0.0.1:${45000 + i}`, digestIntervalSeconds: 30, seed: 1 }))
await nodes[0]!.start(null)
const t0 = Date.now()
await Promise.all(nodes.slice(1).map(async (n) => await n.start(nodes[0]!.multiaddr)))
console.log(`started ${N - 1} at once in ${Date.now() - t0} ms`)
const connectedAt = new Map<number, number>()
while (Date.now() - t0 < 60_000 && connectedAt.size < N - 1) {
  for (const n of nodes.slice(1)) if (!connectedAt.has(n.id) && (await n.counters()).connections > 0) connectedAt.set(n.id, Date.now() - t0)
  await sleep(100)
}
const times = [...connectedAt.values()].sort((a, b) => a - b)
const bucket = new Map<number, number>()
for (const t of times) bucket.set(Math.floor(t / 1000), (bucket.get(Math.floor(t / 1000)) ?? 0) + 1)
console.log(`connected: ${connectedAt.size}/${N - 1}; by second:`, [...bucket].map(([s, c]) => `${s}s:${c}`).join(' '))
for (const n of nodes) await n.stop()
await rm(root, { recursive: true, force: true })
