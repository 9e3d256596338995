/**
 * CI's share of the simulations: 5 real nodes per scenario, four scenarios (three in one process,
 * one as child processes with SIGKILL), every checker must hold. About 1.5 minutes in all.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { tempDir } from '../test/helpers/tree.ts'
import type { Mode } from './cluster.ts'
import { SIM_DEFAULTS, runSimulation } from './runner.ts'

const CASES: Array<{ scenario: string, mode: Mode, durationSeconds: number, seed: number }> = [
  { scenario: 'partition-halves', mode: 'in-process', durationSeconds: 10, seed: 42 },
  { scenario: 'tombstone-split', mode: 'in-process', durationSeconds: 10, seed: 7 },
  // A liar's own segments must still arrive once it is honest again (bans and bad-hash memory end).
  { scenario: 'lying-peer', mode: 'in-process', durationSeconds: 10, seed: 5 },
  { scenario: 'kill-restart', mode: 'child', durationSeconds: 15, seed: 3 }
]

describe('simulations (5 nodes)', () => {
  for (const c of CASES) {
    it(`${c.scenario} (${c.mode}) converges with nothing lost and nothing resurrected`, async (t) => {
      const outDir = await tempDir(t, 'segmesh-sim-report-')
      const { report } = await runSimulation({
        ...SIM_DEFAULTS,
        ...c,
        nodes: 5,
        digestIntervalSeconds: 2,
        convergeTimeoutSeconds: 45,
        outDir
      }, () => {})
      const failed = report.checks.filter((k) => !k.ok).map((k) => `${k.name}: ${k.violations.slice(0, 5).join('; ')}`)
      assert.deepEqual(failed, [])
      assert.ok(report.workload.writesAcked >= 10, 'the workload ran')
      assert.ok(report.convergence.missingAtHeal > 0 || c.mode === 'child', 'the faults left nodes behind')
    })
  }
})
