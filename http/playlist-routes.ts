/**
 * `GET /playlist/:channel.m3u8` (master) and `GET /playlist/:channel/:quality.m3u8?start&end`
 * (media), from best-segment selection over the index; with read-through on, over what the
 * connected peers hold too (http/network-listings.ts), said in NETWORK_HEADER.
 */
import { Readable } from 'node:stream'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { MICROS_PER_HOUR, formatInstant } from '../storage/time.ts'
import type { HttpComponents, HttpInit } from './components.ts'
import { HttpError, badParameter, noContent, notFound, unknownQuality } from './errors.ts'
import { channelParam, qualityParam, timeParam } from './params.ts'
import { masterPlaylist, planMediaPlaylist } from './playlist.ts'
import { MediaPlaylistWriter } from './playlist-cache.ts'
import { NETWORK_HEADER, type NetworkListings, networkFor } from './network-listings.ts'

/** Longest range served when start or end is left out (a live viewer). */
const MAX_OPEN_RANGE = 12 * MICROS_PER_HOUR

const M3U8 = 'application/vnd.apple.mpegurl'

interface Range {
  start?: string
  end?: string
}

/** `start` and `end`, each optional; when both are given, end after start. */
function rangeParams(query: Range): { start: number | undefined; end: number | undefined } {
  const start = timeParam('start', query.start)
  const end = timeParam('end', query.end)
  if (start != null && end != null && end <= start) throw badParameter('end', 'must be after start')
  return { start, end }
}

export function playlistRoutes(components: HttpComponents, init: Pick<HttpInit, 'playlistCache'> = {}) {
  const { index, selector } = components
  const writer = new MediaPlaylistWriter(selector, init.playlistCache)
  /** [first hour's start, last hour's end) of a channel/quality, or null when it has no hours. */
  const span = async (net: NetworkListings | null, channel: string, quality: string): Promise<{ from: number; to: number } | null> => {
    if (net == null) {
      const hours = index.hourSpan(channel, quality)
      return hours == null ? null : { from: hours.first, to: hours.last + MICROS_PER_HOUR }
    }
    return await net.span(channel, quality)
  }

  return async (app: FastifyInstance): Promise<void> => {
    // find-my-way treats `.` after a parameter as a separator, so `:channel.m3u8` matches `desertbus.m3u8`.
    app.get<{ Params: { channel: string }; Querystring: Range }>('/playlist/:channel.m3u8', async (request, reply) => {
      const channel = channelParam(request.params.channel)
      const { start, end } = rangeParams(request.query)
      const net = networkFor(components, request)
      const qualities = net == null ? { value: index.qualities(channel), merged: false } : net.qualities(channel)
      if (qualities.value.length === 0) throw notFound(`unknown channel '${channel}'`)
      const offered: string[] = []
      for (const q of qualities.value) {
        const s = await span(net, channel, q)
        if (s != null && (start == null || s.to > start) && (end == null || s.from < end)) offered.push(q)
      }
      if (offered.length === 0) throw noContent(`no quality of '${channel}' has segments in that range`)
      const params = new URLSearchParams()
      if (request.query.start != null) params.set('start', request.query.start)
      if (request.query.end != null) params.set('end', request.query.end)
      const query = params.size > 0 ? `?${params}` : ''
      if (net != null) reply.header(NETWORK_HEADER, qualities.merged ? 'merged' : 'local')
      return reply.type(M3U8).send(masterPlaylist(channel, offered, query))
    })

    app.get<{ Params: { channel: string; quality: string }; Querystring: Range }>(
      '/playlist/:channel/:quality.m3u8',
      async (request, reply) => {
        const channel = channelParam(request.params.channel)
        const quality = qualityParam(request.params.quality)
        let { start, end } = rangeParams(request.query)
        const net = networkFor(components, request)
        const s = await span(net, channel, quality)
        if (s == null) throw unknownQuality(index, channel, quality)
        if (start == null || end == null) {
          start ??= s.from
          // One hour past the last hour, so a live viewer whose data reaches the end of the last
          // hour is not told the stream is over.
          end ??= s.to + MICROS_PER_HOUR
          if (end - start > MAX_OPEN_RANGE) {
            throw new HttpError(
              400,
              'range_too_long',
              `an open range may span at most 12 hours; this one runs ${formatInstant(start)} to ${formatInstant(end)}: ` +
                'give both start and end'
            )
          }
          if (end <= start) throw noContent(`no segments after ${formatInstant(start)}`)
        }
        const selection =
          net == null
            ? { value: await selector.select(channel, quality, start, end, { allowHoles: true }), merged: false }
            : await net.select(channel, quality, start, end)
        const plan = planMediaPlaylist(selection.value, end, Date.now() * 1000)
        if (plan.segments === 0) throw noContent(`no segments of ${channel}/${quality} in [${formatInstant(start)}, ${formatInstant(end)})`)
        const chunks = writer.chunks(plan)
        const first = chunks.next()
        const second = chunks.next()
        reply.type(M3U8).header('cache-control', plan.endlist ? 'public, max-age=60' : 'no-cache')
        if (net != null) reply.header(NETWORK_HEADER, selection.merged ? 'merged' : 'local')
        if (second.done === true) return reply.send(first.value)
        // Long playlists stream, giving other requests a turn between chunks.
        return reply.send(
          Readable.from(
            (async function* () {
              yield first.value
              yield second.value
              for (const chunk of chunks) {
                await yieldToLoop()
                yield chunk
              }
            })()
          )
        )
      }
    )
  }
}
