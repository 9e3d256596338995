import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PENALTIES, PeerScores } from './peer-score.ts'
import { RateLimiter } from '../lib/rate-limit.ts'

describe('peer scores', () => {
  it('bans at the threshold, lets points decay, and lifts the ban after the cool-down', async () => {
    let now = 0
    const events: string[] = []
    const scores = new PeerScores({
      now: () => now,
      halfLifeMs: 1000,
      cooldownMs: 30,
      onBan: (p, o) => events.push(`ban ${p} ${o}`),
      onUnban: (p) => events.push(`unban ${p}`)
    })
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

describe('peer scores: names not served, slow bodies', () => {
  it('bans a peer for 25 unserved names in a second, never for a few, and not for a slow body every backoff round', () => {
    let now = 0
    const bans: string[] = []
    const scores = new PeerScores({ now: () => now, onBan: (p) => bans.push(p), onUnban: () => {} })
    // A liar: 25 fake names answered 404 within a second.
    for (let i = 0; i < 25; i++) {
      now += 40
      scores.penalize('liar', 'unserved_name')
    }
    assert.deepEqual(bans, ['liar'])
    // An honest peer that lost a few files: 10 in a burst, well under the threshold.
    for (let i = 0; i < 10; i++) scores.penalize('honest', 'unserved_name')
    assert.ok(!scores.isBanned('honest') && scores.score('honest') <= 50)
    // A trickling peer, once per backoff round (the fetcher's rounds: window 5 s plus 1, 2, 4, ... s of backoff).
    for (const gap of [5, 6, 7, 9, 13, 21, 37, 65, 65, 65, 65]) {
      now += gap * 1000
      scores.penalize('slow', 'slow_transfer')
    }
    assert.ok(!scores.isBanned('slow'), `slow peer scored ${scores.score('slow')}`)
    scores.clear()
  })
})

describe('rate limiter', () => {
  it('lets a burst through, then the sustained rate, per key, with bounded memory', () => {
    let now = 0
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, maxKeys: 2, now: () => now })
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('a')),
      [true, true, true, false]
    )
    assert.ok(limiter.take('b'))
    now = 500 // one token back for a
    assert.deepEqual([limiter.take('a'), limiter.take('a')], [true, false])
    assert.equal(limiter.dropped, 2)
    limiter.take('c') // evicts b, the least recently used
    now = 600
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('b')),
      [true, true, true, false]
    )
    assert.throws(() => new RateLimiter({ ratePerSecond: 0, burst: 1 }), RangeError)
  })
})
