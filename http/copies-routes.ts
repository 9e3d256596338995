/**
 * `GET /copies/:channel/:quality[?start&end]`: for each hour of the range (the last 24 h by
 * default, at most 31 days), how many nodes hold it: this node and its connected peers, compared by
 * hour digest (http/network-listings.ts, `copies()`). An operator checks that every hour of an
 * event is held by at least `--min-copies` nodes before any of them deletes or evicts.
 */
import type { FastifyInstance } from 'fastify'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import type { HttpComponents } from './components.ts'
import { HttpError, badParameter, unknownQuality } from './errors.ts'
import { NETWORK_LISTINGS_DEFAULTS } from './network-listings.ts'
import { channelParam, qualityParam, timeParam } from './params.ts'

const DEFAULT_HOURS = 24
const MAX_HOURS = 31 * 24

export function copiesRoutes({ index, network }: HttpComponents) {
  const minCopies = network?.minCopies ?? NETWORK_LISTINGS_DEFAULTS.minCopies
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Params: { channel: string; quality: string }; Querystring: { start?: string; end?: string } }>(
      '/copies/:channel/:quality',
      async (request, reply) => {
        const channel = channelParam(request.params.channel)
        const quality = qualityParam(request.params.quality)
        const end = timeParam('end', request.query.end) ?? Date.now() * 1000
        const start = timeParam('start', request.query.start) ?? end - DEFAULT_HOURS * MICROS_PER_HOUR
        if (end <= start) throw badParameter('end', 'must be after start')
        const from = hourStart(start)
        if (end - from > MAX_HOURS * MICROS_PER_HOUR)
          throw new HttpError(400, 'range_too_long', `a copies range may span at most ${MAX_HOURS} hours (31 days)`)
        const known = index.hourSpan(channel, quality) != null || network?.qualities(channel).value.includes(quality) === true
        if (!known) throw unknownQuality(index, channel, quality)
        const view =
          network == null
            ? {
                peers: { holding: 0, asked: 0, failed: 0 },
                hours: index.hourSummaries(channel, quality, from, end).map((h) => ({
                  hour: h.hour,
                  segments: h.segments,
                  copies: h.digest === '' ? 0 : 1,
                  holders: h.digest === '' ? 0 : 1,
                  agreeing: h.digest === '' ? 0 : 1
                }))
              }
            : await network.copies(channel, quality, from, end)
        reply.header('cache-control', 'no-cache')
        return {
          channel,
          quality,
          start: formatHour(from),
          minCopies: minCopies,
          belowMinCopies: view.hours.filter((h) => h.segments > 0 && h.copies < minCopies).length,
          ...view
        }
      }
    )
  }
}
