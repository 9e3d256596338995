/**
 * Wubloader-compatible listings, from the index: `/files`, `/files/:channel`,
 * `/files/:channel/:quality`, `/files/:channel/:quality/:hour[?tombstones=true]`. Same JSON shapes
 * as the original (arrays of names); ours are sorted and typed application/json.
 *
 * With read-through on, they cover what the connected peers hold too (http/network-listings.ts),
 * and say which in NETWORK_HEADER; a peer's request, or one sent `only-if-cached`, gets this
 * node's own.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { MICROS_PER_HOUR, formatHour } from '../storage/time.ts'
import type { HttpComponents } from './components.ts'
import { type Merged, NETWORK_HEADER, networkFor } from './network-listings.ts'
import { boolParam, channelParam, hourParam, qualityParam } from './params.ts'

interface Params {
  channel: string
  quality: string
  hour: string
}
interface Query {
  tombstones?: string
}

export function listingRoutes(components: HttpComponents) {
  const { index } = components
  const send = <T>(reply: FastifyReply, result: Merged<T>): T => {
    reply.header(NETWORK_HEADER, result.merged ? 'merged' : 'local')
    return result.value
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.get('/files', async (request, reply) => {
      const net = networkFor(components, request)
      return net == null ? index.channels() : send(reply, net.channels())
    })

    app.get<{ Params: Pick<Params, 'channel'> }>('/files/:channel', async (request, reply) => {
      const channel = channelParam(request.params.channel)
      const net = networkFor(components, request)
      return net == null ? index.qualities(channel) : send(reply, net.qualities(channel))
    })

    app.get<{ Params: Omit<Params, 'hour'> }>('/files/:channel/:quality', async (request, reply) => {
      const channel = channelParam(request.params.channel)
      const quality = qualityParam(request.params.quality)
      const net = networkFor(components, request)
      if (net == null) return index.hours(channel, quality)
      const starts = await net.hourStarts(channel, quality, 0, Number.MAX_SAFE_INTEGER - MICROS_PER_HOUR)
      return send(reply, { value: starts.value.map(formatHour), merged: starts.merged })
    })

    app.get<{ Params: Params; Querystring: Query }>('/files/:channel/:quality/:hour', async (request, reply) => {
      const channel = channelParam(request.params.channel)
      const quality = qualityParam(request.params.quality)
      const hour = hourParam(request.params.hour)
      const tombstones = boolParam('tombstones', request.query.tombstones, false)
      const net = networkFor(components, request)
      if (net == null) return index.listHour(channel, quality, hour, { tombstones })
      return send(reply, await net.listHour(channel, quality, hour, { tombstones }))
    })
  }
}
