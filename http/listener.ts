/**
 * One fastify app on one address, as a part with the node's lifecycle (lib/lifecycle.ts): start()
 * builds the app and listens; beforeStop() stops accepting connections (the node's other parts are
 * still stopping behind it); stop() lets responses in flight finish for the drain time, then
 * closes the connections that are left.
 */
import type { FastifyInstance } from 'fastify'
import { ConnectionCap } from './connection-cap.ts'
import type { Startable } from '../lib/lifecycle.ts'
import type { Logger } from '../lib/logger.ts'

export interface HttpListenerInit {
  build: () => Promise<FastifyInstance>
  /** Where to listen: an address and port (0 for any free one), or a unix socket's path. */
  listen: { host: string; port: number } | { path: string }
  /** Read when stopping: how long responses in flight may take before their connections are closed. */
  drainMs: () => number
  log: Logger
  /** The bound on its connections (http/connection-cap.ts); absent: one with the defaults. */
  cap?: ConnectionCap
}

export class HttpListener implements Startable {
  readonly #init: HttpListenerInit
  #app: FastifyInstance | null = null
  #url: string | null = null
  #closing: Promise<unknown> | null = null

  constructor(init: HttpListenerInit) {
    this.#init = init
  }

  /** The URL to reach the listener (a wildcard address reached as loopback); a socket's path as `unix:PATH`. */
  get url(): string {
    if (this.#url == null) throw new Error('the HTTP listener is not started')
    return this.#url
  }

  async start(): Promise<void> {
    const { listen } = this.#init
    const app = await this.#init.build()
    const cap = this.#init.cap ?? new ConnectionCap()
    cap.attach(app.server)
    try {
      await app.listen(listen)
    } catch (err) {
      await app.close()
      throw err
    }
    this.#app = app
    if ('path' in listen) {
      this.#url = `unix:${listen.path}`
      return
    }
    const address = app.server.address()
    this.#url = httpUrl(listen.host, typeof address === 'object' && address != null ? address.port : listen.port)
  }

  /** Stop accepting; the drain time counts from here. */
  beforeStop(): void {
    const app = this.#app
    if (app == null || this.#closing != null) return
    const drainMs = this.#init.drainMs()
    const timer = setTimeout(() => {
      this.#init.log.warn({ graceMs: drainMs }, 'drain time is up; closing the remaining connections')
      app.server.closeAllConnections()
    }, drainMs)
    this.#closing = app.close().finally(() => clearTimeout(timer))
  }

  async stop(): Promise<void> {
    this.beforeStop()
    await this.#closing
  }
}

/** How to reach a listener on `host:port`: a wildcard address is reached as loopback. */
export function httpUrl(host: string, port: number): string {
  const reach = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`
}
