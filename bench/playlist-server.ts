/**
 * The server half of bench/playlist.ts: segmesh's real HTTP app (buildHttpApp) on an existing
 * index, in its own process so the client does not share its event loop. One bench-only route is
 * added: `POST /bench/cold` swaps in a fresh SegmentSelector, so the next request starts with an
 * empty selection cache (a "cold" playlist) without rebuilding the app, and `GET /bench/cpu`
 * answers the process's CPU time so far. And one bench-only
 * variant of the media playlist route, `GET /v/fast/playlist/:channel/:quality.m3u8?start&end`,
 * the same as http/playlist-routes.ts but written by bench/playlist-render-naive.ts.
 *
 *   node --import tsx --import ./node/compat.ts bench/playlist-server.ts DATA_DIR
 *
 * Prints `playlist listening on URL`; SIGTERM closes it.
 */
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { buildHttpApp } from '../http/app.ts'
import { badParameter } from '../http/errors.ts'
import { channelParam, qualityParam, timeParam } from '../http/params.ts'
import { planMediaPlaylist } from '../http/playlist.ts'
import { type SelectOptions, type Selection, SegmentSelector } from '../storage/best-segments.ts'
import { type IndexedSegment, SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { naiveMediaPlaylistChunks } from './playlist-render-naive.ts'

/** Delegates to a selector that can be replaced, so the app keeps its reference. */
class SwappableSelector extends SegmentSelector {
  inner: SegmentSelector
  readonly #index: SegmentIndex

  constructor(index: SegmentIndex) {
    super(index)
    this.#index = index
    this.inner = new SegmentSelector(index)
  }

  reset(): void {
    this.inner = new SegmentSelector(this.#index)
  }

  override hourCandidates(channel: string, quality: string, hourStartUs: number): IndexedSegment[] {
    return this.inner.hourCandidates(channel, quality, hourStartUs)
  }

  override async select(channel: string, quality: string, start: number, end: number, options: SelectOptions = {}): Promise<Selection> {
    return await this.inner.select(channel, quality, start, end, options)
  }
}

const dir = process.argv[2]
if (dir == null) throw new Error('usage: playlist-server.ts DATA_DIR')
const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 1024 ** 3 })
const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
const selector = new SwappableSelector(index)
const app = await buildHttpApp({ index, store, selector })
app.post('/bench/cold', async () => {
  selector.reset()
  return { ok: true }
})
// CPU time of this process (all threads, GC included), so the client can tell work from waiting.
app.get('/bench/cpu', async () => {
  const { user, system } = process.cpuUsage()
  return { us: user + system }
})
app.get<{ Params: { channel: string; quality: string }; Querystring: { start?: string; end?: string } }>(
  '/v/fast/playlist/:channel/:quality.m3u8',
  async (request, reply) => {
    const channel = channelParam(request.params.channel)
    const quality = qualityParam(request.params.quality)
    const start = timeParam('start', request.query.start)
    const end = timeParam('end', request.query.end)
    if (start == null || end == null || end <= start) throw badParameter('end', 'this variant needs start < end')
    // From here on as http/playlist-routes.ts, with the naive writer (as first shipped).
    const selection = await selector.select(channel, quality, start, end, { allowHoles: true })
    const plan = planMediaPlaylist(selection, end, Date.now() * 1000)
    const chunks = naiveMediaPlaylistChunks(plan)
    const first = chunks.next()
    reply.type('application/vnd.apple.mpegurl').header('cache-control', plan.endlist ? 'public, max-age=60' : 'no-cache')
    if (first.done !== true && plan.segments <= 1000) return reply.send(first.value)
    return reply.send(
      Readable.from(
        (async function* () {
          if (first.done !== true) yield first.value
          for (const chunk of chunks) {
            await yieldToLoop()
            yield chunk
          }
        })()
      )
    )
  }
)
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
if (address == null || typeof address === 'string') throw new Error('no address')
console.log(`playlist listening on http://127.0.0.1:${address.port}`)
process.once('SIGTERM', () => {
  void app.close().then(async () => await index.stop())
})
