/**
 * A busy box must not fail a node's start: the HTTP app has no plugin timeout, and the UI files are
 * read before registration (once per process), so no registration waits on the libuv pool. Fake
 * timers stand in for the load: no timing.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { SegmentSelector } from '../storage/best-segments.ts'
import { buildHttpApp } from '../http/app.ts'
import { type Asset, uiAssets, uiRoutes } from '../http/ui-routes.ts'
import { openStore } from './helpers/tree.ts'

async function app(t: TestContext): Promise<FastifyInstance> {
  const { index, store } = await openStore(t)
  const fastify = await buildHttpApp({ index, store, selector: new SegmentSelector(index) }, { metrics: false })
  t.after(async () => await fastify.close())
  return fastify
}

describe('starting on a busy box', () => {
  it("a plugin still registering long after fastify's default 10 s plugin timeout does not fail the start", async (t) => {
    const fastify = await app(t)
    t.mock.timers.enable({ apis: ['setTimeout'] })
    let release!: () => void
    let started!: () => void
    const running = new Promise<void>((resolve) => {
      started = resolve
    })
    fastify.register(async () => {
      started()
      await new Promise<void>((resolve) => {
        release = resolve
      })
    })
    const ready = fastify.ready()
    await running
    // An hour of a starved event loop, as far as any timer can tell.
    t.mock.timers.tick(3600_000)
    release()
    await ready
    t.mock.timers.reset()
    assert.equal((await fastify.inject('/status')).statusCode, 200)
  })

  it('reads the UI files once per process, before any plugin runs; the routes serve what they are given', async (t) => {
    assert.equal(uiAssets(), uiAssets())
    // The plugin reads nothing itself: given one page, it serves that page and no other file.
    const page: Asset = { body: Buffer.from('<p>given</p>'), type: 'text/html; charset=utf-8', etag: '"given"' }
    const fastify = Fastify()
    t.after(async () => await fastify.close())
    await fastify.register(uiRoutes(new Map([['index.html', page]])))
    const res = await fastify.inject('/')
    assert.equal(res.statusCode, 200)
    assert.equal(res.body, '<p>given</p>')
    assert.equal((await fastify.inject('/ui/style.css')).statusCode, 404)
  })
})
