import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RedialDamper } from './redial-damper.ts'

describe('RedialDamper', () => {
  it('holds a peer after repeated short-lived connections, doubling the hold, and forgives after a healthy one', () => {
    let now = 0
    const d = new RedialDamper({ shortLivedMs: 1_000, flapsBeforeHold: 3, holdMs: 10_000, maxHoldMs: 25_000, now: () => now })
    const flap = (): boolean => {
      d.opened('p')
      now += 10
      return d.closed('p')
    }
    assert.equal(flap(), false)
    assert.equal(flap(), false)
    assert.equal(flap(), true, 'third flap holds')
    assert.equal(d.held('p'), true)
    now += 9_999
    assert.equal(d.held('p'), true)
    now += 1
    assert.equal(d.held('p'), false, 'hold over after 10 s')
    assert.equal(flap(), true)
    now += 19_999
    assert.equal(d.held('p'), true, 'second hold doubles to 20 s')
    now += 1
    assert.equal(flap(), true)
    now += 24_999
    assert.equal(d.held('p'), true, 'capped at 25 s')
    now += 1
    assert.equal(d.held('p'), false)

    d.opened('p')
    now += 1_000
    assert.equal(d.closed('p'), false, 'a connection that lived long enough is no flap')
    assert.equal(flap(), false, 'and it reset the count')
    assert.equal(d.held('other'), false)
  })

  it('ignores a close without an open and forgets on request', () => {
    const d = new RedialDamper({ flapsBeforeHold: 1, now: () => 0 })
    assert.equal(d.closed('p'), false)
    d.opened('p')
    assert.equal(d.closed('p'), true)
    d.forget('p')
    assert.equal(d.held('p'), false)
  })
})
