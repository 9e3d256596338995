/**
 * The composition root: builds the parts in order, starts them, and stops them in reverse.
 * index → store → reconcile → watcher → HTTP. Stopping drains HTTP for a bounded time first.
 */
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type pino from 'pino'
import type { Config } from '../config/options.ts'
import { buildHttpApp } from '../http/app.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import { Reconciler } from '../storage/reconcile.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { TreeWatcher } from '../storage/watcher.ts'

export interface SegmeshNodeInit {
  config: Readonly<Config>
  log: pino.Logger
}

export class SegmeshNode {
  readonly config: Readonly<Config>
  readonly log: pino.Logger
  index!: SegmentIndex
  store!: SegmentStore
  selector!: SegmentSelector
  #watcher: TreeWatcher | null = null
  #http: FastifyInstance | null = null
  #url: string | null = null
  #stopping: Promise<void> | null = null

  constructor (init: SegmeshNodeInit) {
    this.config = init.config
    this.log = init.log
  }

  /** The HTTP base URL once started. */
  get url (): string {
    if (this.#url == null) throw new Error('node not started')
    return this.#url
  }

  async start (): Promise<void> {
    const { config, log } = this
    this.index = SegmentIndex.open(join(config.dataDir, 'index'), { mapSize: config.indexMapSizeMb * 1024 * 1024 })
    this.store = new SegmentStore({ segmentsDir: config.segmentsDir, index: this.index })
    this.selector = new SegmentSelector(this.index)
    const reconciler = new Reconciler(this.store, log.child({ component: 'reconcile' }))
    const started = performance.now()
    const report = await reconciler.reconcileAll({
      tempGraceMs: config.tempGraceSeconds * 1000,
      onProgress: (p) => log.info(p, 'reconcile progress')
    })
    log.info({ ...report, seconds: Math.round(performance.now() - started) / 1000 }, 'index reconciled with disk')
    if (config.watch) {
      this.#watcher = new TreeWatcher({
        segmentsDir: config.segmentsDir,
        reconciler,
        log: log.child({ component: 'watcher' }),
        rescanIntervalMs: config.rescanIntervalSeconds * 1000,
        tempGraceMs: config.tempGraceSeconds * 1000
      })
      await this.#watcher.start()
    }
    this.#http = await buildHttpApp(
      { index: this.index, store: this.store, selector: this.selector },
      { metrics: config.metrics, logger: log.child({ component: 'http' }), dataDir: config.dataDir, adminToken: config.adminToken ?? undefined }
    )
    await this.#http.listen({ host: config.httpHost, port: config.httpPort })
    const address = this.#http.server.address()
    const port = typeof address === 'object' && address != null ? address.port : config.httpPort
    const host = config.httpHost === '0.0.0.0' || config.httpHost === '::' ? '127.0.0.1' : config.httpHost
    this.#url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  }

  /** Stop accepting, let in-flight responses finish for up to `graceMs`, then close everything. */
  async stop (graceMs = this.config.shutdownGraceSeconds * 1000): Promise<void> {
    this.#stopping ??= this.#stop(graceMs)
    await this.#stopping
  }

  async #stop (graceMs: number): Promise<void> {
    const http = this.#http
    if (http != null) {
      const closing = http.close()
      const timer = setTimeout(() => {
        this.log.warn({ graceMs }, 'drain time is up; closing the remaining connections')
        http.server.closeAllConnections()
      }, graceMs)
      try {
        await closing
      } finally {
        clearTimeout(timer)
      }
    }
    await this.#watcher?.stop()
    await this.index?.close()
  }
}
