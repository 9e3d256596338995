/** The coverage map endpoint and the UI's static files, on a real index (one route each: inject). */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import fc from 'fast-check'
import { fuzzRuns, hostileString } from '../test/helpers/fuzz.ts'
import { T0, openStore, ref } from '../test/helpers/tree.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import { MICROS_PER_HOUR } from '../storage/time.ts'
import { buildHttpApp } from './app.ts'

const S = 1_000_000
const UI_FILES = ['index.html', 'player.html', 'style.css', 'common.js', 'status.js', 'player.js', 'hls.js']

async function app(t: TestContext): Promise<FastifyInstance> {
  const { index, store } = await openStore(t)
  // Hour 10: 0–4 s full, 4–6 s partial, 6–8 s tombstoned, then nothing.
  await index.apply([
    { op: 'put-segment', ref: ref({ at: 10 * 3600_000, dur: 2000 }), size: 1, mtimeMs: 1 },
    { op: 'put-segment', ref: ref({ at: 10 * 3600_000 + 2000, dur: 2000 }), size: 1, mtimeMs: 1 },
    { op: 'put-segment', ref: ref({ at: 10 * 3600_000 + 4000, dur: 2000, type: 'partial' }), size: 1, mtimeMs: 1 }
  ])
  const dead = ref({ at: 10 * 3600_000 + 6000, dur: 2000 })
  await index.apply([{ op: 'put-tombstone', channel: 'c', quality: 'q', start: dead.start, segment: dead.file, mtimeMs: 1 }])
  const fastify = await buildHttpApp({ index, store, selector: new SegmentSelector(index) }, { metrics: false })
  t.after(async () => await fastify.close())
  return fastify
}

describe('GET /coverage/:channel/:quality', () => {
  it('returns per-hour span lists in µs offsets', async (t) => {
    const res = await (await app(t)).inject('/coverage/c/q?hours=2')
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['cache-control'], 'no-cache')
    const body = res.json()
    assert.equal(body.channel, 'c')
    assert.equal(body.hours.length, 1) // never before the first hour of data
    const [hour] = body.hours
    assert.equal(hour.hour, '2020-01-01T10')
    assert.equal(hour.start, T0 + 10 * MICROS_PER_HOUR)
    assert.deepEqual(hour.full, [[0, 4 * S]])
    assert.deepEqual(hour.partial, [[4 * S, 6 * S]])
    assert.deepEqual(hour.tombstoned, [[6 * S, 8 * S]])
    assert.deepEqual(hour.holes, [[8 * S, MICROS_PER_HOUR]])
  })

  it('refuses bad parameters and unknown streams with JSON errors', async (t) => {
    const fastify = await app(t)
    for (const [url, status, error] of [
      ['/coverage/c/q?hours=0', 400, 'bad_parameter'],
      ['/coverage/c/q?hours=169', 400, 'bad_parameter'],
      ['/coverage/c/q?hours=1.5', 400, 'bad_parameter'],
      ['/coverage/c/q?hours=-1', 400, 'bad_parameter'],
      ['/coverage/..%2Fetc/q', 400, 'bad_parameter'],
      ['/coverage/c/nope', 404, 'not_found'],
      ['/coverage/nope/q', 404, 'not_found']
    ] as const) {
      const res = await fastify.inject(url)
      assert.equal(res.statusCode, status, url)
      assert.equal(res.json().error, error, url)
      assert.match(res.json().message, /hours|channel|quality/, url)
    }
  })
})

describe('UI files', () => {
  it('serves the pages with a content policy, the scripts and hls.js from its package, with ETags', async (t) => {
    const fastify = await app(t)
    for (const [url, type] of [
      ['/', 'text/html'],
      ['/player', 'text/html'],
      ['/ui/status.js', 'text/javascript'],
      ['/ui/style.css', 'text/css'],
      ['/ui/hls.js', 'text/javascript']
    ]) {
      const res = await fastify.inject(url!)
      assert.equal(res.statusCode, 200, url)
      assert.match(String(res.headers['content-type']), new RegExp(`^${type}; charset=utf-8`), url)
      assert.equal(res.headers['x-content-type-options'], 'nosniff')
      assert.equal(res.headers['content-security-policy'] != null, type === 'text/html', url)
      const again = await fastify.inject({ url: url!, headers: { 'if-none-match': String(res.headers.etag) } })
      assert.equal(again.statusCode, 304, url)
    }
    const hls = await readFile(fileURLToPath(import.meta.resolve('hls.js/dist/hls.light.min.js')))
    assert.ok((await fastify.inject('/ui/hls.js')).rawPayload.equals(hls))
    assert.match((await fastify.inject('/')).body, /<svg|coverage/)
  })

  it('serves only the files it read at start', async (t) => {
    const fastify = await app(t)
    for (const url of ['/ui/..%2Fui-routes.ts', '/ui/ui-routes.ts', '/ui/%2e%2e%2fapp.ts', '/ui/nope.js']) {
      const res = await fastify.inject(url)
      assert.equal(res.statusCode, 404, url)
      assert.equal(res.json().error, 'not_found')
    }
  })
})

describe('coverage and UI routes under fuzzing', () => {
  it('answer hostile paths and queries with a JSON 4xx, or 200 only for what exists', async (t) => {
    const fastify = await app(t)
    const part = hostileString(['c', 'q', '24', '168', ...UI_FILES])
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/coverage/', '/ui/', '/player/', '/'), part, part, part, async (prefix, a, b, hours) => {
        const url = `${prefix}${encodeURIComponent(a)}${prefix === '/coverage/' ? `/${encodeURIComponent(b)}` : ''}?hours=${encodeURIComponent(hours)}`
        const res = await fastify.inject(url)
        assert.ok([200, 400, 404, 414].includes(res.statusCode), `${url}: ${res.statusCode}`)
        if (res.statusCode >= 400) assert.equal(typeof res.json().error, 'string', url)
        // A 200 only for what exists: the status page, the UI's own files, a known channel/quality.
        if (res.statusCode === 200)
          assert.ok(
            prefix === '/' ? a === '' : prefix === '/ui/' ? UI_FILES.includes(a) : prefix === '/coverage/' && a === 'c' && b === 'q',
            url
          )
      }),
      fuzzRuns(300)
    )
  })
})
