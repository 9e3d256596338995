/**
 * Wubloader-compatible listings, from the index: `/files`, `/files/:channel`,
 * `/files/:channel/:quality`, `/files/:channel/:quality/:hour[?tombstones=true]`. Same JSON shapes
 * as the original (arrays of names); ours are sorted and typed application/json.
 */
import type { FastifyInstance } from 'fastify'
import type { HttpComponents } from './components.ts'
import { boolParam, channelParam, hourParam, qualityParam } from './params.ts'

interface Params {
  channel: string
  quality: string
  hour: string
}
interface Query {
  tombstones?: string
}

export function listingRoutes({ index }: HttpComponents) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/files', async () => index.channels())

    app.get<{ Params: Pick<Params, 'channel'> }>('/files/:channel', async (request) => {
      return index.qualities(channelParam(request.params.channel))
    })

    app.get<{ Params: Omit<Params, 'hour'> }>('/files/:channel/:quality', async (request) => {
      return index.hours(channelParam(request.params.channel), qualityParam(request.params.quality))
    })

    app.get<{ Params: Params; Querystring: Query }>('/files/:channel/:quality/:hour', async (request) => {
      const channel = channelParam(request.params.channel)
      const quality = qualityParam(request.params.quality)
      const hour = hourParam(request.params.hour)
      const tombstones = boolParam('tombstones', request.query.tombstones, false)
      return index.listHour(channel, quality, hour, { tombstones })
    })
  }
}
