/** `GET /healthz` and `GET /status`: what this node is and holds. */
import { readFileSync } from 'node:fs'
import { statfs } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import { formatInstant } from '../storage/time.ts'
import type { HttpComponents, HttpInit } from './components.ts'

/** The node's version (package.json), for /status and /openapi.json. */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version

export function statusRoutes ({ index, store, replication, cutter, ingest }: HttpComponents, init: HttpInit) {
  const startedAt = Date.now()
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/healthz', async () => ({ ok: true }))

    app.get('/status', async () => {
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
            newest: newest == null ? null : formatInstant(newest.start + newest.duration)
          }
        })
      }))
      return {
        version: VERSION,
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        dataDir: init.dataDir ?? null,
        segmentsDir: store.segmentsDir,
        disk: disk == null ? null : { freeBytes: disk.bavail * disk.bsize, totalBytes: disk.blocks * disk.bsize },
        // Segment writes (fetching, recording) paused for lack of space, and why (storage/disk-space.ts).
        diskFull: store.space?.full ?? false,
        diskSpace: store.space?.state() ?? null,
        index: index.totals(),
        channels,
        peerId: null,
        multiaddrs: [],
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
