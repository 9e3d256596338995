import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PENALTIES, PeerScores } from './peer-score.ts'
import { RateLimiter } from './rate-limit.ts'

describe('peer scores', () => {
  it('bans at the threshold, lets points decay, and lifts the ban after the cool-down', async () => {
    let now = 0
    const events: string[] = []
    const scores = new PeerScores({ now: () => now, halfLifeMs: 1000, cooldownMs: 30, onBan: (p, o) => events.push(`ban ${p} ${o}`), onUnban: (p) => events.push(`unban ${p}`) })
    // Decay: 90 points, one half-life later 45, so one more offence of 50 stays under 100.
    for (let i = 0; i < 9; i++) scores.penalize('a', 'malformed_message')
    assert.equal(scores.score('a'), 90)
    now = 1000
    assert.equal(scores.score('a'), 45)
    scores.penalize('a', 'bad_tombstone_signature')
    assert.deepEqual(events, [])
    scores.penalize('a', 'bad_tombstone_signature')
    assert.deepEqual(events, ['ban a bad_tombstone_signature'])
    assert.ok(scores.isBanned('a'))
    scores.penalize('a', 'bad_hash') // counted, but no second ban while banned
    assert.equal(scores.stats().bans, 1)
    assert.equal(scores.stats().penalties.bad_hash, 1)
    // Another peer is untouched.
    scores.penalize('b', 'rate_limited')
    assert.equal(scores.score('b'), PENALTIES.rate_limited)
    await new Promise((resolve) => setTimeout(resolve, 60))
    assert.deepEqual(events, ['ban a bad_tombstone_signature', 'unban a'])
    assert.equal(scores.score('a'), 0)
    assert.deepEqual(scores.stats().banned, [])
    scores.clear()
  })
})

describe('rate limiter', () => {
  it('lets a burst through, then the sustained rate, per key, with bounded memory', () => {
    let now = 0
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, maxKeys: 2, now: () => now })
    assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a')), [true, true, true, false])
    assert.ok(limiter.take('b'))
    now = 500 // one token back for a
    assert.deepEqual([limiter.take('a'), limiter.take('a')], [true, false])
    assert.equal(limiter.dropped, 2)
    limiter.take('c') // evicts b, the least recently used
    now = 600
    assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('b')), [true, true, true, false])
    assert.throws(() => new RateLimiter({ ratePerSecond: 0, burst: 1 }), RangeError)
  })
})
