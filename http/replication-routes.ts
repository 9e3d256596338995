/**
 * `GET /replication/digests?from=µs`: per-hour digests of every channel/quality from `from` on,
 * for a peer whose root differs from ours. Read from the index only.
 */
import type { FastifyInstance } from 'fastify'
import { hourDigests } from '../replication/digests.ts'
import type { HttpComponents } from './components.ts'
import { badParameter } from './errors.ts'

export function replicationRoutes ({ index }: HttpComponents) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Querystring: { from?: string } }>('/replication/digests', async (request) => {
      const raw = request.query.from ?? '0'
      if (!/^\d{1,16}$/.test(raw)) throw badParameter('from', 'must be a time in µs since the epoch')
      const qualities = [...hourDigests(index, Number(raw))].map(([key, hours]) => {
        const [channel, quality] = key.split('/') as [string, string]
        return { channel, quality, hours }
      })
      return { qualities }
    })
  }
}
