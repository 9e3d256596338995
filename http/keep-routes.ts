/**
 * `POST /replication/keep?channel&quality&hour=µs`: another node, about to evict its copy of an
 * hour under its disk budget, asks this one to keep its own (storage/disk-budget.ts). The answer is
 * `{ promised: true, digest }` (this node's digest of the hour, for the asker to compare sets) or
 * `{ promised: false, why }`. A node without a budget never evicts: it promises whatever it holds.
 * Only peers this node knows (by the URL in `x-segmesh-peer`) are answered; one that abuses it can
 * keep this node from evicting the hours it holds (its budget stays full), never make it lose one.
 */
import type { FastifyInstance } from 'fastify'
import { hourStart } from '../storage/time.ts'
import { PEER_HEADER } from '../replication/fetch-http.ts'
import type { HttpComponents } from './components.ts'
import { peerUrlOf } from './upload-slots.ts'
import { HttpError, badParameter } from './errors.ts'
import { channelParam, qualityParam } from './params.ts'

export function keepRoutes({ index, budget, network }: HttpComponents) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post<{ Querystring: { channel?: string; quality?: string; hour?: string } }>('/replication/keep', async (request, reply) => {
      const channel = channelParam(request.query.channel ?? '')
      const quality = qualityParam(request.query.quality ?? '')
      const raw = request.query.hour ?? ''
      if (!/^\d{1,16}$/.test(raw) || hourStart(Number(raw)) !== Number(raw))
        throw badParameter('hour', 'must be the start of an hour, in µs since the epoch')
      const hourUs = Number(raw)
      // Only a peer this node knows is promised anything: a promise holds an hour here for minutes.
      const asker = peerUrlOf(request.headers[PEER_HEADER])
      if (asker == null || network?.isPeer(asker) !== true)
        throw new HttpError(403, 'not_a_peer', `keep promises are for peers this node knows (header ${PEER_HEADER} with their URL)`)
      reply.header('cache-control', 'no-store')
      if (budget != null) return budget.promise(channel, quality, hourUs)
      const summary = index.hourSummaries(channel, quality, hourUs, hourUs + 1)[0]
      return summary == null || summary.segments === 0
        ? { promised: false, why: 'not held here' }
        : { promised: true, digest: summary.digest }
    })
  }
}
