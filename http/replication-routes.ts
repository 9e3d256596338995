/**
 * What peers repairing from this node read, from the index only:
 * - `GET /replication/digests?from=µs[&to=µs][&channel=&quality=]`: per-hour digests of every
 *   channel/quality (or of one) of the hours from `from` on (before `to`), with a strong ETag
 *   (peers of the first protocol version repair with it; read-through listings and the copies
 *   count ask for one channel/quality, the hours that no longer grow with `If-None-Match`);
 * - `GET /replication/ranges?channel=&quality=&from=&to=`: the range split as both ends split it
 *   (replication/ranges.ts), with the fingerprint and name count of each part, for a repair that
 *   narrows down where two nodes differ;
 * - `GET /replication/names?channel=&quality=&from=&to=`: the names in one small range.
 */
import type { FastifyInstance } from 'fastify'
import { hourDigests } from '../replication/digests.ts'
import { MAX_RANGE_NAMES, rangeNames, rangeParts, splitRange, validRange } from '../replication/ranges.ts'
import type { HttpComponents } from './components.ts'
import { PEER_HEADER } from '../replication/fetch-http.ts'
import { badParameter } from './errors.ts'
import { etagMatches, etagOf } from './etag.ts'
import { channelParam, qualityParam } from './params.ts'

const MICROS = /^\d{1,16}$/

function micros(name: string, raw: string | undefined): number {
  if (raw == null || !MICROS.test(raw)) throw badParameter(name, 'must be a time in µs since the epoch')
  return Number(raw)
}

export function replicationRoutes({ index, replication }: HttpComponents) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Querystring: { from?: string; to?: string; channel?: string; quality?: string } }>(
      '/replication/digests',
      async (request, reply) => {
        const from = micros('from', request.query.from ?? '0')
        const to = request.query.to == null ? undefined : micros('to', request.query.to)
        const { channel, quality } = request.query
        if ((channel == null) !== (quality == null))
          throw badParameter(channel == null ? 'channel' : 'quality', 'channel and quality go together')
        const only = channel == null || quality == null ? undefined : { channel: channelParam(channel), quality: qualityParam(quality) }
        const qualities = [...hourDigests(index, from, only, to)].map(([key, hours]) => {
          const [channel, quality] = key.split('/') as [string, string]
          return { channel, quality, hours }
        })
        // Serialized here for its tag: an asker whose copy is current gets 304 and no body.
        const body = JSON.stringify({ qualities })
        const etag = etagOf(body)
        reply.header('etag', etag)
        if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()
        return reply.type('application/json; charset=utf-8').send(body)
      }
    )

    // A peer walking us says so (the header its fetcher sends): our own walk the other way waits.
    // The hook is this plugin's: it runs on these routes only, however the path was spelled.
    app.addHook('onRequest', async (request) => {
      const peer = request.headers[PEER_HEADER]
      if (typeof peer === 'string') replication?.walkedBy?.(peer)
    })

    app.get<{ Querystring: { channel?: string; quality?: string; from?: string; to?: string } }>('/replication/ranges', async (request) => {
      const channel = channelParam(request.query.channel ?? '')
      const quality = qualityParam(request.query.quality ?? '')
      const from = micros('from', request.query.from)
      const to = micros('to', request.query.to)
      if (!validRange(from, to)) throw badParameter('to', 'the range must be whole hours, or a part of one hour, that can be split')
      // Both ends split the same way (splitRange): the answer is [fingerprint, count] per part, in order.
      return { parts: rangeParts(index, channel, quality, splitRange(from, to)!).map((p) => [p.fp, p.count]) }
    })

    app.get<{ Querystring: { channel?: string; quality?: string; from?: string; to?: string } }>('/replication/names', async (request) => {
      const channel = channelParam(request.query.channel ?? '')
      const quality = qualityParam(request.query.quality ?? '')
      const from = micros('from', request.query.from)
      const to = micros('to', request.query.to)
      if (to <= from) throw badParameter('to', 'must be after from')
      const names = rangeNames(index, channel, quality, from, to)
      if (names == null)
        throw badParameter('to', `the range holds more than ${MAX_RANGE_NAMES} names: ask for its parts (/replication/ranges)`)
      return names
    })
  }
}
