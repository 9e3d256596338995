/**
 * `GET /coverage/:channel/:quality?hours=N`: the coverage map of the last N hours of data (the
 * status page draws it). Per hour: full, partial (suspect or partial only), tombstoned and hole
 * spans as [from, to) µs offsets into the hour. Read from the index only.
 */
import type { FastifyInstance } from 'fastify'
import { CoverageMaps, MAX_MAP_HOURS } from '../storage/coverage-map.ts'
import { formatInstant } from '../storage/time.ts'
import type { HttpComponents } from './components.ts'
import { unknownQuality } from './errors.ts'
import { channelParam, countParam, qualityParam } from './params.ts'

const DEFAULT_MAP_HOURS = 24

export function coverageRoutes({ index, selector }: HttpComponents) {
  const maps = new CoverageMaps(index, selector)
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Params: { channel: string; quality: string }; Querystring: { hours?: string } }>(
      '/coverage/:channel/:quality',
      async (request, reply) => {
        const channel = channelParam(request.params.channel)
        const quality = qualityParam(request.params.quality)
        const hours = countParam('hours', request.query.hours, DEFAULT_MAP_HOURS, 1, MAX_MAP_HOURS)
        const now = Date.now() * 1000
        const map = maps.get(channel, quality, hours, now)
        if (map.length === 0) throw unknownQuality(index, channel, quality)
        reply.header('cache-control', 'no-cache')
        return { channel, quality, now: formatInstant(now), hours: map }
      }
    )
  }
}
