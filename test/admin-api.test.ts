/**
 * The admin API end to end: a real node on 127.0.0.1 with a real index, synthetic segments
 * written through the store, and the listing/segment routes checked after each admin action.
 */
import assert from 'node:assert/strict'
import { access, lstat, readdir } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { request } from 'undici'
import { resolveConfig } from '../config/load.ts'
import type { PurgeResult, TombstoneEntry, TombstoneResult } from '../http/admin-routes.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import { Reconciler } from '../storage/reconcile.ts'
import { type SegmentRef, segmentRelPath, tombstoneFileName } from '../storage/segment-name.ts'
import type { StoreEvent, WriteResult } from '../storage/segment-store.ts'
import { formatHour, formatInstant } from '../storage/time.ts'
import { bytesFor, ref, tempDirFor } from './helpers/tree.ts'

const TOKEN = 'test-admin-token-0123456789'
const HOUR10 = Date.UTC(2020, 0, 1, 10) * 1000
const HOUR11 = Date.UTC(2020, 0, 1, 11) * 1000
const SECOND = 1_000_000
const iso = (us: number): string => formatInstant(us)

let node: SegmeshNode
let disabled: SegmeshNode

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
  /** `error` and `message` of a JSON error body ('' otherwise). */
  error: string
  message: string
}

async function call(
  method: 'GET' | 'POST',
  path: string,
  options: { token?: string | null; authorization?: string; body?: unknown; raw?: string; contentType?: string; on?: SegmeshNode } = {}
): Promise<Reply> {
  const headers: Record<string, string> = {}
  const token = options.token === undefined ? TOKEN : options.token
  if (options.authorization != null) headers.authorization = options.authorization
  else if (token != null) headers.authorization = `Bearer ${token}`
  let body: string | undefined
  if (options.raw != null) {
    body = options.raw
    headers['content-type'] = options.contentType ?? 'application/json'
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers['content-type'] = 'application/json'
  }
  const res = await request(`${(options.on ?? node).url}${path}`, { method, headers, body })
  const text = await res.body.text()
  const json = String(res.headers['content-type']).startsWith('application/json')
  const parsed: unknown = json ? JSON.parse(text) : text
  const fields = (parsed != null && typeof parsed === 'object' ? parsed : {}) as { error?: unknown; message?: unknown }
  return {
    status: res.statusCode,
    headers: res.headers,
    body: parsed,
    error: String(fields.error ?? ''),
    message: String(fields.message ?? '')
  }
}

async function get(path: string): Promise<Reply> {
  return await call('GET', path, { token: null })
}

async function record(channel: string, quality: string, start: number, seed: string, size = 500): Promise<WriteResult> {
  return await node.store.recordSegment({ channel, quality, start, duration: 2 * SECOND, type: 'full' }, bytesFor(seed, size))
}

/** Segments back to back, 2 s each, from `start`. */
async function recordRun(channel: string, quality: string, start: number, count: number): Promise<WriteResult[]> {
  const out: WriteResult[] = []
  for (let i = 0; i < count; i++) out.push(await record(channel, quality, start + i * 2 * SECOND, `${channel}/${quality}/${i}`))
  return out
}

const pathOf = (r: { ref: SegmentRef } | SegmentRef): string => segmentRelPath('ref' in r ? r.ref : r)
const segmentUrl = (r: SegmentRef): string => `/segments/${r.channel}/${r.quality}/${r.hour}/${encodeURIComponent(r.file)}`
const listing = async (r: SegmentRef, tombstones = false): Promise<string[]> => {
  const res = await get(`/files/${r.channel}/${r.quality}/${r.hour}${tombstones ? '?tombstones=true' : ''}`)
  assert.equal(res.status, 200)
  return res.body as string[]
}

async function tombstones(query = ''): Promise<TombstoneEntry[]> {
  const res = await call('GET', `/admin/tombstones${query}`)
  assert.equal(res.status, 200, res.message)
  return res.body as TombstoneEntry[]
}

before(async () => {
  const dir = await tempDirFor('segmesh-admin-')
  const config = resolveConfig({
    flags: { data: dir, 'http-host': '127.0.0.1', 'http-port': '0', watch: false, replication: false },
    env: { SEGMESH_ADMIN_TOKEN: TOKEN }
  })
  assert.equal(config.adminToken, TOKEN)
  node = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
  await node.start()
  const dir2 = await tempDirFor('segmesh-admin-off-')
  disabled = new SegmeshNode({
    config: resolveConfig({ flags: { data: dir2, 'http-host': '127.0.0.1', 'http-port': '0', watch: false, replication: false } }),
    log: pino({ level: 'silent' })
  })
  await disabled.start()
})

after(async () => {
  await node?.stop(1000)
  await disabled?.stop(1000)
})

describe('auth', () => {
  it('needs a bearer header (401), the right token (403), and lets the right one in', async () => {
    const none = await call('GET', '/admin/tombstones', { token: null })
    assert.equal(none.status, 401)
    assert.match(String(none.headers['www-authenticate']), /^Bearer/)
    assert.equal(none.error, 'unauthorized')
    assert.match(none.message, /Bearer/)
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', `Bearer ${TOKEN} extra`, TOKEN]) {
      const res = await call('GET', '/admin/tombstones', { authorization })
      assert.equal(res.status, 401, authorization)
      assert.match(String(res.headers['www-authenticate']), /^Bearer/)
      assert.notEqual(res.message, '')
    }
    for (const token of ['wrong', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase()]) {
      const res = await call('GET', '/admin/tombstones', { token })
      assert.equal(res.status, 403, token)
      assert.equal(res.error, 'forbidden')
    }
    // Refused before the body is looked at: a wrong token with a bad body is still 403.
    assert.equal((await call('POST', '/admin/tombstone', { token: 'wrong', raw: '{nope' })).status, 403)
    assert.equal((await call('POST', '/admin/purge', { token: null })).status, 401)
    const ok = await call('GET', '/admin/tombstones', { authorization: `bearer  ${TOKEN}` })
    assert.equal(ok.status, 200)
    assert.ok(Array.isArray(ok.body))
  })

  it('answers 404 on every admin route when no token is configured', async () => {
    assert.equal(disabled.config.adminToken, null)
    const cases: Array<['GET' | 'POST', string, unknown]> = [
      ['GET', '/admin/tombstones', undefined],
      ['POST', '/admin/tombstone', { segment: pathOf(ref({ at: 0, dur: 2000 })) }],
      ['POST', '/admin/purge', {}]
    ]
    for (const [method, path, body] of cases) {
      for (const token of [null, TOKEN, 'anything']) {
        const res = await call(method, path, { on: disabled, token, body })
        assert.equal(res.status, 404, `${method} ${path}`)
        assert.equal(res.error, 'admin_disabled')
        assert.match(res.message, /disabled/)
      }
    }
  })

  it('rejects a token that could never be sent in a header', () => {
    assert.throws(() => resolveConfig({ env: { SEGMESH_ADMIN_TOKEN: 'two words' } }), /SEGMESH_ADMIN_TOKEN/)
  })
})

describe('POST /admin/tombstone', () => {
  it('hides one segment from listings and /segments, keeps it in ?tombstones=true, and announces it', async () => {
    const [a, b] = (await recordRun('one', 'source', HOUR10, 2)) as [WriteResult, WriteResult]
    assert.equal((await get(segmentUrl(a.ref))).status, 200)
    const events: StoreEvent[] = []
    const off = node.store.onChange((e) => events.push(e))
    const res = await call('POST', '/admin/tombstone', { body: { segment: pathOf(a) } })
    off()
    assert.equal(res.status, 201)
    assert.deepEqual(res.body, { tombstoned: [pathOf(a)], alreadyTombstoned: [] })
    assert.deepEqual(
      events.map((e) => [e.kind, segmentRelPath(e.ref)]),
      [['tombstone', pathOf(a)]]
    )

    const gone = await get(segmentUrl(a.ref))
    assert.equal(gone.status, 404)
    assert.match(gone.message, /tombstoned/)
    assert.equal((await get(segmentUrl(b.ref))).status, 200)
    assert.deepEqual(await listing(a.ref), [b.ref.file])
    assert.deepEqual(await listing(a.ref, true), [b.ref.file, tombstoneFileName(a.ref.file)])
    await access(node.store.pathOf({ ...a.ref, file: tombstoneFileName(a.ref.file) }))

    const again = await call('POST', '/admin/tombstone', { body: { segment: pathOf(a) } })
    assert.equal(again.status, 200)
    assert.deepEqual(again.body, { tombstoned: [], alreadyTombstoned: [pathOf(a)] })
  })

  it('writes a tombstone for a name this node never had', async () => {
    const ghost = ref({ channel: 'ghost', quality: 'source', base: HOUR10, at: 12_000, dur: 2000, seed: 'never here' })
    assert.equal(node.index.getSegment(ghost, { hidden: true }), null)
    const events: StoreEvent[] = []
    const off = node.store.onChange((e) => events.push(e))
    const res = await call('POST', '/admin/tombstone', { body: { segment: pathOf(ghost) } })
    off()
    assert.equal(res.status, 201)
    assert.deepEqual((res.body as TombstoneResult).tombstoned, [pathOf(ghost)])
    assert.equal(events.length, 1, 'the change event replication announces')
    assert.ok(node.index.isTombstoned(ghost))
    await access(node.store.pathOf({ ...ghost, file: tombstoneFileName(ghost.file) }))
    assert.deepEqual(await listing(ghost), [])
    assert.deepEqual(await listing(ghost, true), [tombstoneFileName(ghost.file)])
    // The bytes can no longer be stored here (a backfill would be refused).
    await assert.rejects(node.store.writeSegment(ghost, bytesFor('never here')), /tombstoned/)
  })

  it('tombstones exactly the visible segments of one channel/quality overlapping [start, end)', async () => {
    // 10 segments of 2 s from 10:59:50 to 11:00:10, across the hour boundary.
    const run = await recordRun('range', 'source', HOUR11 - 10 * SECOND, 10)
    const other = await recordRun('range', 'low', HOUR11 - 10 * SECOND, 10)
    const start = HOUR11 - 5 * SECOND
    const end = HOUR11 + 3 * SECOND
    // 10:59:54 (ends 56, overlaps 55) … 11:00:02 (starts before 03); 10:59:52 ends exactly at 54.
    const expected = run.filter((w) => w.ref.start < end && w.ref.start + w.ref.duration > start).map(pathOf)
    assert.deepEqual(
      expected.map((p) => p.split('/').slice(2).join('/').slice(0, 23)),
      [
        '2020-01-01T10/59:54.000',
        '2020-01-01T10/59:56.000',
        '2020-01-01T10/59:58.000',
        '2020-01-01T11/00:00.000',
        '2020-01-01T11/00:02.000'
      ]
    )
    const body = { channel: 'range', quality: 'source', start: iso(start), end: iso(end) }
    const res = await call('POST', '/admin/tombstone', { body })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    assert.deepEqual(res.body, { tombstoned: expected, alreadyTombstoned: [] })
    for (const w of run) {
      const hidden = expected.includes(pathOf(w))
      assert.equal((await get(segmentUrl(w.ref))).status, hidden ? 404 : 200, pathOf(w))
      assert.equal((await listing(w.ref)).includes(w.ref.file), !hidden)
    }
    for (const w of other) assert.equal((await get(segmentUrl(w.ref))).status, 200, 'other quality untouched')

    const again = await call('POST', '/admin/tombstone', { body })
    assert.equal(again.status, 200)
    assert.deepEqual(again.body, { tombstoned: [], alreadyTombstoned: expected })
  })

  it('answers 200 with nothing when the range holds no segment', async () => {
    const res = await call('POST', '/admin/tombstone', {
      body: { channel: 'range', quality: 'source', start: '2021-01-01T00:00:00Z', end: '2021-01-01T01:00:00Z' }
    })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { tombstoned: [], alreadyTombstoned: [] })
  })

  it('refuses bad bodies with 400 and a message that says what was wrong', async () => {
    const good = pathOf(ref({ channel: 'bad', quality: 'source', base: HOUR10, at: 0, dur: 2000 }))
    const [, , hour, file] = good.split('/') as [string, string, string, string]
    const range = { channel: 'bad', quality: 'source', start: iso(HOUR10), end: iso(HOUR10 + SECOND) }
    const cases: Array<[string, { body?: unknown; raw?: string; contentType?: string }, number, RegExp]> = [
      ['not JSON', { raw: '{nope' }, 400, /JSON/],
      ['empty JSON body', { raw: '' }, 400, /empty/i],
      ['text body', { raw: 'hello', contentType: 'text/plain' }, 400, /JSON object/],
      ['array', { body: [good] }, 400, /JSON object/],
      ['string', { body: good }, 400, /JSON object/],
      ['null', { raw: 'null' }, 400, /JSON object/],
      ['empty object', { body: {} }, 400, /missing channel, quality, start, end/],
      ['unknown key', { body: { segment: good, force: true } }, 400, /unknown key "force"/],
      ['unknown key in a range', { body: { ...range, hour } }, 400, /unknown key "hour"/],
      ['both forms', { body: { segment: good, channel: 'bad' } }, 400, /either/],
      ['segment not a string', { body: { segment: 42 } }, 400, /segment: must be a string/],
      ['.. as channel', { body: { segment: `../source/${hour}/${file}` } }, 400, /segment: .*bad channel/],
      ['.. as hour', { body: { segment: `bad/source/../${file}` } }, 400, /segment: .*bad hour/],
      [
        'traversal in the name',
        { body: { segment: `bad/source/${hour}/../../../etc/passwd` } },
        400,
        /segment: .*CHANNEL\/QUALITY\/HOUR\/NAME\.ts/
      ],
      ['too few components', { body: { segment: `${hour}/${file}` } }, 400, /segment: /],
      ['not a segment name', { body: { segment: `bad/source/${hour}/passwd` } }, 400, /segment: .*does not end in \.ts/],
      [
        'a temp name',
        { body: { segment: `bad/source/${hour}/00:00.000000-2.0-temp-0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts` } },
        400,
        /temp/
      ],
      ['channel not a string', { body: { ...range, channel: 7 } }, 400, /channel: must be a string, got number/],
      ['start null', { body: { ...range, start: null } }, 400, /start: must be a string, got null/],
      ['bad channel', { body: { ...range, channel: '../x' } }, 400, /channel: /],
      ['bad time', { body: { ...range, start: 'yesterday' } }, 400, /start: .*ISO 8601/],
      ['end before start', { body: { ...range, start: range.end, end: range.start } }, 400, /end: must be after start/],
      ['empty range', { body: { ...range, end: range.start } }, 400, /end: must be after start/],
      ['range too long', { body: { ...range, end: iso(HOUR10 + 25 * 3600 * SECOND) } }, 400, /end: range is 25\.00 h; at most 24 h/],
      ['body too large', { body: { segment: 'x'.repeat(5000) } }, 413, /./]
    ]
    for (const [name, input, status, message] of cases) {
      const res = await call('POST', '/admin/tombstone', input)
      assert.equal(res.status, status, `${name}: ${res.status} ${JSON.stringify(res.body)}`)
      assert.notEqual(res.error, '', name)
      assert.match(res.message, message, name)
    }
    assert.deepEqual(await tombstones('?channel=bad'), [], 'nothing was written')
  })
})

describe('GET /admin/tombstones', () => {
  it('lists tombstones with their segment, start and creation time, filtered by channel/quality', async () => {
    const list = await tombstones('?channel=one&quality=source')
    assert.equal(list.length, 1)
    const entry = list[0]!
    const [channel, quality, hour, segment] = entry.path.split('/') as [string, string, string, string]
    assert.deepEqual(
      { ...entry, createdAt: '' },
      { path: entry.path, channel, quality, hour, segment, start: `${hour}:00:00.000000Z`, createdAt: '' }
    )
    assert.equal(channel, 'one')
    const created = Date.parse(entry.createdAt)
    assert.ok(Math.abs(Date.now() - created) < 60_000, entry.createdAt)
    assert.match(entry.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)

    assert.equal((await tombstones('?channel=range')).length, 5)
    assert.equal((await tombstones('?channel=range&quality=low')).length, 0)
    const bySource = await tombstones('?quality=source')
    assert.deepEqual([...new Set(bySource.map((t) => t.channel))].sort(), ['ghost', 'one', 'range'])
    const all = await tombstones()
    assert.equal(all.length, 7)
    assert.deepEqual(
      all.map((t) => t.path),
      [...all.map((t) => t.path)].sort()
    )
    const bad = await call('GET', '/admin/tombstones?channel=..')
    assert.equal(bad.status, 400)
    assert.match(bad.message, /channel/)
  })
})

describe('POST /admin/purge', () => {
  it('deletes the bytes of tombstoned segments only, keeps tombstones, and leaves the index equal to the disk', async () => {
    const run = await recordRun('purge', 'source', HOUR10 + 3590 * SECOND, 6) // across 10→11
    const kept = await recordRun('purge', 'low', HOUR10 + 3590 * SECOND, 2)
    const doomed = [run[1]!, run[4]!, run[5]!, kept[0]!]
    for (const w of doomed) assert.equal((await call('POST', '/admin/tombstone', { body: { segment: pathOf(w) } })).status, 201)
    const ghost = ref({ channel: 'purge', quality: 'source', base: HOUR10, at: 1000, dur: 2000, seed: 'absent' })
    assert.equal((await call('POST', '/admin/tombstone', { body: { segment: pathOf(ghost) } })).status, 201)

    // Quality filter first: only purge/source.
    const res = await call('POST', '/admin/purge', { body: { channel: 'purge', quality: 'source' } })
    assert.equal(res.status, 200)
    const expected = [run[1]!, run[4]!, run[5]!]
    assert.deepEqual(res.body, { purged: expected.map(pathOf), bytes: expected.reduce((n, w) => n + w.size, 0) })

    for (const w of run) {
      const onDisk = await lstat(node.store.pathOf(w.ref)).then(
        () => true,
        () => false
      )
      assert.equal(onDisk, !expected.includes(w), pathOf(w))
    }
    for (const w of doomed) await access(node.store.pathOf({ ...w.ref, file: tombstoneFileName(w.ref.file) }))
    await access(node.store.pathOf(kept[0]!.ref)) // other quality not purged

    // A purged name is still neither served nor listed; its tombstone still is.
    for (const w of expected) {
      assert.equal((await get(segmentUrl(w.ref))).status, 404)
      assert.ok(!(await listing(w.ref)).includes(w.ref.file))
      assert.ok((await listing(w.ref, true)).includes(tombstoneFileName(w.ref.file)))
      assert.equal(node.index.getSegment(w.ref, { hidden: true }), null, 'gone from the index too')
    }
    for (const w of [run[0]!, run[2]!, run[3]!]) assert.equal((await get(segmentUrl(w.ref))).status, 200)

    // Index equals disk: names per hour folder match, and a reconcile pass finds nothing to fix.
    for (const hour of [HOUR10, HOUR11]) {
      const dir = node.store.hourDir({ channel: 'purge', quality: 'source', hour: formatHour(hour) })
      const disk = (await readdir(dir)).filter((n) => n.endsWith('.ts')).sort()
      const indexed = node.index
        .hourSegments('purge', 'source', hour, { hidden: true })
        .map((s) => s.file)
        .sort()
      assert.deepEqual(indexed, disk)
    }
    const summary = node.index.hourSummary('purge', 'source', HOUR10)!
    assert.equal(summary.hidden, 0)
    const report = await new Reconciler(node.store).reconcileAll()
    assert.equal(report.added, 0)
    assert.equal(report.removed, 0)
    assert.equal(report.corrupt, 0)

    const again = await call('POST', '/admin/purge', { body: { channel: 'purge' } })
    assert.deepEqual(again.body, { purged: [pathOf(kept[0]!)], bytes: kept[0]!.size })
    const nothing = await call('POST', '/admin/purge', { body: { channel: 'purge' } })
    assert.deepEqual(nothing.body, { purged: [], bytes: 0 })
    assert.equal((await tombstones('?channel=purge')).length, 5, 'tombstones stay')
  })

  it('purges everything with no body, and validates a body when there is one', async () => {
    for (const [input, message] of [
      [{ body: { channel: 'purge', everything: true } }, /unknown key "everything"/],
      [{ body: { channel: 3 } }, /channel: must be a string/],
      [{ body: { quality: '.x' } }, /quality: /],
      [{ body: [] }, /JSON object/],
      [{ raw: '{' }, /JSON/]
    ] as Array<[{ body?: unknown; raw?: string }, RegExp]>) {
      const res = await call('POST', '/admin/purge', input)
      assert.equal(res.status, 400, JSON.stringify(input))
      assert.match(res.message, message)
    }
    const res = await call('POST', '/admin/purge')
    assert.equal(res.status, 200)
    // What is left: the 'one' segment and the five in 'range'.
    const { purged } = res.body as PurgeResult
    assert.equal(purged.length, 6)
    assert.ok(purged.every((p) => p.startsWith('one/') || p.startsWith('range/source/')))
    const report = await new Reconciler(node.store).reconcileAll()
    assert.equal(report.added + report.removed, 0)
    assert.equal(report.hidden, 0)
  })
})
