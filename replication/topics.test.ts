import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { KeepFilter } from './keep.ts'
import { ANNOUNCE_BUCKETS, ANNOUNCE_TOPICS, ChannelTopics, FOLLOW_GRACE_MS, KNOWN_TOPICS, LEGACY_TOPIC, announceTopic } from './topics.ts'

describe('gossip topics', () => {
  it("puts a channel's announcements on one bucket topic, the same everywhere, spread over the buckets", () => {
    // Fixed vectors: a change here splits a network between old and new nodes.
    assert.equal(announceTopic('desertbus'), 'segmesh/2/announce/7')
    assert.equal(announceTopic('kept'), 'segmesh/2/announce/11')
    assert.equal(announceTopic('other'), 'segmesh/2/announce/0')
    const counts = new Map<string, number>()
    for (let i = 0; i < 1600; i++) counts.set(announceTopic(`channel-${i}`), (counts.get(announceTopic(`channel-${i}`)) ?? 0) + 1)
    assert.equal(counts.size, ANNOUNCE_BUCKETS)
    for (const [topic, n] of counts) assert.ok(n > 50 && n < 150, `${topic}: ${n} of 1600`)
  })

  it('subscribes to the buckets of the channels a node keeps as it sees them, once each', () => {
    const subscribed: string[] = []
    const all = new ChannelTopics(KeepFilter.ALL, (t) => subscribed.push(t))
    assert.deepEqual(subscribed, [], 'nothing before a channel is seen')
    for (const channel of ['a', 'b', 'a', 'desertbus']) all.saw(channel)
    assert.deepEqual(subscribed, [...new Set([announceTopic('a'), announceTopic('b'), announceTopic('desertbus')])])
    for (let i = 0; i < 500; i++) all.saw(`c${i}`)
    assert.equal(subscribed.length, ANNOUNCE_BUCKETS, 'at most every bucket, once')
    assert.deepEqual(all.topics, [...ANNOUNCE_TOPICS].sort())

    const partialSubscribed: string[] = []
    const partial = new ChannelTopics(new KeepFilter(['a', 'b/source']), (t) => partialSubscribed.push(t))
    assert.deepEqual([...partialSubscribed].sort(), [...new Set([announceTopic('a'), announceTopic('b')])].sort())
    const before = partialSubscribed.length
    partial.saw('other')
    assert.equal(partialSubscribed.length, before, 'a channel it does not keep subscribes nothing')
    for (const topic of partial.topics) assert.ok(KNOWN_TOPICS.includes(topic) && topic !== LEGACY_TOPIC)

    // A peer's subscription: followed by a node that keeps everything, into announcement topics only.
    const follows: string[] = []
    const full = new ChannelTopics(KeepFilter.ALL, (t) => follows.push(t))
    for (const topic of [ANNOUNCE_TOPICS[3]!, LEGACY_TOPIC, 'made/up', ANNOUNCE_TOPICS[3]!]) full.peerSubscribed(topic)
    assert.deepEqual(follows, [ANNOUNCE_TOPICS[3]])
    partial.peerSubscribed(ANNOUNCE_TOPICS.find((t) => !partial.topics.includes(t))!)
    assert.equal(partialSubscribed.length, before, 'a node with --keep does not follow')
  })

  it('leaves the buckets it followed a peer into when none of their channels shows within the grace; a seen one stays', () => {
    const joined: string[] = []
    const left: string[] = []
    const topics = new ChannelTopics(
      KeepFilter.ALL,
      (t) => joined.push(t),
      (t) => left.push(t)
    )
    // A peer subscribes to every bucket (a hostile one, or one of a network recording all of them).
    for (const topic of ANNOUNCE_TOPICS) topics.peerSubscribed(topic, 1_000)
    assert.equal(joined.length, ANNOUNCE_BUCKETS)
    topics.saw('desertbus')
    assert.deepEqual(topics.dropUnseen(1_000 + FOLLOW_GRACE_MS - 1), [], 'not before the grace')
    const dropped = topics.dropUnseen(1_000 + FOLLOW_GRACE_MS)
    assert.deepEqual(dropped.sort(), ANNOUNCE_TOPICS.filter((t) => t !== announceTopic('desertbus')).sort())
    assert.deepEqual(left.sort(), dropped)
    assert.deepEqual(topics.topics, [announceTopic('desertbus')])
    assert.deepEqual(topics.dropUnseen(10 * FOLLOW_GRACE_MS), [], 'a seen bucket is never left')
    // Subscribed to again later: followed again, for another grace.
    const again = ANNOUNCE_TOPICS.find((t) => t !== announceTopic('desertbus'))!
    topics.peerSubscribed(again, 20 * FOLLOW_GRACE_MS)
    assert.equal(joined.at(-1), again)
    assert.deepEqual(topics.dropUnseen(21 * FOLLOW_GRACE_MS), [again])
  })

  it('tells whether two keep filters share a channel/quality', () => {
    const a = new KeepFilter(['a'])
    const bSource = new KeepFilter(['b/source'])
    assert.ok(KeepFilter.ALL.overlaps(a) && a.overlaps(KeepFilter.ALL))
    assert.equal(a.overlaps(bSource), false)
    assert.ok(new KeepFilter(['b']).overlaps(bSource))
    assert.ok(bSource.overlaps(new KeepFilter(['b'])))
    assert.equal(bSource.overlaps(new KeepFilter(['b/480p'])), false)
    assert.ok(new KeepFilter(['a/source', 'b/480p']).overlaps(new KeepFilter(['b/480p'])))
    assert.deepEqual(new KeepFilter(['a', 'b/source', 'b/480p']).channels(), ['a', 'b'])
  })
})
