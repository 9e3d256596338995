import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { libp2pLogger } from './libp2p-logger.ts'

describe('libp2p logger', () => {
  it('writes libp2p errors at debug under the libp2p key, never a second component key', () => {
    const lines: string[] = []
    const log = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          lines.push(line)
        }
      }
    ).child({ component: 'p2p' })
    libp2pLogger(log).forComponent('libp2p:dialer').newScope('queue').error('dial %s failed', 'peer-a', new Error('refused'))
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!.match(/"component":/g)?.length, 1, lines[0])
    const entry = JSON.parse(lines[0]!)
    assert.deepEqual(
      [entry.component, entry.libp2p, entry.msg, entry.err.message],
      ['p2p', 'libp2p:dialer:queue', 'dial peer-a failed', 'refused']
    )
  })
})
