/**
 * Runs a plan's steps against a cluster at their planned times, recording every outcome. Writes
 * run in the background (waiting for a node to list a segment must not hold up the schedule);
 * every other step runs in order, so a slow one delays those after it (the history keeps both the
 * planned and the actual time). A kill waits for the node's writes, a tombstone for its target's
 * write. run() returns once every write has settled.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type RunningAttack, startAttack } from './attacks.ts'
import type { Cluster } from './cluster.ts'
import type { History } from './history.ts'
import type { Plan, SegmentSpec, Step } from './plan.ts'
import { type SyntheticSegment, synthesize } from './segments.ts'
import { postAdmin } from './sim-node.ts'

export class Executor {
  readonly #cluster: Cluster
  readonly #history: History
  readonly #baseUs: number
  readonly #specs = new Map<number, SegmentSpec>()
  readonly #attacks: RunningAttack[] = []

  constructor(cluster: Cluster, history: History, plan: Plan, baseUs: number) {
    this.#cluster = cluster
    this.#history = history
    this.#baseUs = baseUs
    for (const s of plan.steps) if (s.op.op === 'write') this.#specs.set(s.op.write, s.op.segment)
  }

  /** The segment of write `id`, whether or not it was performed. */
  segment(id: number): SyntheticSegment {
    const spec = this.#specs.get(id)
    if (spec == null) throw new Error(`no write ${id} in the plan`)
    return synthesize(spec, this.#baseUs)
  }

  /** Stop every attacker still running (the plan ends them at the heal; this is for errors). */
  async endAttacks(log: (line: string) => void): Promise<void> {
    for (const attack of this.#attacks.splice(0)) {
      await attack.stop()
      log(attack.summary())
    }
  }

  async run(steps: readonly Step[], log: (line: string) => void): Promise<void> {
    const writes = new Map<number, Array<Promise<void>>>()
    const byId = new Map<number, Promise<void>>()
    for (const step of steps) {
      const wait = step.at - this.#history.now()
      if (wait > 0) await sleep(wait)
      const { op } = step
      if (op.op === 'write') {
        const done = this.#step(step, log)
        writes.set(op.node, [...(writes.get(op.node) ?? []), done])
        byId.set(op.write, done)
        continue
      }
      // A node is not taken down under a write it is still taking in.
      if (op.op === 'kill' || op.op === 'stop') await Promise.all(writes.get(op.node) ?? [])
      // An operator deletes a segment they have seen: not one still being written.
      if (op.op === 'tombstone') await byId.get(op.write)
      await this.#step(step, log)
    }
    await Promise.all([...writes.values()].flat())
  }

  async #step(step: Step, log: (line: string) => void): Promise<void> {
    const t = this.#history.now()
    let error: string | undefined
    try {
      await this.#do(step, log)
    } catch (err) {
      error = (err as Error).message
      log(`step at ${step.at} ms (${step.op.op}) failed: ${error}`)
    }
    this.#history.ops.push({
      at: step.at,
      t,
      ms: this.#history.now() - t,
      op: step.op,
      ok: error == null,
      ...(error != null ? { error } : {})
    })
  }

  async #do(step: Step, log: (line: string) => void): Promise<void> {
    const c = this.#cluster
    const op = step.op
    switch (op.op) {
      case 'write': {
        const seg = this.segment(op.write)
        const node = c.nodes[op.node]!
        const record = { write: op.write, node: op.node, path: seg.path, bytes: seg.bytes.length, ok: false, ackAt: -1 }
        this.#history.writes.set(op.write, record)
        await node.write(seg)
        record.ok = true
        record.ackAt = this.#history.now()
        return
      }
      case 'tombstone': {
        const path = this.segment(op.write).path
        const res = await postAdmin(c.nodes[op.node]!.url, '/admin/tombstone', { segment: path })
        const ok = res.status === 200 || res.status === 201
        this.#history.tombstones.push({ node: op.node, write: op.write, path, ok, at: this.#history.now() })
        if (!ok) throw new Error(`tombstone on node ${op.node}: HTTP ${res.status}`)
        return
      }
      case 'purge': {
        const res = await postAdmin(c.nodes[op.node]!.url, '/admin/purge', {})
        if (res.status !== 200) throw new Error(`purge on node ${op.node}: HTTP ${res.status}`)
        return
      }
      case 'partition':
        await c.partition(op.grudge)
        return
      case 'heal-partition':
        await c.partition({})
        return
      case 'gossip':
        await c.gossip(op.nodes, { loss: op.loss, delayMs: op.delayMs })
        return
      case 'toxic':
        c.toxic(op.node, op.toxic)
        return
      case 'kill':
        await c.kill(op.node)
        return
      case 'stop':
        await c.stop(op.node)
        return
      case 'restart':
        await c.restart(op.node)
        return
      case 'attack': {
        const written = (): Array<SyntheticSegment['ref']> =>
          [...this.#history.writes.values()].filter((w) => w.ok).map((w) => this.segment(w.write).ref)
        this.#attacks.push(await startAttack(op.attack, c.nodes[op.node]!, { baseUs: this.#baseUs, written }))
        return
      }
      case 'end-attacks':
        await this.endAttacks(log)
    }
  }
}
