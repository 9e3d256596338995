import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Startable, StartOrder } from './lifecycle.ts'

/** A part that writes what happens to it into `log`; fails where told. */
function part(name: string, log: string[], fail: { start?: boolean; stop?: boolean } = {}): Startable {
  return {
    start: async () => {
      log.push(`start ${name}`)
      if (fail.start === true) throw new Error(`${name} cannot start`)
    },
    beforeStop: () => {
      log.push(`beforeStop ${name}`)
    },
    stop: async () => {
      log.push(`stop ${name}`)
      if (fail.stop === true) throw new Error(`${name} cannot stop`)
    }
  }
}

describe('StartOrder', () => {
  it('starts in order, calls beforeStop on every part before any stop, stops in reverse', async () => {
    const log: string[] = []
    const order = new StartOrder()
    for (const name of ['a', 'b', 'c']) await order.start(name, part(name, log))
    await order.stop()
    assert.deepEqual(log, ['start a', 'start b', 'start c', 'beforeStop c', 'beforeStop b', 'beforeStop a', 'stop c', 'stop b', 'stop a'])
  })

  it('a part that fails to start is not stopped; the ones before it are, by stop()', async () => {
    const log: string[] = []
    const order = new StartOrder()
    await order.start('a', part('a', log))
    await order.start('b', part('b', log))
    await assert.rejects(order.start('c', part('c', log, { start: true })), /c cannot start/)
    await order.stop()
    assert.deepEqual(
      log.filter((l) => l.startsWith('stop')),
      ['stop b', 'stop a']
    )
  })

  it('a part that fails to stop does not keep the others running; every failure is reported', async () => {
    const log: string[] = []
    const order = new StartOrder()
    for (const name of ['a', 'b', 'c']) await order.start(name, part(name, log, { stop: name !== 'b' }))
    const err = await order.stop().then(
      () => null,
      (e: unknown) => e
    )
    assert.ok(err instanceof AggregateError)
    assert.deepEqual(
      err.errors.map((e: Error) => e.message),
      ['c failed to stop: c cannot stop', 'a failed to stop: a cannot stop']
    )
    assert.deepEqual(
      log.filter((l) => l.startsWith('stop')),
      ['stop c', 'stop b', 'stop a']
    )
  })

  it('stop twice waits for the first; start after stop is refused', async () => {
    const log: string[] = []
    const order = new StartOrder()
    await order.start('a', part('a', log))
    await Promise.all([order.stop(), order.stop()])
    assert.equal(log.filter((l) => l === 'stop a').length, 1)
    await assert.rejects(order.start('b', part('b', log)), /cannot start b: stopping/)
  })
})
