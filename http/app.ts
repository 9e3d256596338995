/**
 * The fastify app: every route group as an encapsulated plugin, JSON errors, optional metrics.
 * It only reads from storage (but for the token-guarded /admin routes); the node (node/) owns the
 * lifecycle of what it is given.
 */
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify'
import { adminRoutes } from './admin-routes.ts'
import type { HttpComponents, HttpInit } from './components.ts'
import { copiesRoutes } from './copies-routes.ts'
import { coverageRoutes } from './coverage-routes.ts'
import { ByteBudget } from './bulk-rate.ts'
import { BufferPool } from '../lib/buffer-pool.ts'
import { CORS_HEADER } from './cors.ts'
import { SEGMENT_READ_DEFAULTS } from './segment-answer.ts'
import { cutRoutes } from './cut-routes.ts'
import { HttpError, statusOf } from './errors.ts'
import { listingRoutes } from './listing-routes.ts'
import { openApiRoutes } from './openapi.ts'
import {
  registerBudgetMetrics,
  registerConnectionMetrics,
  registerDiskMetrics,
  registerMetrics,
  registerNetworkListingMetrics,
  registerReadThroughMetrics,
  registerUploadMetrics,
  registerViewerStreamMetrics,
  registerWorkerMetrics
} from './metrics.ts'
import { singleValuedQuery } from './params.ts'
import { peerQuota } from './peer-quota.ts'
import { playlistRoutes } from './playlist-routes.ts'
import { keepRoutes } from './keep-routes.ts'
import { replicationRoutes } from './replication-routes.ts'
import { segmentRoutes } from './segment-routes.ts'
import { statusRoutes } from './status-routes.ts'
import { tombstoneRoutes } from './tombstone-routes.ts'
import { uiAssets, uiRoutes } from './ui-routes.ts'

export async function buildHttpApp(components: HttpComponents, init: HttpInit = {}): Promise<FastifyInstance> {
  // Read before any plugin is registered, so its file reads are not timed as a registration.
  const ui = uiAssets()
  const app = Fastify({
    loggerInstance: init.logger,
    logController: new LogController({ disableRequestLogging: true }),
    // Segment names are about 70 characters; anything much longer is not ours (414).
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Every plugin is an async function (no `done` to forget, the bug this check is for) and none
    // does I/O while registering; a plugin slow only because the box is busy must not fail the
    // node's start. A real hang would show as a start that never logs its listening URL.
    pluginTimeout: 0,
    // Behind the workers, the one hop trusted is the worker that relayed the request.
    ...(init.behindWorkers === true ? { trustProxy: (_address: string, hop: number) => hop === 0 } : {})
  })

  app.setErrorHandler((err: FastifyError | HttpError, request, reply) => {
    if (err instanceof HttpError) {
      reply.headers(err.headers)
      return reply.code(err.statusCode).send({ error: err.code, message: err.message })
    }
    const status = statusOf(err)
    // Storage refuses writes while the disk is full: the admin must see why, not "internal error".
    if (err.code === 'SEGMESH_ERR_DISK_FULL') {
      request.log.warn({ err }, 'write refused: disk full')
      return reply.code(status).send({ error: 'disk_full', message: err.message })
    }
    if (status >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ err }, 'bad request')
    return reply
      .code(status)
      .send({ error: status >= 500 ? 'internal' : 'bad_request', message: status >= 500 ? 'internal error' : err.message })
  })
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({ error: 'not_found', message: `no route for ${request.method} ${request.url.split('?')[0]}` })
  })

  // Bodies written past fastify (http/chunk-writer.ts) set it themselves.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header(CORS_HEADER.name, CORS_HEADER.value)
    return payload
  })

  // Every query parameter once, on every route (but what a route declares repeatable).
  app.addHook('onRequest', singleValuedQuery)

  // A separate admin listener serves the admin routes and nothing else.
  if (init.routes === 'admin') {
    await app.register(adminRoutes(components, init))
    return app
  }

  if (init.metrics !== false) {
    const { registry } = registerMetrics(app, components.index, components.selector, components.replication, components.retention)
    if (components.store.space != null) registerDiskMetrics(registry, components.store.space)
    if (components.budget != null) registerBudgetMetrics(registry, components.budget)
    if (components.uploads != null) registerUploadMetrics(registry, components.uploads)
    if (components.viewers != null) registerViewerStreamMetrics(registry, components.viewers)
    if (components.readThrough != null) registerReadThroughMetrics(registry, components.readThrough)
    if (components.network != null) registerNetworkListingMetrics(registry, components.network)
    if (components.workers != null) registerWorkerMetrics(registry, components.workers)
    if (components.connections != null) registerConnectionMetrics(registry, components.connections)
    // The recorder keeps a registry of its own; both are served here.
    const ingest = components.ingest?.registry
    app.get('/metrics', async (_request, reply) => {
      return reply.type(registry.contentType).send((await registry.metrics()) + (ingest == null ? '' : await ingest.metrics()))
    })
  }

  await app.register(listingRoutes(components))
  // Whole segments and cut bodies are read into these (lib/buffer-pool.ts): one bound per app.
  const buffers = new BufferPool({ bufferBytes: SEGMENT_READ_DEFAULTS.bufferBytes, maxBytes: SEGMENT_READ_DEFAULTS.poolBytes })
  await app.register(segmentRoutes(components, buffers))
  await app.register(playlistRoutes(components, init))
  // /cut and /frame run on the node's cutter, whose lifecycle the node owns; an app built without
  // one (a test, a bench) serves everything else.
  if (components.cutter != null) {
    const budget = (init.cutBytesPerSecond ?? 0) > 0 ? new ByteBudget(init.cutBytesPerSecond!) : undefined
    await app.register(cutRoutes({ ...components, cutter: components.cutter }, { budget, buffers }))
  }
  await app.register(statusRoutes(components, init))
  await app.register(coverageRoutes(components))
  await app.register(copiesRoutes(components))
  await app.register(uiRoutes(ui))
  // The routes only peers use, under one quota that runs on the matched route (never on the raw URL).
  await app.register(async (peers) => {
    peers.addHook('onRequest', peerQuota({ ...init.peerQuota, exempt: init.isLoopback }))
    await peers.register(replicationRoutes(components))
    await peers.register(keepRoutes(components))
    await peers.register(tombstoneRoutes(components))
  })
  if (init.routes !== 'public') await app.register(adminRoutes(components, init))
  await app.register(openApiRoutes())
  return app
}
