/**
 * `GET /replication/tombstones/:channel/:quality/:hour`: the admin signatures of an hour's
 * tombstones, `{ proofs: { SEGMENT_FILE: proof } }` (unsigned tombstones are left out). Peers that
 * repair from this node ask for it once they see tombstones in the hour's listing, which stays
 * exactly wubloader's array of names.
 */
import type { FastifyInstance } from 'fastify'
import type { HttpComponents } from './components.ts'
import { channelParam, hourParam, qualityParam } from './params.ts'

interface Params {
  channel: string
  quality: string
  hour: string
}

export function tombstoneRoutes({ index }: HttpComponents) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Params: Params }>('/replication/tombstones/:channel/:quality/:hour', async (request) => {
      const channel = channelParam(request.params.channel)
      const quality = qualityParam(request.params.quality)
      const hour = hourParam(request.params.hour)
      const proofs: Record<string, string> = {}
      for (const t of index.hourTombstones(channel, quality, hour)) {
        if (t.proof != null) proofs[t.segment] = t.proof
      }
      return { proofs }
    })
  }
}
