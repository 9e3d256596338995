/** `GET /healthz` and `GET /status`: what this node is and holds. */
import { readFileSync } from 'node:fs'
import { statfs } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import { formatInstant } from '../storage/time.ts'
import type { HttpComponents, HttpInit } from './components.ts'
import { isLocalViewer, isLoopback } from './loopback.ts'

/** The node's version (package.json), for /status and /openapi.json. */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version

/**
 * What `/healthz` checks: that the node can serve what it holds. The index answers (its channels,
 * one quality's first and last hour), and one selection runs through the selector and its cache
 * (the newest µs of that quality's newest hour): the path every playlist, cut, frame and coverage
 * request takes. A few LMDB reads and one cached hour; any error is "cannot serve".
 */
async function probe({ index, selector }: Pick<HttpComponents, 'index' | 'selector'>): Promise<void> {
  const channel = index.channels()[0]
  if (channel == null) return
  const quality = index.qualities(channel)[0]
  const span = quality == null ? null : index.hourSpan(channel, quality)
  if (quality == null || span == null) return
  await selector.select(channel, quality, span.last, span.last + 1, { allowHoles: true })
}

export function statusRoutes(
  { index, store, selector, replication, cutter, ingest, network, budget, workers }: HttpComponents,
  init: HttpInit
) {
  const startedAt = Date.now()
  const loopback = init.isLoopback ?? isLoopback
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/healthz', async (request, reply) => {
      try {
        await probe({ index, selector })
      } catch (err) {
        request.log.error({ err }, 'health probe failed')
        return reply.code(503).send({ error: 'unhealthy', message: `cannot serve: ${(err as Error).message}` })
      }
      return { ok: true }
    })

    app.get('/status', async (request) => {
      // Absolute paths tell a stranger about the host: only this machine sees them
      // (a proxy on this host relays strangers, and says so in a forwarding header).
      const local = isLocalViewer(request, loopback, init.behindWorkers)
      const disk = await statfs(store.segmentsDir).catch(() => null)
      const channels = index.channels().map((channel) => ({
        channel,
        qualities: index.qualities(channel).map((quality) => {
          const hours = index.hourSummaries(channel, quality)
          const oldest = hours.length > 0 ? index.hourSegments(channel, quality, hours[0]!.start)[0] : undefined
          const newest = hours.length > 0 ? index.hourSegments(channel, quality, hours.at(-1)!.start).at(-1) : undefined
          return {
            quality,
            hours: hours.length,
            segments: hours.reduce((n, h) => n + h.segments, 0),
            bytes: hours.reduce((n, h) => n + h.bytes, 0),
            tombstones: hours.reduce((n, h) => n + h.tombstones, 0),
            oldest: oldest == null ? null : formatInstant(oldest.start),
            newest: newest == null ? null : formatInstant(newest.start + newest.duration),
            // Hours of the window fewer than --min-copies nodes hold, as of the last check (GET /copies has each hour).
            belowMinCopies: network?.belowMinCopies.get(`${channel}/${quality}`) ?? null
          }
        })
      }))
      return {
        version: VERSION,
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        dataDir: local ? (init.dataDir ?? null) : null,
        segmentsDir: local ? store.segmentsDir : null,
        disk: disk == null ? null : { freeBytes: disk.bavail * disk.bsize, totalBytes: disk.blocks * disk.bsize },
        // Segment writes (fetching, recording) paused for lack of space, and why (storage/disk-space.ts).
        diskFull: store.space?.full ?? false,
        diskSpace: store.space?.state() ?? null,
        // The disk budget (--max-disk-bytes) and what it evicted (storage/disk-budget.ts); null without one.
        diskBudget: budget?.state() ?? null,
        // The worker processes serving the HTTP port (--http-workers); null when this process does.
        httpWorkers: workers == null ? null : { running: workers.running, connections: workers.connections, ...workers.totals },
        index: index.totals(),
        minCopies: network?.minCopies ?? null,
        channels,
        peerId: null,
        multiaddrs: [],
        bootstrap: [],
        peers: [],
        // Running cut/frame jobs (with progress), then the last few finished ones.
        cuts: cutter == null ? [] : cutter.jobs.status(),
        // One entry per recorded channel/quality: state, newest segment, counts.
        recording: ingest?.status() ?? [],
        ...replication?.status()
      }
    })
  }
}
