/**
 * `GET /openapi.json` describes exactly the routes the app registers: a route added without its
 * description, or a description left behind by a removed route, fails here.
 */
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { Cutter } from '../cutter/cutter.ts'
import { buildHttpApp } from '../http/app.ts'
import { OPENAPI } from '../http/openapi.ts'

/** fastify's `/files/:channel` → OpenAPI's `/files/{channel}`. */
const openApiPath = (url: string): string => url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')
import { SegmentSelector } from '../storage/best-segments.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { tempDirFor } from './helpers/tree.ts'

let app: FastifyInstance
let index: SegmentIndex
let cutter: Cutter
let base: string

/** Method and URL of every route, from fastify's own route tree (`printRoutes`, one node per line). */
function registeredRoutes(): Array<{ method: string; url: string }> {
  const out: Array<{ method: string; url: string }> = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(\S*)(?: \(([^)]*)\))?$/.exec(line)
    if (m == null) continue
    stack.length = m[1]!.length / 4
    const url = (stack.at(-1) ?? '') + m[2]!
    stack.push(url)
    for (const method of m[3]?.split(', ') ?? []) out.push({ method, url })
  }
  return out
}

const documented = (): Array<{ method: string; url: string }> =>
  Object.entries(OPENAPI.paths as Record<string, Record<string, unknown>>).flatMap(([url, ops]) =>
    Object.keys(ops).map((method) => ({ method: method.toUpperCase(), url }))
  )

before(async () => {
  const dir = await tempDirFor('segmesh-openapi-')
  index = SegmentIndex.open(`${dir}/index`)
  const store = new SegmentStore({ segmentsDir: `${dir}/segments`, index })
  cutter = new Cutter({ store, tempDir: dir })
  await cutter.start()
  // A cutter, metrics and an admin token: every optional route group is registered.
  app = await buildHttpApp({ index, store, selector: new SegmentSelector(index), cutter }, { adminToken: 'secret', dataDir: dir })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address == null || typeof address === 'string') throw new Error('no address')
  base = `http://127.0.0.1:${address.port}`
})

after(async () => {
  await app.close()
  await cutter.stop()
  await index.stop()
})

describe('GET /openapi.json', () => {
  it('is served as JSON, and is the document the node holds', async () => {
    const res = await request(`${base}/openapi.json`)
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /application\/json/)
    const doc = (await res.body.json()) as typeof OPENAPI
    assert.equal(doc.openapi, '3.1.0')
    assert.deepEqual(doc, JSON.parse(JSON.stringify(OPENAPI)))
  })

  it('documents every registered route, and nothing that is not registered', () => {
    const routes = registeredRoutes()
    assert.ok(routes.length >= 20, `parsed only ${routes.length} routes from printRoutes`)
    const key = (r: { method: string; url: string }): string => `${r.method} ${r.url}`
    const docs = new Set(documented().map(key))
    const registered = new Set(routes.map((r) => key({ method: r.method, url: openApiPath(r.url) })))
    // fastify answers HEAD for every GET by itself; only a HEAD route of its own must be documented.
    const missing = [...registered].filter((k) => !docs.has(k) && !(k.startsWith('HEAD ') && registered.has(`GET ${k.slice(5)}`)))
    assert.deepEqual(missing, [], 'registered routes missing from http/openapi.ts')
    const stale = [...docs].filter((k) => !registered.has(k))
    assert.deepEqual(stale, [], 'documented routes that are not registered')
  })

  it('declares every path parameter of every route, with an error body for every 4xx and 5xx', () => {
    for (const [url, ops] of Object.entries(
      OPENAPI.paths as Record<
        string,
        Record<
          string,
          { parameters: Array<{ name: string; in: string }>; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }
        >
      >
    )) {
      const inPath = [...url.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
      for (const [method, op] of Object.entries(ops)) {
        assert.deepEqual(
          op.parameters
            .filter((p) => p.in === 'path')
            .map((p) => p.name)
            .sort(),
          inPath,
          `${method} ${url}`
        )
        assert.ok(
          Object.keys(op.responses).some((s) => s.startsWith('2')),
          `${method} ${url} has no success answer`
        )
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) >= 400)
            assert.deepEqual(
              response.content?.['application/json']?.schema,
              { $ref: '#/components/schemas/Error' },
              `${method} ${url} ${status}`
            )
        }
      }
    }
  })

  it('uses error codes that docs/API.md explains, as does every HttpError in http/', async () => {
    const table = new Set(
      [...(await readFile(new URL('../docs/API.md', import.meta.url), 'utf8')).matchAll(/^\| `([a-z_]+)` \| [0-9, ]+ \|/gm)].map(
        (m) => m[1]
      )
    )
    const inDocument = new Set([...JSON.stringify(OPENAPI).matchAll(/\(error: ([a-z_, ]+)\)/g)].flatMap((m) => m[1]!.split(', ')))
    const http = new URL('../http/', import.meta.url)
    const inCode = new Set<string>()
    for (const file of (await readdir(http)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      for (const m of (await readFile(new URL(file, http), 'utf8')).matchAll(/HttpError\(\d{3}, '([a-z_]+)'/g)) inCode.add(m[1]!)
    }
    assert.ok(inCode.size >= 10, `found only ${inCode.size} codes in http/`)
    assert.deepEqual(
      [...inDocument, ...inCode].filter((code) => !table.has(code)),
      [],
      'codes missing from the table in docs/API.md'
    )
  })
})
