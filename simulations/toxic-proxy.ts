/**
 * A Toxiproxy-like HTTP proxy in front of one node's API: what its peers fetch goes through it,
 * so it can answer late, trickle bytes (a slow peer) or flip a byte of every segment body (a lying
 * peer) while the node itself and its disk stay honest. With no toxic it passes everything through.
 */
import { once } from 'node:events'
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Transform, type TransformCallback, pipeline } from 'node:stream'
import type { Toxic } from './plan.ts'

export class ToxicProxy {
  readonly port: number
  readonly upstreamPort: number
  toxic: Toxic | null = null
  /** Segment bodies corrupted so far. */
  corrupted = 0
  readonly #server: Server

  private constructor(server: Server, port: number, upstreamPort: number) {
    this.#server = server
    this.port = port
    this.upstreamPort = upstreamPort
  }

  static async listen(port: number, upstreamPort: number): Promise<ToxicProxy> {
    let proxy: ToxicProxy | null = null
    const server = http.createServer((req, res) => proxy?.handle(req, res))
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    proxy = new ToxicProxy(server, (server.address() as AddressInfo).port, upstreamPort)
    return proxy
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise((resolve) => this.#server.close(resolve))
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const toxic = this.toxic
    const forward = (): void => {
      const upstream = http.request(
        { host: '127.0.0.1', port: this.upstreamPort, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          const stages: NodeJS.ReadWriteStream[] = []
          if (toxic?.corrupt === true && answer.statusCode === 200 && (req.url ?? '').startsWith('/segments/')) {
            this.corrupted++
            stages.push(flipFirstByte())
          }
          if (toxic?.bytesPerSecond != null) stages.push(throttle(toxic.bytesPerSecond))
          pipeline([answer, ...stages, res] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], () => {})
        }
      )
      // The node is down: look like it, a dropped connection rather than an answer.
      upstream.on('error', () => res.socket?.destroy())
      req.pipe(upstream)
    }
    if (toxic?.latencyMs != null && toxic.latencyMs > 0) setTimeout(forward, toxic.latencyMs)
    else forward()
  }
}

function flipFirstByte(): Transform {
  let done = false
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      if (!done && chunk.length > 0) {
        chunk = Buffer.from(chunk)
        chunk[chunk.length >> 1]! ^= 0xff
        done = true
      }
      cb(null, chunk)
    }
  })
}

/** Pass at most `bytesPerSecond`, in tenth-of-a-second slices. */
function throttle(bytesPerSecond: number): Transform {
  const slice = Math.max(1, Math.floor(bytesPerSecond / 10))
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      let offset = 0
      const next = (): void => {
        if (offset >= chunk.length) {
          cb()
          return
        }
        this.push(chunk.subarray(offset, offset + slice))
        offset += slice
        setTimeout(next, 100)
      }
      next()
    }
  })
}
