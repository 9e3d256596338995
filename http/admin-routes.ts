/**
 * Admin routes, behind a bearer token: `POST /admin/tombstone` (one segment, or every visible
 * segment of a channel/quality overlapping a time range), `GET /admin/tombstones` and
 * `POST /admin/purge` (delete the bytes of tombstoned segments on this node only).
 * With no token configured every admin route answers 404.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { lstat, unlink } from 'node:fs/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { IndexChange, IndexedTombstone } from '../storage/segment-index.ts'
import { type SegmentRef, parseSegmentFileName, parseSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { fsyncDir } from '../storage/durable-file.ts'
import { MICROS_PER_HOUR, formatInstant, hourStart } from '../storage/time.ts'
import { checkProof, requestProof } from './admin-signing.ts'
import { segmentTarget } from '../replication/tombstone-signature.ts'
import type { HttpComponents, HttpInit } from './components.ts'
import { HttpError, badParameter } from './errors.ts'
import { channelParam, qualityParam, timeParam } from './params.ts'

/** Longest range one tombstone request may cover: a typo in a date must not hide days of video. */
const MAX_TOMBSTONE_RANGE = 24 * MICROS_PER_HOUR
/** Admin bodies are a few short strings. */
const BODY_LIMIT = 4096

const REALM = 'Bearer realm="segmesh admin"'
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i

export interface TombstoneResult {
  /** Segment paths (CHANNEL/QUALITY/HOUR/NAME.ts) that got a new tombstone. */
  tombstoned: string[]
  /** Segment paths that were tombstoned already. */
  alreadyTombstoned: string[]
}

export interface TombstoneEntry {
  path: string
  channel: string
  quality: string
  hour: string
  segment: string
  start: string
  createdAt: string
}

export interface PurgeResult {
  purged: string[]
  bytes: number
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

export function adminRoutes({ index, store }: HttpComponents, init: HttpInit) {
  const expected = init.adminToken == null || init.adminToken === '' ? null : digest(init.adminToken)

  // onRequest runs before the body is read: nobody without the token gets us to parse anything.
  const authorize = async (request: FastifyRequest): Promise<void> => {
    if (expected == null) {
      throw new HttpError(
        404,
        'admin_disabled',
        'admin API is disabled on this node: no admin token is configured (--admin-token or SEGMESH_ADMIN_TOKEN)'
      )
    }
    const header = request.headers.authorization
    if (header == null || header === '') {
      throw new HttpError(401, 'unauthorized', 'admin routes need an Authorization: Bearer <token> header', { 'www-authenticate': REALM })
    }
    const m = BEARER.exec(header)
    if (m == null) {
      throw new HttpError(401, 'unauthorized', 'Authorization header must be "Bearer <token>"', {
        'www-authenticate': `${REALM}, error="invalid_request"`
      })
    }
    // Equal-length digests: the comparison time says nothing about the token or its length.
    if (!timingSafeEqual(digest(m[1]!), expected)) {
      request.log.warn({ ip: request.ip, route: request.routeOptions.url }, 'admin request with a wrong token')
      throw new HttpError(403, 'forbidden', 'wrong admin token')
    }
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('onRequest', authorize)

    app.post('/admin/tombstone', { bodyLimit: BODY_LIMIT }, async (request, reply) => {
      const body = objectBody(request.body, ['segment', 'channel', 'quality', 'start', 'end', 'reason', 'proof'])
      // Free text for the log (who asked, why): the audit trail of a deletion.
      const reason = 'reason' in body ? stringField(body, 'reason').slice(0, 500) : undefined
      const result: TombstoneResult = { tombstoned: [], alreadyTombstoned: [] }
      if ('segment' in body) {
        const extra = Object.keys(body).filter((k) => k !== 'segment' && k !== 'reason' && k !== 'proof')
        if (extra.length > 0)
          throw badBody(`give either "segment" or "channel", "quality", "start" and "end", not both (also got ${extra.join(', ')})`)
        const ref = segmentField(body.segment)
        // The segment need not be here: a tombstone for a name we never had still hides it
        // everywhere it spreads to, and stops it being fetched.
        const proof = requestProof(
          init,
          { channel: ref.channel, quality: ref.quality, target: segmentTarget(ref), reason, proof: body.proof },
          Date.now() * 1000
        )
        checkProof(init, proof, [ref])
        const { created } = await store.writeTombstone(ref, { proof })
        if (created) result.tombstoned.push(segmentRelPath(ref))
        else result.alreadyTombstoned.push(segmentRelPath(ref))
      } else {
        const missing = ['channel', 'quality', 'start', 'end'].filter((k) => !(k in body))
        if (missing.length > 0)
          throw badBody(`missing ${missing.join(', ')}: give either "segment" or "channel", "quality", "start" and "end"`)
        const channel = channelParam(stringField(body, 'channel'))
        const quality = qualityParam(stringField(body, 'quality'))
        const start = timeParam('start', stringField(body, 'start'))!
        const end = timeParam('end', stringField(body, 'end'))!
        if (end <= start) throw badParameter('end', 'must be after start')
        if (end - start > MAX_TOMBSTONE_RANGE) {
          throw badParameter(
            'end',
            `range is ${((end - start) / MICROS_PER_HOUR).toFixed(2)} h; at most ${MAX_TOMBSTONE_RANGE / MICROS_PER_HOUR} h per request`
          )
        }
        const already = new Set(
          tombstonesOverlapping(index.tombstones(channel, quality, hourStart(start) - MICROS_PER_HOUR, end), start).map(segmentRelPath)
        )
        const proof = requestProof(
          init,
          { channel, quality, target: { from: start, to: end }, reason, proof: body.proof },
          Date.now() * 1000
        )
        const refs = index.segmentsOverlapping(channel, quality, start, end).map((segment) => {
          const parsed = parseSegmentRef(segment.channel, segment.quality, segment.hour, segment.file)
          if (!parsed.ok) throw new Error(`index holds a bad name ${segmentRelPath(segment)}: ${parsed.reason}`)
          return parsed.value
        })
        checkProof(init, proof, refs)
        // One at a time, in order: each write is durable before the next, and a failure part way
        // leaves tombstones a retry will simply find again (writeTombstone is idempotent).
        for (const ref of refs) {
          const { created } = await store.writeTombstone(ref, { proof })
          if (created) result.tombstoned.push(segmentRelPath(ref))
          else already.add(segmentRelPath(ref))
        }
        result.alreadyTombstoned = [...already].sort()
      }
      request.log.info(
        { ip: request.ip, reason, tombstoned: result.tombstoned, already: result.alreadyTombstoned.length },
        'admin tombstone'
      )
      return reply.code(result.tombstoned.length > 0 ? 201 : 200).send(result)
    })

    app.get<{ Querystring: { channel?: string; quality?: string } }>('/admin/tombstones', async (request): Promise<TombstoneEntry[]> => {
      const channel = request.query.channel == null ? undefined : channelParam(request.query.channel)
      const quality = request.query.quality == null ? undefined : qualityParam(request.query.quality)
      return selectTombstones(channel, quality).map((t) => ({
        path: segmentRelPath({ ...t, file: t.segment }),
        channel: t.channel,
        quality: t.quality,
        hour: t.hour,
        segment: t.segment,
        start: formatInstant(t.start),
        createdAt: new Date(t.mtimeMs).toISOString()
      }))
    })

    app.post('/admin/purge', { bodyLimit: BODY_LIMIT }, async (request): Promise<PurgeResult> => {
      // No body at all means "everything"; a body must still be a valid one.
      const body = request.body == null ? {} : objectBody(request.body, ['channel', 'quality'])
      const channel = 'channel' in body ? channelParam(stringField(body, 'channel')) : undefined
      const quality = 'quality' in body ? qualityParam(stringField(body, 'quality')) : undefined

      const byDir = new Map<string, IndexedTombstone[]>()
      for (const t of selectTombstones(channel, quality)) {
        const dir = store.hourDir(t)
        const list = byDir.get(dir)
        if (list == null) byDir.set(dir, [t])
        else list.push(t)
      }
      const result: PurgeResult = { purged: [], bytes: 0 }
      for (const [dir, tombstones] of byDir) {
        // Disk first, then the index: a crash in between leaves index entries for files that are
        // gone, which reconcile removes; the reverse order could leave unindexed bytes behind.
        const changes: IndexChange[] = []
        let unlinked = 0
        for (const t of tombstones) {
          const path = store.pathOf({ ...t, file: t.segment })
          const st = await lstat(path).catch(ignoreMissing)
          if (st != null && !st.isFile()) {
            request.log.warn({ path }, 'purge: not a regular file; left alone')
            continue
          }
          if (st != null) {
            const gone = await unlink(path).then(
              () => true,
              (err: NodeJS.ErrnoException) => {
                if (err.code === 'ENOENT') return false
                throw err
              }
            )
            if (gone) {
              unlinked++
              result.purged.push(segmentRelPath({ ...t, file: t.segment }))
              result.bytes += st.size
            }
          }
          // Also when the file was already gone: removing what the index lacks changes nothing.
          changes.push({ op: 'remove-segment', channel: t.channel, quality: t.quality, start: t.start, file: t.segment })
        }
        if (unlinked > 0) await fsyncDir(dir)
        await index.apply(changes)
      }
      request.log.info({ ip: request.ip, purged: result.purged.length, bytes: result.bytes }, 'admin purge')
      return result
    })
  }

  function selectTombstones(channel: string | undefined, quality: string | undefined): IndexedTombstone[] {
    const all = index.tombstones(channel, channel == null ? undefined : quality)
    return quality == null ? all : all.filter((t) => t.quality === quality)
  }
}

/** Tombstones whose segment (its duration read from the name) overlaps [from, …). */
function tombstonesOverlapping(
  tombstones: IndexedTombstone[],
  from: number
): Array<{ channel: string; quality: string; hour: string; file: string }> {
  const out: Array<{ channel: string; quality: string; hour: string; file: string }> = []
  for (const t of tombstones) {
    const name = parseSegmentFileName(t.segment)
    if (name.ok && t.start + name.value.duration > from) out.push({ ...t, file: t.segment })
  }
  return out
}

function badBody(message: string): HttpError {
  return new HttpError(400, 'bad_body', message)
}

/** The body as a plain object with only `allowed` keys. */
function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body == null || typeof body !== 'object' || Array.isArray(body)) {
    throw badBody('body must be a JSON object sent as Content-Type: application/json')
  }
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k))
  if (unknown.length > 0)
    throw badBody(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map(quote).join(', ')} (allowed: ${allowed.join(', ')})`)
  return body as Record<string, unknown>
}

function stringField(body: Record<string, unknown>, key: string): string {
  const value = body[key]
  if (typeof value !== 'string')
    throw badParameter(key, `must be a string, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`)
  return value
}

/** `CHANNEL/QUALITY/HOUR/NAME.ts`, exactly four components, each valid in the grammar. */
function segmentField(value: unknown): SegmentRef {
  if (typeof value !== 'string') throw badParameter('segment', 'must be a string CHANNEL/QUALITY/HOUR/NAME.ts')
  const parts = value.split('/')
  if (parts.length !== 4) throw badParameter('segment', `${quote(value)} is not CHANNEL/QUALITY/HOUR/NAME.ts`)
  const [channel, quality, hour, file] = parts as [string, string, string, string]
  const parsed = parseSegmentRef(channel, quality, hour, file)
  if (!parsed.ok) throw badParameter('segment', `${quote(value)} is not a segment path: ${parsed.reason}`)
  if (parsed.value.type === 'temp') throw badParameter('segment', `${quote(value)} is a temp file, not a segment`)
  return parsed.value
}

/** For messages: JSON-quoted (control characters escaped) and cut short. */
function quote(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value)
}

function ignoreMissing(err: NodeJS.ErrnoException): null {
  if (err.code === 'ENOENT') return null
  throw err
}
