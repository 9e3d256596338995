/**
 * The baseline for bench/serving.ts: a minimal node:http static server, as in
 * The "node-http" baseline: fs.stat, then fs.createReadStream piped into the response.
 * One process, no headers beyond type and length. `GET /gc` answers the process's garbage
 * collections so far (`{"major":N,"minor":N}`), counted as prom-client counts segmesh's.
 *
 *   node --import tsx bench/serving-static.ts SEGMENTS_DIR [HIGH_WATER_MARK_BYTES]
 *
 * Prints `static listening on URL`; SIGTERM closes it.
 */
import { createReadStream, stat } from 'node:fs'
import { createServer } from 'node:http'
import { join, sep } from 'node:path'
import { PerformanceObserver, constants } from 'node:perf_hooks'
import { pipeline } from 'node:stream'

const root = process.argv[2]
if (root == null) throw new Error('usage: serving-static.ts SEGMENTS_DIR [HIGH_WATER_MARK]')
const hwm = process.argv[3] == null ? undefined : Number(process.argv[3])
// undefined, not null: Node 20 turns only undefined into the 64 KiB file-stream default.
const streamOptions = hwm == null ? undefined : { highWaterMark: hwm }
const PREFIX = '/segments/'

const gc = { major: 0, minor: 0 }
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major++
    else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.minor++
  }
}).observe({ entryTypes: ['gc'] })

const server = createServer((req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end()
    return
  }
  const path = (req.url ?? '/').split('?')[0]!
  if (path === '/gc') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(gc))
    return
  }
  if (!path.startsWith(PREFIX)) {
    res.writeHead(404).end()
    return
  }
  let rel: string
  try {
    rel = decodeURIComponent(path.slice(PREFIX.length))
  } catch {
    res.writeHead(400).end()
    return
  }
  const file = join(root, rel)
  if (!file.startsWith(root + sep)) {
    res.writeHead(403).end()
    return
  }
  stat(file, (err, st) => {
    if (err != null || !st.isFile()) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': st.size })
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    pipeline(createReadStream(file, streamOptions), res, () => {})
  })
})
server.keepAliveTimeout = 65_000
server.headersTimeout = 66_000
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  if (address == null || typeof address === 'string') throw new Error('no address')
  console.log(`static listening on http://127.0.0.1:${address.port}`)
})
process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
})
