/**
 * `GET /openapi.json`: an OpenAPI 3.1 description of every route of the node. Written by hand,
 * next to the routes; test/openapi.test.ts fails when a registered route is missing here or a
 * documented one is not registered, so the two cannot drift.
 */
import type { FastifyInstance } from 'fastify'
import { VERSION } from './status-routes.ts'

type Json = Record<string, unknown>

const NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$'
const TIME = {
  type: 'string',
  description:
    'ISO 8601 UTC, e.g. 2019-11-13T02:45:51.608Z (Z, +00:00 or no suffix; a raw + that the URL turned into a space ' +
    'is read as + for the zero offset only; up to 9 fractional digits, kept to the µs)',
  examples: ['2019-11-13T02:45:51.608Z']
}

const path = (name: string, description: string, schema: Json = { type: 'string' }): Json => ({
  name,
  in: 'path',
  required: true,
  description,
  schema
})
const query = (name: string, description: string, schema: Json = { type: 'string' }, required = false): Json => ({
  name,
  in: 'query',
  required,
  description,
  schema
})
const channel = path('channel', 'Channel name: letters, digits, _ - . (not starting with . or -), at most 64', {
  type: 'string',
  pattern: NAME_PATTERN
})
const quality = path('quality', 'Quality name, same grammar as channel', { type: 'string', pattern: NAME_PATTERN })
const hour = path('hour', 'Hour folder name, YYYY-MM-DDTHH (UTC)', { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}$' })
const start = query('start', 'Start of the range (inclusive)', TIME)
const end = query('end', 'End of the range (exclusive)', TIME)

const json = (description: string, schema: Json): Json => ({ description, content: { 'application/json': { schema } } })
const body = (description: string, type: string): Json => ({
  description,
  content: { [type]: { schema: { type: 'string', format: 'binary' } } }
})
const names = { type: 'array', items: { type: 'string' } }
/** A 4xx/5xx answer; `codes` are the values of `error` the route can give with that status. */
const error = (description: string, ...codes: string[]): Json => ({
  description: `${description} (error: ${codes.join(', ')})`,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } }
})

const REASON = { type: 'string', description: 'Why (logged; at most 500 characters)' }
const PROOF = {
  type: 'string',
  description:
    'An admin signature of this tombstone (v1.PAYLOAD.SIGNATURE, as `segmesh tombstone --admin-key` makes); ' +
    'needed where the network only accepts signed tombstones, unless the node signs itself'
}
const BAD = error('A parameter is malformed or given more than once; the message names it', 'bad_parameter')
/** channel, quality and from of the range repair routes. */
const RANGE_QUERY = [
  query('channel', 'Channel name', { type: 'string', pattern: NAME_PATTERN }),
  query('quality', 'Quality name', { type: 'string', pattern: NAME_PATTERN }),
  query('from', 'µs since the epoch', { type: 'string', pattern: '^\\d{1,16}$' })
]
const OVER_QUOTA = error("Over this client's replication request quota; Retry-After says when to retry", 'rate_limited')
const UNKNOWN = error('Unknown channel or quality', 'not_found')
const ADMIN_ERRORS = {
  401: error('No or malformed Authorization: Bearer header (WWW-Authenticate is set)', 'unauthorized'),
  403: error('Wrong admin token', 'forbidden'),
  404: error('No admin token configured on this node', 'admin_disabled')
}

const operation = (tags: string[], summary: string, parameters: Json[], responses: Json, extra: Json = {}): Json => ({
  tags,
  summary,
  parameters,
  responses,
  ...extra
})

const PATHS: Record<string, Record<string, Json>> = {
  '/files': {
    get: operation(['listings'], 'Channels (wubloader shape, sorted)', [], { 200: json('Channel names', names) })
  },
  '/files/{channel}': {
    get: operation(['listings'], 'Qualities of a channel ([] when unknown)', [channel], { 200: json('Quality names', names), 400: BAD })
  },
  '/files/{channel}/{quality}': {
    get: operation(['listings'], 'Hour folders of a channel/quality, oldest first', [channel, quality], {
      200: json('Hour names', names),
      400: BAD,
      503: error('Too many listing requests to peers at once (read-through); Retry-After says when to retry', 'busy')
    })
  },
  '/files/{channel}/{quality}/{hour}': {
    get: operation(
      ['listings'],
      'Segment file names of one hour in start order; tombstoned segments are never listed',
      [channel, quality, hour, query('tombstones', 'Also list the .tombstone names', { type: 'boolean', default: false })],
      {
        200: json('Segment (and tombstone) file names', names),
        400: BAD,
        503: error('Too many listing requests to peers at once (read-through); Retry-After says when to retry', 'busy')
      }
    )
  },
  '/segments/{channel}/{quality}/{hour}/{file}': Object.fromEntries(
    ['get', 'head'].map((method) => [
      method,
      operation(
        ['segments'],
        'Segment bytes: immutable, strong ETag (the hash), one byte range',
        [
          channel,
          quality,
          hour,
          path('file', 'Segment file name, MM:SS.ffffff-DURATION-TYPE-HASH.ts (at most 200 characters)'),
          { name: 'Range', in: 'header', required: false, description: 'One bytes= range', schema: { type: 'string' } },
          { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
          { name: 'If-Range', in: 'header', required: false, schema: { type: 'string' } }
        ],
        {
          200: body('The whole segment, with Content-Length, ETag, Cache-Control: public, max-age=31536000, immutable', 'video/mp2t'),
          206: body('The requested range, with Content-Range', 'video/mp2t'),
          304: { description: 'Not modified (If-None-Match)' },
          400: BAD,
          404: error('Unknown name, a temp name, tombstoned, or gone from disk', 'not_found'),
          414: error('Name longer than 200 characters', 'bad_request'),
          416: error('Range outside the file (Content-Range: bytes */size)', 'range_not_satisfiable')
        }
      )
    ])
  ),
  '/playlist/{channel}.m3u8': {
    get: operation(
      ['playlists'],
      'Master playlist: one variant per quality with data in the range; start/end passed on',
      [channel, start, end],
      {
        200: body('HLS master playlist', 'application/vnd.apple.mpegurl'),
        400: BAD,
        404: error('Unknown channel, or no quality has segments in the range', 'not_found', 'no_segments')
      }
    )
  },
  '/playlist/{channel}/{quality}.m3u8': {
    get: operation(
      ['playlists'],
      'Media playlist from best-segment selection: PROGRAM-DATE-TIME on every segment, DISCONTINUITY at holes, ' +
        'ENDLIST only for a complete range in the past',
      [
        channel,
        quality,
        { ...start, description: 'Start of the range; left out: the first hour of data' },
        { ...end, description: 'End of the range; left out: one hour past the last hour (live)' }
      ],
      {
        200: body('HLS media playlist (streamed when long)', 'application/vnd.apple.mpegurl'),
        400: error('Bad parameter, end before start, or an open range over 12 h', 'bad_parameter', 'range_too_long'),
        404: error('Unknown channel/quality, or no segments in the range', 'not_found', 'no_segments'),
        503: error('Too many listing requests to peers at once (read-through); Retry-After says when to retry', 'busy')
      }
    )
  },
  ...Object.fromEntries(
    ['ts', 'mp4'].map((ext) => [
      `/cut/{channel}/{quality}.${ext}`,
      {
        get: operation(
          ['cuts'],
          ext === 'ts'
            ? 'A cut of one or more time ranges as MPEG-TS (streamed)'
            : 'A full (re-encoded) cut as MP4, spooled, with Content-Length and byte ranges',
          [
            channel,
            quality,
            query('start', 'Start (with end; or use range)', TIME),
            query('end', 'End (with start; or use range)', TIME),
            query('range', 'START,END; repeatable (at most 64), each a hard cut', { type: 'array', items: { type: 'string' } }),
            query('type', ext === 'ts' ? 'rough (bytes concatenated), fast (edges re-encoded) or full (re-encode)' : 'must be full', {
              type: 'string',
              enum: ext === 'ts' ? ['rough', 'fast', 'full'] : ['full'],
              default: ext === 'ts' ? 'fast' : undefined
            }),
            query('allow_holes', 'Cut what there is when the range has holes', { type: 'boolean', default: false }),
            query('fallback', 'full: re-encode when the streams of the range differ', { type: 'string', enum: ['full'] }),
            query('transition', 'Accepted empty only (hard cuts)', { type: 'string' })
          ],
          {
            200: body('The cut; X-Segmesh-Cut-Type says which cut was made', ext === 'ts' ? 'video/mp2t' : 'video/mp4'),
            ...(ext === 'mp4'
              ? { 206: body('A byte range of the spooled MP4', 'video/mp4'), 416: error('Range outside the file', 'range_not_satisfiable') }
              : {}),
            400: BAD,
            404: error('Unknown channel/quality, or no segments in the range', 'not_found', 'no_segments'),
            406: error('The range has holes and allow_holes is not set', 'contains_holes'),
            409: error('Codec or resolution changes inside the range (use fallback=full)', 'stream_mismatch'),
            500: error('ffmpeg failed; the node log has its stderr', 'cut_failed'),
            502: error('A segment of the range that a peer listed could not be read through from any peer', 'read_through_failed'),
            503: error('Too many ffmpeg jobs or read-through fetches; Retry-After says when to retry', 'busy')
          }
        )
      }
    ])
  ),
  ...Object.fromEntries(
    ['png', 'jpg'].map((ext) => [
      `/frame/{channel}/{quality}.${ext}`,
      {
        get: operation(
          ['cuts'],
          `One frame at an instant, as ${ext.toUpperCase()}`,
          [channel, quality, query('timestamp', 'The instant', TIME, true)],
          {
            200: body('The image', ext === 'png' ? 'image/png' : 'image/jpeg'),
            400: BAD,
            404: error('Unknown channel/quality, no segment at the instant, or no frame decoded', 'not_found', 'no_segments', 'no_frame'),
            500: error('ffmpeg failed; the node log has its stderr', 'cut_failed'),
            502: error('A segment at the instant that a peer listed could not be read through from any peer', 'read_through_failed'),
            503: error('Too many ffmpeg jobs or read-through fetches; Retry-After says when to retry', 'busy')
          }
        )
      }
    ])
  ),
  '/copies/{channel}/{quality}': {
    get: operation(
      ['status'],
      'How many nodes hold each hour of a range (this node and its connected peers, compared by hour digest)',
      [
        channel,
        quality,
        { ...start, description: 'Start of the range; left out: 24 h before end' },
        { ...end, description: 'End of the range; left out: now' }
      ],
      {
        200: json('Per hour: segments here, copies (nodes holding exactly this set), holders, agreeing; minCopies and belowMinCopies', {
          type: 'object',
          properties: {
            minCopies: { type: 'integer' },
            belowMinCopies: { type: 'integer' },
            peers: { type: 'object' },
            hours: { type: 'array' }
          }
        }),
        400: error('Bad parameter, end before start, or a range over 31 days', 'bad_parameter', 'range_too_long'),
        404: UNKNOWN,
        503: error('Too many requests to peers at once; Retry-After says when to retry', 'busy')
      }
    )
  },
  '/coverage/{channel}/{quality}': {
    get: operation(
      ['status'],
      'Coverage map of the last hours: full, partial, tombstoned and hole spans per hour',
      [channel, quality, query('hours', 'How many hours, newest last', { type: 'integer', minimum: 1, default: 24 })],
      {
        200: json('Spans as [from, to) µs offsets into each hour', {
          type: 'object',
          properties: { channel: { type: 'string' }, quality: { type: 'string' }, now: { type: 'string' }, hours: { type: 'array' } }
        }),
        400: BAD,
        404: UNKNOWN
      }
    )
  },
  '/replication/digests': {
    get: operation(
      ['replication'],
      'Per-hour digests of every channel/quality (or of the one given) of the hours from `from` on, before `to` if given ' +
        '(peers compare them); a strong ETag, 304 to an If-None-Match that is current',
      [
        query('from', 'µs since the epoch', { type: 'string', pattern: '^\\d{1,16}$', default: '0' }),
        query('to', 'µs since the epoch: only hours that start before it', { type: 'string', pattern: '^\\d{1,16}$' }),
        query('channel', 'Only this channel (with quality)', { type: 'string' }),
        query('quality', 'Only this quality (with channel)', { type: 'string' }),
        { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } }
      ],
      {
        200: json('Digests', { type: 'object', properties: { qualities: { type: 'array' } } }),
        304: { description: 'Not modified (If-None-Match)' },
        400: BAD,
        429: OVER_QUOTA
      }
    )
  },
  '/replication/ranges': {
    get: operation(
      ['replication'],
      'A range of a channel/quality split as both ends split it (whole hours into at most 32 runs of hours, an hour or less into 16), ' +
        'with the fingerprint and name count of each part; peers narrow a repair down to what differs',
      [
        ...RANGE_QUERY,
        query('to', "µs since the epoch: whole hours after from, or within from's hour", { type: 'string', pattern: '^\\d{1,16}$' })
      ],
      {
        200: json("[fingerprint, count] per part, in order; the fingerprint is '' for an empty part", {
          type: 'object',
          properties: { parts: { type: 'array', items: { type: 'array' } } }
        }),
        400: BAD,
        429: OVER_QUOTA
      }
    )
  },
  '/replication/names': {
    get: operation(
      ['replication'],
      'Visible segments and tombstones (with proofs) of a channel/quality whose start is in [from, to), as HOUR/FILE, at most 4,096',
      [...RANGE_QUERY, query('to', 'µs since the epoch, after from', { type: 'string', pattern: '^\\d{1,16}$' })],
      {
        200: json('Names', {
          type: 'object',
          properties: { segments: { type: 'array', items: { type: 'string' } }, tombstones: { type: 'array' } }
        }),
        400: BAD,
        429: OVER_QUOTA
      }
    )
  },
  '/replication/keep': {
    post: operation(
      ['replication'],
      'Another node, about to evict its copy of an hour under its disk budget, asks this one to keep its own for 2 minutes; ' +
        "the answer carries this node's digest of the hour",
      [
        query('channel', 'Channel', { type: 'string' }),
        query('quality', 'Quality', { type: 'string' }),
        query('hour', 'Start of the hour, µs since the epoch', { type: 'string', pattern: '^\\d{1,16}$' })
      ],
      {
        200: json('Promised (with the digest), or not and why', {
          type: 'object',
          properties: { promised: { type: 'boolean' }, digest: { type: 'string' }, why: { type: 'string' } }
        }),
        400: BAD,
        403: error('The asker is not a peer this node knows', 'not_a_peer'),
        429: OVER_QUOTA
      }
    )
  },
  '/replication/tombstones/{channel}/{quality}/{hour}': {
    get: operation(
      ['replication'],
      "Admin signatures of the hour's tombstones (unsigned ones left out); peers fetch them when repairing",
      [channel, quality, hour],
      {
        200: json('Proofs by segment file name', {
          type: 'object',
          properties: { proofs: { type: 'object', additionalProperties: { type: 'string' } } }
        }),
        400: BAD,
        429: OVER_QUOTA
      }
    )
  },
  '/admin/tombstone': {
    post: operation(
      ['admin'],
      'Tombstone one segment, or every visible segment of a channel/quality overlapping [start, end) (at most 24 h)',
      [],
      {
        200: json('Nothing new was tombstoned', { $ref: '#/components/schemas/TombstoneResult' }),
        201: json('Tombstones written', { $ref: '#/components/schemas/TombstoneResult' }),
        400: error(
          'Malformed body, bad name, time or proof, a range over 24 h, or no proof where the network needs signed tombstones',
          'bad_body',
          'bad_parameter',
          'signature_required'
        ),
        ...ADMIN_ERRORS,
        413: error('Body over 4 KiB', 'bad_request')
      },
      {
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  {
                    type: 'object',
                    required: ['segment'],
                    additionalProperties: false,
                    properties: { segment: { type: 'string', description: 'CHANNEL/QUALITY/HOUR/NAME.ts' }, reason: REASON, proof: PROOF }
                  },
                  {
                    type: 'object',
                    required: ['channel', 'quality', 'start', 'end'],
                    additionalProperties: false,
                    properties: {
                      channel: { type: 'string' },
                      quality: { type: 'string' },
                      start: TIME,
                      end: TIME,
                      reason: REASON,
                      proof: PROOF
                    }
                  }
                ]
              }
            }
          }
        }
      }
    )
  },
  '/admin/tombstones': {
    get: operation(
      ['admin'],
      'Every tombstone with its segment, start and creation time',
      [query('channel', 'Only this channel'), query('quality', 'Only this quality')],
      {
        200: json('Tombstones', {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              path: { type: 'string' },
              channel: { type: 'string' },
              quality: { type: 'string' },
              hour: { type: 'string' },
              segment: { type: 'string' },
              start: { type: 'string' },
              createdAt: { type: 'string' }
            }
          }
        }),
        400: BAD,
        ...ADMIN_ERRORS
      },
      { security: [{ bearer: [] }] }
    )
  },
  '/admin/purge': {
    post: operation(
      ['admin'],
      'Delete the bytes of tombstoned segments on this node (tombstones stay); no body means all',
      [],
      {
        200: json('What was deleted', { type: 'object', properties: { purged: names, bytes: { type: 'integer' } } }),
        400: error('Malformed body or bad name', 'bad_body', 'bad_parameter'),
        ...ADMIN_ERRORS
      },
      {
        security: [{ bearer: [] }],
        requestBody: {
          required: false,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                properties: { channel: { type: 'string' }, quality: { type: 'string' } }
              }
            }
          }
        }
      }
    )
  },
  '/metrics': {
    get: operation(['status'], 'Prometheus metrics (docs/METRICS.md); absent with --no-metrics', [], {
      200: body('Prometheus text format', 'text/plain')
    })
  },
  '/healthz': {
    get: operation(
      ['status'],
      'Whether the node can serve what it holds: the index answers and a probe selection runs (docs/HTTP.md)',
      [],
      {
        200: json('It can', { type: 'object', properties: { ok: { const: true } } }),
        503: error('It cannot: the index or the selector fails', 'unhealthy')
      }
    )
  },
  '/status': {
    get: operation(
      ['status'],
      'The node: version, uptime, disk, index totals, channels with oldest/newest instant, peers, cut jobs, recording. ' +
        'dataDir and segmentsDir are null but for loopback clients (not relayed by a proxy)',
      [],
      { 200: json('Node status', { type: 'object' }) }
    )
  },
  '/': {
    get: operation(['ui'], 'Status page with the coverage map (HTML)', [], { 200: body('HTML page', 'text/html') })
  },
  '/player': {
    get: operation(['ui'], 'Web player (hls.js) with in/out markers that make a cut link', [], { 200: body('HTML page', 'text/html') })
  },
  '/ui/{file}': {
    get: operation(['ui'], 'Scripts and styles of the pages (and hls.js)', [path('file', 'A file the pages load')], {
      200: body('The file', 'text/javascript'),
      304: { description: 'Not modified' },
      404: error('No such UI file', 'not_found')
    })
  },
  '/openapi.json': {
    get: operation(['status'], 'This document', [], { 200: json('OpenAPI 3.1', { type: 'object' }) })
  }
}

export const OPENAPI: Json = {
  openapi: '3.1.0',
  info: {
    title: 'segmesh node',
    version: VERSION,
    description:
      'Every node serves the same API from its own index. Errors are JSON {error, message}: error is a stable code, ' +
      'message names what was wrong. Every answer carries Access-Control-Allow-Origin: *. See docs/HTTP.md.'
  },
  paths: PATHS,
  components: {
    schemas: {
      Error: { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } },
      TombstoneResult: { type: 'object', properties: { tombstoned: names, alreadyTombstoned: names } }
    },
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: "The node's admin token (--admin-token or SEGMESH_ADMIN_TOKEN)" }
    }
  }
}

export function openApiRoutes() {
  const text = JSON.stringify(OPENAPI)
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/openapi.json', async (_request, reply) => reply.type('application/json').header('cache-control', 'no-cache').send(text))
  }
}
