/**
 * Backfill from a wubloader restreamer over HTTP only: its listings (unsorted, text/html, with
 * tombstones) and its static `/segments` files, as the original serves them.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { describe, it } from 'node:test'
import pino from 'pino'
import { sha256 } from '../storage/segment-hash.ts'
import { formatSegmentRef, segmentRelPath, tombstoneFileName } from '../storage/segment-name.ts'
import { hourStart } from '../storage/time.ts'
import { startNode, until } from './helpers/network.ts'
import { bytesFor } from './helpers/tree.ts'

describe('legacy wubloader peers', () => {
  it('are backfilled from over HTTP, tombstones first, junk names ignored; hours older than the window are said once', async (t) => {
    const start = hourStart(Date.now() * 1000) - 2 * 3600_000_000
    const files = new Map<string, Buffer>()
    const refs = [0, 1, 2].map((i) => {
      const bytes = bytesFor(`legacy-${i}`, 3000)
      const ref = formatSegmentRef({
        channel: 'desertbus',
        quality: 'source',
        start: start + i * 2_000_000,
        duration: 2_000_000,
        type: 'full',
        hash: sha256(bytes)
      })
      files.set(`/segments/${segmentRelPath(ref)}`, bytes)
      return ref
    })
    const hour = refs[0]!.hour
    // The original lists unsorted, as text/html, and lists temp and junk names too.
    const listing = [
      refs[2]!.file,
      refs[0]!.file,
      tombstoneFileName(refs[1]!.file),
      refs[1]!.file.replace(/-full-.*$/, '-temp-0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts'),
      '../../etc/passwd'
    ]
    const served: string[] = []
    const server = http.createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? '').split('?')[0]!)
      served.push(path)
      const json = (v: unknown): void => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end(JSON.stringify(v))
      }
      if (path === '/files') return json(['desertbus'])
      if (path === '/files/desertbus') return json(['source', 'chat'])
      // Two hours long before the window: skipped, and the operator told (once per peer).
      if (path === '/files/desertbus/source') return json([hour, '.hidden', '2001-01-01T00', '2001-01-01T01'])
      if (path === `/files/desertbus/source/${hour}`) return json(listing)
      if (path.startsWith('/files/')) return json([])
      const body = files.get(path)
      if (body == null) {
        res.writeHead(404)
        return res.end()
      }
      res.writeHead(200, { 'content-length': body.length })
      res.end(body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.after(() => server.close())
    const { port } = server.address() as { port: number }

    const logged: Array<{ msg: string; skippedHours?: number }> = []
    const node = await startNode(t, {
      extra: { 'legacy-peers': [`http://127.0.0.1:${port}`] },
      log: pino(
        { level: 'info' },
        {
          write: (line: string) => {
            logged.push(JSON.parse(line))
          }
        }
      )
    })
    await until(
      'both live segments backfilled and the tombstone applied',
      () => node.index.getSegment(refs[0]!) != null && node.index.getSegment(refs[2]!) != null && node.index.isTombstoned(refs[1]!)
    )
    assert.equal(node.index.getSegment(refs[1]!, { hidden: true }), null)
    assert.ok(!served.includes(`/segments/${segmentRelPath(refs[1]!)}`), 'the tombstoned segment was never requested')
    assert.ok(!served.some((p) => p.includes('passwd') || p.includes('-temp-')), 'junk and temp names were never requested')
    assert.ok(!served.some((p) => p.includes('2001-01-01')), 'hours older than the window were never listed')
    await until('the operator told', () => logged.some((l) => l.msg.includes('older than the window')))
    assert.equal(logged.find((l) => l.msg.includes('older than the window'))!.skippedHours, 2)
  })
})
