/**
 * The yamux guard (yamux-guard.ts): a stream opened on a muxer whose connection below has closed
 * no longer throws out of reach. The connection is a stand-in that refuses every write as a closed
 * libp2p stream does: the race it stands for (the connection closing between the stream's creation
 * and its first frame, a microtask later) cannot be timed on real sockets.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StreamStateError } from '@libp2p/interface'
import { yamux } from '@libp2p/yamux'
import './yamux-guard.ts'

interface ScopedLog {
  (...args: unknown[]): void
  error: (...args: unknown[]) => void
  trace: (...args: unknown[]) => void
  enabled: boolean
  newScope: () => ScopedLog
}
const log: ScopedLog = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false, newScope: () => log })

/** A connection below the muxer that closed: every write is refused. */
class ClosedConnection extends EventTarget {
  readonly log = log
  readonly status = 'open'
  send(): boolean {
    throw new StreamStateError('Cannot write to a stream that is closed')
  }
  abort(): void {}
}

describe('yamux guard', () => {
  it("a stream opened as the connection below closes: its first frame's error is dropped, not thrown out of reach", async (t) => {
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown): void => {
      uncaught.push(err)
    }
    process.on('uncaughtException', onUncaught)
    t.after(() => process.off('uncaughtException', onUncaught))
    const factory = (yamux() as unknown as () => { createStreamMuxer: (c: unknown) => { createStream: () => Promise<unknown> } })()
    const muxer = factory.createStreamMuxer(new ClosedConnection())
    await muxer.createStream()
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(uncaught, [])
  })
})
