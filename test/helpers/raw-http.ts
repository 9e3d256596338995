/** A bare node:http GET for tests that must see exactly what went over the wire and came back. */
import http from 'node:http'

export interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/**
 * GET `path` from `origin` (`http://host:port`). The path is sent exactly as written, never parsed
 * as a URL (a raw `+` stays a `+`); with `timeoutMs`, the request is given up after that long.
 */
export async function rawGet(
  origin: string,
  path: string,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {}
): Promise<RawResponse> {
  const { hostname, port } = new URL(origin)
  const { headers = {}, timeoutMs } = options
  return await new Promise((resolve, reject) => {
    const req = http.get({ hostname, port, path, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}
