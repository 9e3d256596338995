/**
 * The browser UI: `GET /` (status page with the coverage map), `GET /player` (web player) and
 * their files under `/ui/`. No build step: plain HTML, CSS and ES modules from `http/ui/`, plus
 * hls.js from its npm package, read once per process (uiAssets) before the routes are registered.
 * Read-only.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { notFound } from './errors.ts'
import { etagMatches, etagOf } from './etag.ts'

const UI_DIR = new URL('./ui/', import.meta.url)
/** The light build: no subtitles, alternate audio or DRM, none of which a restream has. */
const HLS_JS = 'hls.js/dist/hls.light.min.js'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8'
}

/**
 * The pages only run our own scripts; they read JSON and play video from any node (the player
 * takes a node URL), and hls.js runs its transmuxer in a worker made from a blob.
 */
const PAGE_POLICY =
  "default-src 'self'; connect-src *; media-src 'self' blob: *; worker-src 'self' blob:; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

export interface Asset {
  body: Buffer
  type: string
  etag: string
}

function loadAssets(): Map<string, Asset> {
  const files: Array<[name: string, path: string]> = readdirSync(UI_DIR)
    .filter((n) => TYPES[extname(n)] != null)
    .map((n) => [n, fileURLToPath(new URL(n, UI_DIR))])
  files.push(['hls.js', fileURLToPath(import.meta.resolve(HLS_JS))])
  const assets = new Map<string, Asset>()
  for (const [name, path] of files) {
    const body = readFileSync(path)
    assets.set(name, { body, type: TYPES[extname(path)]!, etag: etagOf(body) })
  }
  return assets
}

let loaded: Map<string, Asset> | undefined

/**
 * The UI files (about 420 kB), read once per process (a simulation runs many nodes in one), before
 * the plugin is registered. Synchronously, on purpose: an asynchronous read waits for a libuv pool
 * thread per step, and on a busy node those are queued behind fsyncs; read during registration it
 * ran past fastify's plugin timeout, and even outside it took 26 s with the pool saturated, where
 * this blocks the loop for a few ms, once.
 */
export function uiAssets(): Map<string, Asset> {
  loaded ??= loadAssets()
  return loaded
}

export function uiRoutes(assets: Map<string, Asset>) {
  return async (app: FastifyInstance): Promise<void> => {
    // Revalidated on every load (cheap: 304 on the ETag), so a node upgrade shows at once.
    const send = (name: string, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
      const asset = assets.get(name)
      if (asset == null) throw notFound(`no UI file '${name}'`)
      reply.header('etag', asset.etag).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff')
      if (asset.type.startsWith('text/html')) reply.header('content-security-policy', PAGE_POLICY).header('referrer-policy', 'no-referrer')
      if (etagMatches(request.headers['if-none-match'], asset.etag)) return reply.code(304).send()
      return reply.type(asset.type).send(asset.body)
    }
    app.get('/', async (request, reply) => send('index.html', request, reply))
    app.get('/player', async (request, reply) => send('player.html', request, reply))
    // Only names read at start are served, so nothing else on disk can be reached.
    app.get<{ Params: { file: string } }>('/ui/:file', async (request, reply) => send(request.params.file, request, reply))
  }
}
