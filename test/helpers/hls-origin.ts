/**
 * A live HLS origin for recorder tests: a sliding-window media playlist (and a master with two
 * variants) over real ffmpeg segments, served on 127.0.0.1:0. The window advances on demand.
 * It can inject what real origins do: slow or cut bodies, 404s (for good or a few times), 403s, ad breaks, missing dates, a
 * timestamp skew, an init section.
 */
import { readFile } from 'node:fs/promises'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseDuration } from '../../storage/segment-name.ts'
import { formatInstant } from '../../storage/time.ts'
import { segmentFiles } from './media.ts'

export interface HlsOriginInit {
  /** Segments the stream will ever have (real, distinct ffmpeg segments). @default 8 */
  count?: number
  /** Entries in the live window. @default 3 */
  window?: number
  /** Entries published at start. @default `window` */
  initial?: number
  /** Start of segment 0, µs. @default about a minute ago, with a non-zero µs part */
  start?: number
  /** EXTINF text of every entry. @default '2.000' */
  extinf?: string
  /** Which entries carry EXT-X-PROGRAM-DATE-TIME. @default 'all' */
  dates?: 'all' | 'first' | 'none'
  /** EXT-X-MAP with the PAT/PMT packets of segment 0 as the init section. */
  init?: boolean
  /** Entries [from, to) are an ad break, marked with CUE-OUT/CUE-IN or an ad-class DATERANGE. */
  ads?: { from: number; to: number; style: 'cue' | 'daterange' }
  /** Entry → ms the second half of its body is held back. */
  slow?: Record<number, number>
  /** Entry → how many of its requests are cut after half the body. */
  cut?: Record<number, number>
  /** Entries answered 404. */
  missing?: number[]
  /** Entry → how many of its requests are answered 404 before it is served (a lagging CDN edge). */
  notFound?: Record<number, number>
  /** Entries answered 403. */
  forbidden?: number[]
  /** From this entry on, dates jump by `us`. */
  skew?: { at: number; us: number }
  /** Every entry is a byte range (EXT-X-BYTERANGE) of one resource, `all.ts`: the segments back to back. */
  byterange?: boolean
}

export interface OriginSegment {
  bytes: Buffer
  start: number
  duration: number
}

type OriginOptions = Required<Omit<HlsOriginInit, 'ads' | 'skew'>> & Pick<HlsOriginInit, 'ads' | 'skew'>

/** TS packets of the init section: PAT and PMT lead every ffmpeg segment. */
const INIT_BYTES = 2 * 188

export class HlsOrigin {
  readonly segments: OriginSegment[]
  readonly init: Buffer | null
  /** Requests per path, for assertions about retries. */
  readonly requests = new Map<string, number>()
  #head: number
  #ended = false
  readonly #o: OriginOptions
  readonly #server: Server
  #base = ''

  private constructor(o: OriginOptions, segments: OriginSegment[], init: Buffer | null) {
    this.#o = o
    this.segments = segments
    this.init = init
    this.#head = o.initial
    this.#server = createServer((req, res) => {
      this.#handle(req, res)
    })
  }

  /** Closed when the test (or `owner`: anything with an `after` hook) ends. */
  static async start(owner: { after: (fn: () => Promise<void>) => void }, init: HlsOriginInit = {}): Promise<HlsOrigin> {
    const count = init.count ?? 8
    const window = init.window ?? 3
    const extinf = init.extinf ?? '2.000'
    const parsed = parseDuration(extinf)
    if (!parsed.ok) throw new Error(parsed.reason)
    const start = init.start ?? (Math.floor(Date.now() / 1000) - 60) * 1_000_000 + 123_456
    const files = await segmentFiles(count)
    const segments = await Promise.all(
      files.map(async (f, i) => ({ bytes: await readFile(f), start: start + i * parsed.value, duration: parsed.value }))
    )
    const o: OriginOptions = {
      count,
      window,
      initial: init.initial ?? window,
      start,
      extinf,
      dates: init.dates ?? 'all',
      init: init.init ?? false,
      slow: init.slow ?? {},
      cut: { ...init.cut },
      missing: init.missing ?? [],
      notFound: { ...init.notFound },
      forbidden: init.forbidden ?? [],
      ads: init.ads,
      skew: init.skew,
      byterange: init.byterange ?? false
    }
    const origin = new HlsOrigin(o, segments, o.init ? segments[0]!.bytes.subarray(0, INIT_BYTES) : null)
    await new Promise<void>((resolve) => origin.#server.listen(0, '127.0.0.1', resolve))
    origin.#base = `http://127.0.0.1:${(origin.#server.address() as AddressInfo).port}`
    owner.after(async () => await origin.close())
    return origin
  }

  get masterUrl(): string {
    return `${this.#base}/master.m3u8`
  }
  mediaUrl(variant: 'source' | 'low' = 'source'): string {
    return `${this.#base}/${variant}/index.m3u8`
  }

  /** Entries published so far. */
  get published(): number {
    return this.#head
  }

  /** Publish `n` more entries (the window slides). */
  advance(n = 1): void {
    this.#head = Math.min(this.segments.length, this.#head + n)
  }

  /** Publish everything and end the stream (EXT-X-ENDLIST). */
  end(): void {
    this.#head = this.segments.length
    this.#ended = true
  }

  /** What a recorder should store for entry `i`: the init section, then the segment. */
  expectedBytes(i: number): Buffer {
    return this.init == null ? this.segments[i]!.bytes : Buffer.concat([this.init, this.segments[i]!.bytes])
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #master(): string {
    return [
      '#EXTM3U',
      '#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="chunked",NAME="180p (source)",AUTOSELECT=YES,DEFAULT=YES',
      '#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=320x180,CODECS="avc1.42c00d,mp4a.40.2",VIDEO="chunked"',
      'source/index.m3u8',
      '#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="low",NAME="low",AUTOSELECT=YES,DEFAULT=NO',
      '#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=160x90,CODECS="avc1.42c00d,mp4a.40.2",VIDEO="low"',
      'low/index.m3u8',
      ''
    ].join('\n')
  }

  #dateOf(i: number): number {
    const skew = this.#o.skew
    return this.segments[i]!.start + (skew != null && i >= skew.at ? skew.us : 0)
  }

  #media(): string {
    const first = Math.max(0, this.#head - this.#o.window)
    const lines = [
      '#EXTM3U',
      '#EXT-X-VERSION:6',
      `#EXT-X-TARGETDURATION:${Math.ceil(this.segments[0]!.duration / 1e6)}`,
      `#EXT-X-MEDIA-SEQUENCE:${first}`
    ]
    if (this.init != null) lines.push('#EXT-X-MAP:URI="init.ts"')
    const ads = this.#o.ads
    for (let i = first; i < this.#head; i++) {
      if (ads?.style === 'cue' && i === ads.from)
        lines.push(`#EXT-X-CUE-OUT:DURATION=${((ads.to - ads.from) * this.segments[0]!.duration) / 1e6}`)
      else if (ads?.style === 'cue' && i > ads.from && i < ads.to) lines.push('#EXT-X-CUE-OUT-CONT')
      if (ads?.style === 'cue' && i === ads.to) lines.push('#EXT-X-CUE-IN')
      if (ads?.style === 'daterange' && i === ads.from) {
        const seconds = (this.segments[ads.to]!.start - this.segments[ads.from]!.start) / 1e6
        lines.push(
          `#EXT-X-DATERANGE:ID="ad-${i}",CLASS="twitch-stitched-ad",START-DATE="${formatInstant(this.#dateOf(i))}",DURATION=${seconds}`
        )
      }
      const dated = this.#o.dates === 'all' || (this.#o.dates === 'first' && i === first) || (ads?.style === 'daterange' && i === ads.from)
      if (dated) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${formatInstant(this.#dateOf(i))}`)
      lines.push(`#EXTINF:${this.#o.extinf},live`)
      if (this.#o.byterange) {
        const offset = this.segments.slice(0, i).reduce((n, s) => n + s.bytes.length, 0)
        lines.push(`#EXT-X-BYTERANGE:${this.segments[i]!.bytes.length}@${offset}`, 'all.ts')
      } else {
        lines.push(`seg${i}.ts`)
      }
    }
    if (this.#ended) lines.push('#EXT-X-ENDLIST')
    return lines.join('\n') + '\n'
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    this.requests.set(path, (this.requests.get(path) ?? 0) + 1)
    const m = /^\/(source|low)\/(index\.m3u8|init\.ts|all\.ts|seg(\d+)\.ts)$/.exec(path)
    const i = Number(m?.[3])
    if (path === '/master.m3u8') this.#send(res, 'application/vnd.apple.mpegurl', Buffer.from(this.#master()))
    else if (m == null) this.#send(res, 'text/plain', Buffer.from('not found'), 404)
    else if (m[2] === 'index.m3u8') this.#send(res, 'application/vnd.apple.mpegurl', Buffer.from(this.#media()))
    else if (m[2] === 'init.ts') this.#send(res, 'video/mp2t', this.init ?? Buffer.alloc(0), this.init == null ? 404 : 200)
    else if (m[2] === 'all.ts') this.#range(req, res, Buffer.concat(this.segments.slice(0, this.#head).map((s) => s.bytes)))
    else if (i >= this.#head || this.#o.missing.includes(i)) this.#send(res, 'text/plain', Buffer.from('gone'), 404)
    else if (this.#o.forbidden.includes(i)) this.#send(res, 'text/plain', Buffer.from('forbidden'), 403)
    else if (this.#lagging(i)) this.#send(res, 'text/plain', Buffer.from('not here yet'), 404)
    else this.#segment(res, i)
  }

  /** True (and one fewer left) while entry `i` still has 404s to answer. */
  #lagging(i: number): boolean {
    if ((this.#o.notFound[i] ?? 0) === 0) return false
    this.#o.notFound[i]!--
    return true
  }

  #segment(res: ServerResponse, i: number): void {
    const bytes = this.segments[i]!.bytes
    const half = Math.floor(bytes.length / 2)
    res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': bytes.length })
    if ((this.#o.cut[i] ?? 0) > 0) {
      this.#o.cut[i]!--
      // Half the body, then the connection dies: the client sees a short body.
      res.write(bytes.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 20))
      return
    }
    const delay = this.#o.slow[i]
    if (delay == null) {
      res.end(bytes)
      return
    }
    res.write(bytes.subarray(0, half))
    const timer = setTimeout(() => res.end(bytes.subarray(half)), delay)
    res.once('close', () => clearTimeout(timer))
  }

  /** `bytes=a-b` only, as recorders send it. */
  #range(req: IncomingMessage, res: ServerResponse, all: Buffer): void {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
    const [from, to] = [Number(m?.[1]), Number(m?.[2])]
    if (m == null) {
      this.#send(res, 'video/mp2t', all)
    } else if (to >= all.length || from > to) {
      this.#send(res, 'text/plain', Buffer.from('bad range'), 416)
    } else {
      res.setHeader('content-range', `bytes ${from}-${to}/${all.length}`)
      this.#send(res, 'video/mp2t', all.subarray(from, to + 1), 206)
    }
  }

  #send(res: ServerResponse, type: string, body: Buffer, status = 200): void {
    res.writeHead(status, { 'content-type': type, 'content-length': body.length })
    res.end(body)
  }
}
