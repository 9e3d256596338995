/**
 * `GET /cut/:channel/:quality.ts|.mp4?start&end[&range=START,END…]&type=rough|fast|full
 * &allow_holes=true|false[&fallback=full]` and `GET /frame/:channel/:quality.png|.jpg?timestamp=`.
 * Validation and selection happen here, before any ffmpeg starts; the cutter gets runs of
 * segments. The request's signal (the client going away) reaches every ffmpeg it starts.
 * With read-through on, the selection covers what the connected peers hold too
 * (http/network-listings.ts), and the segments this node lacks are fetched before the cutter
 * reads them (http/cut-gather.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CutResult, CutType, Cutter } from '../cutter/cutter.ts'
import { CutError, CutterBusyError, FfmpegError, NoFrameError, StreamMismatchError } from '../cutter/errors.ts'
import { type Run, type TimeRange, hasHoles, runsOf } from '../cutter/plan.ts'
import { MICROS_PER_SECOND, formatInstant } from '../storage/time.ts'
import { type BufferPool, fileChunks } from '../lib/buffer-pool.ts'
import type { ByteBudget } from './bulk-rate.ts'
import { sendChunks } from './chunk-writer.ts'
import type { HttpComponents } from './components.ts'
import { HttpError, badParameter, noContent, statusOf, unknownQuality } from './errors.ts'
import { boolParam, channelParam, qualityParam, timeParam } from './params.ts'
import { parseRange } from './segment-answer.ts'
import { rangeHeaders, rangeNotSatisfiable } from './segment-routes.ts'
import { CutGather } from './cut-gather.ts'
import { type NetworkListings, networkFor } from './network-listings.ts'
import { READ_THROUGH_HEADER } from './read-through.ts'

/** Ranges in one cut: each is a separate selection and a hard cut. */
const MAX_RANGES = 64

/** A repeatable query parameter: one value or several (every other one is single, app.ts). */
type Repeatable = string | string[] | undefined

interface CutQuery {
  start?: string
  end?: string
  range?: Repeatable
  type?: string
  allow_holes?: string
  fallback?: string
  transition?: Repeatable
}
interface Params {
  channel: string
  quality: string
}

const CUT_TYPES: readonly CutType[] = ['rough', 'fast', 'full']
/** `range` and `transition` come once per range, as in the original's editor requests. */
const CUT_CONFIG = { repeatable: ['range', 'transition'] }

function many(value: Repeatable): string[] {
  return value == null ? [] : Array.isArray(value) ? value : [value]
}

function timeRanges(query: CutQuery): TimeRange[] {
  const ranges = many(query.range)
  const { start, end } = query
  let out: TimeRange[]
  if (ranges.length > 0) {
    if (start != null || end != null) throw badParameter('range', 'give either start and end, or range= (repeatable), not both')
    if (ranges.length > MAX_RANGES) throw badParameter('range', `at most ${MAX_RANGES} ranges per cut, got ${ranges.length}`)
    out = ranges.map((text, i) => {
      const parts = text.split(',')
      if (parts.length !== 2) throw badParameter('range', `range ${i + 1} must be START,END (two ISO 8601 UTC times)`)
      return { start: timeParam(`range ${i + 1} start`, parts[0])!, end: timeParam(`range ${i + 1} end`, parts[1])! }
    })
  } else {
    if (start == null) throw badParameter('start', 'required (or give range=START,END)')
    if (end == null) throw badParameter('end', 'required (or give range=START,END)')
    out = [{ start: timeParam('start', start)!, end: timeParam('end', end)! }]
  }
  for (const [i, r] of out.entries()) {
    if (r.end <= r.start) throw badParameter(out.length === 1 && ranges.length === 0 ? 'end' : `range ${i + 1}`, 'end must be after start')
  }
  return out
}

function cutType(query: CutQuery): CutType {
  const type = query.type ?? 'fast'
  if (!(CUT_TYPES as readonly string[]).includes(type)) throw badParameter('type', `must be one of: ${CUT_TYPES.join(', ')}`)
  return type as CutType
}

/** Cutter errors → HTTP answers (statuses from http/errors.ts); anything unexpected is logged with ffmpeg's stderr. */
function toHttpError(err: unknown, request: FastifyRequest): unknown {
  // Nobody is listening: nothing to log as a failure.
  if (request.signal.aborted) return new HttpError(499, 'client_closed', 'the client closed the connection')
  if (err instanceof CutterBusyError)
    return new HttpError(statusOf(err), 'busy', err.message, { 'retry-after': String(err.retryAfterSeconds) })
  if (err instanceof StreamMismatchError) return new HttpError(statusOf(err), 'stream_mismatch', err.message)
  if (err instanceof NoFrameError) return new HttpError(statusOf(err), 'no_frame', err.message)
  if (err instanceof CutError) {
    request.log.error({ err, stderr: err instanceof FfmpegError ? err.stderr : undefined }, 'cut failed')
    return new HttpError(
      500,
      'cut_failed',
      `${err instanceof FfmpegError ? `${err.tool} failed` : err.message}; the node's log has the details`
    )
  }
  return err
}

async function sendFile(
  result: CutResult & { kind: 'file' },
  request: FastifyRequest,
  reply: FastifyReply,
  type: string,
  bodies: CutBodies
): Promise<void> {
  try {
    const range = parseRange(request.headers.range, result.size)
    if (range === 'unsatisfiable') throw rangeNotSatisfiable(request.headers.range, result.size, 'the cut')
    reply.header('content-type', type).header('accept-ranges', 'bytes')
    rangeHeaders(reply, range, result.size)
    const chunks = fileChunks(result.path, { pool: bodies.buffers, ...(range ?? {}) })
    await sendChunks(reply, chunks, { budget: bodies.budget, signal: request.signal })
  } finally {
    // The temp file goes once the response is over, sent or not.
    void result.release()
  }
}

/** How cut bodies are sent: `budget` paces every cut's bytes (none: as fast as the client reads); `buffers` lends read buffers. */
export interface CutBodies {
  budget?: ByteBudget | undefined
  buffers: BufferPool
}

/** `cutter` is the node's one cutter, shared with /status. */
export function cutRoutes(components: HttpComponents & { cutter: Cutter }, bodies: CutBodies) {
  const { index, selector, cutter, readThrough } = components
  const { budget, buffers } = bodies
  const known = (channel: string, quality: string, net: NetworkListings | null): void => {
    if (index.hourSpan(channel, quality) != null || net?.qualities(channel).value.includes(quality) === true) return
    throw unknownQuality(index, channel, quality)
  }
  const select = async (net: NetworkListings | null, channel: string, quality: string, range: TimeRange) =>
    net == null
      ? await selector.select(channel, quality, range.start, range.end, { allowHoles: true })
      : (await net.select(channel, quality, range.start, range.end)).value
  /** What of `runs` this node lacks, to fetch from peers as the cut needs it; null when it holds them all. */
  const gather = (runs: readonly Run[], request: FastifyRequest, reply: FastifyReply): CutGather | null => {
    const missing = runs.flatMap((r) => r.segments).filter((s) => index.getSegment(s) == null)
    if (missing.length === 0 || readThrough == null) return null
    reply.header(READ_THROUGH_HEADER, 'peer')
    return new CutGather(readThrough, missing, request.signal)
  }

  return async (app: FastifyInstance): Promise<void> => {
    const cut =
      (format: 'ts' | 'mp4') =>
      async (request: FastifyRequest<{ Params: Params; Querystring: CutQuery }>, reply: FastifyReply): Promise<unknown> => {
        const channel = channelParam(request.params.channel)
        const quality = qualityParam(request.params.quality)
        const query = request.query
        const type = cutType(query)
        if (format === 'mp4' && type !== 'full')
          throw badParameter(
            'type',
            `.mp4 needs type=full: rough and fast cuts copy MPEG-TS packets, and an MP4 has to be written whole (ask for .ts, or type=full)`
          )
        const allowHoles = boolParam('allow_holes', query.allow_holes, false)
        const { fallback } = query
        if (fallback != null && fallback !== 'full') throw badParameter('fallback', "the only fallback is 'full'")
        // Rough cuts ignore transitions, as the original's do: editors send them along.
        if (type !== 'rough' && many(query.transition).some((t) => t !== ''))
          throw badParameter('transition', 'only hard cuts between ranges are supported')
        const ranges = timeRanges(query)
        const net = networkFor(components, request)
        known(channel, quality, net)

        const runs: Run[] = []
        let holes = false
        for (const range of ranges) {
          const selection = await select(net, channel, quality, range)
          holes ||= hasHoles(selection)
          runs.push(...runsOf(selection, range))
        }
        const where = ranges.map((r) => `[${formatInstant(r.start)}, ${formatInstant(r.end)})`).join(', ')
        if (runs.length === 0) throw noContent(`no segments of ${channel}/${quality} in ${where}`)
        if (holes && !allowHoles)
          throw new HttpError(406, 'contains_holes', `${where} has holes or runs past the data; pass allow_holes=true to cut what there is`)

        // A rough cut fetches each segment it lacks as it streams; the others, all before ffmpeg starts.
        const gathering = gather(runs, request, reply)
        if (gathering != null && type !== 'rough') await gathering.all()
        let result: CutResult
        try {
          result = await cutter.cut(
            {
              channel,
              quality,
              ranges,
              runs,
              type,
              format,
              fallbackToFull: fallback === 'full',
              ...(gathering == null ? {} : { ready: gathering.ready })
            },
            { signal: request.signal, buffers }
          )
        } catch (err) {
          throw toHttpError(err, request)
        }
        reply.header('x-segmesh-cut-type', result.type)
        if (result.jobId != null) reply.header('x-segmesh-cut-job', String(result.jobId))
        if (result.kind === 'file') return await sendFile(result, request, reply, 'video/mp4', bodies)
        reply.type('video/mp2t')
        if (result.kind === 'chunks') return await sendChunks(reply, result.chunks, { budget, signal: request.signal })
        return reply.send(budget == null ? result.stream : budget.pace(result.stream, request.signal))
      }
    app.route({ method: 'GET', url: '/cut/:channel/:quality.ts', handler: cut('ts'), config: CUT_CONFIG, exposeHeadRoute: false })
    app.route({ method: 'GET', url: '/cut/:channel/:quality.mp4', handler: cut('mp4'), config: CUT_CONFIG, exposeHeadRoute: false })

    const frame =
      (format: 'png' | 'jpg') =>
      async (request: FastifyRequest<{ Params: Params; Querystring: { timestamp?: string } }>, reply: FastifyReply): Promise<unknown> => {
        const channel = channelParam(request.params.channel)
        const quality = qualityParam(request.params.quality)
        const at = timeParam('timestamp', request.query.timestamp)
        if (at == null) throw badParameter('timestamp', 'required')
        const net = networkFor(components, request)
        known(channel, quality, net)
        // The neighbours on both sides: the frame for an instant just before a segment's end is in the next one.
        const around = { start: at - MICROS_PER_SECOND, end: at + MICROS_PER_SECOND }
        const selection = await select(net, channel, quality, around)
        const run = runsOf(selection, around).find((r) => r.segments.some((s) => s.start <= at && at < s.start + s.duration))
        if (run == null) throw noContent(`no segment of ${channel}/${quality} holds ${formatInstant(at)}`)
        await gather([run], request, reply)?.all()
        let image: Buffer
        try {
          image = await cutter.frame({ channel, quality, at, around: run, format }, { signal: request.signal })
        } catch (err) {
          throw toHttpError(err, request)
        }
        return reply.type(format === 'png' ? 'image/png' : 'image/jpeg').send(image)
      }
    app.route({ method: 'GET', url: '/frame/:channel/:quality.png', handler: frame('png'), exposeHeadRoute: false })
    app.route({ method: 'GET', url: '/frame/:channel/:quality.jpg', handler: frame('jpg'), exposeHeadRoute: false })
  }
}
