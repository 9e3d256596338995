/** The CLI's HTTP client for a running node's API (admin and status), with errors people can act on. */
import { request } from 'undici'
import { ConfigError } from '../config/errors.ts'
import { NodeRequestError } from './errors.ts'

export interface NodeRequest {
  method?: 'GET' | 'POST'
  token?: string
  body?: unknown
  signal?: AbortSignal
}

/** The base URL from `--node`, checked: `http://host:port` (a trailing slash or path is kept). */
export function nodeUrl(raw: unknown): URL {
  if (typeof raw !== 'string' || raw === '')
    throw new ConfigError('--node', "missing: the node's HTTP base URL, e.g. --node http://127.0.0.1:8080")
  let url: URL | null = null
  try {
    url = new URL(raw)
  } catch {}
  if (url == null || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new ConfigError('--node', `'${raw}' is not an http(s) URL`)
  return url
}

/** Call `path` on the node and return its JSON answer; any failure is a NodeRequestError saying what went wrong. */
export async function callNode(base: URL, path: string, init: NodeRequest = {}): Promise<{ status: number; json: unknown }> {
  const url = new URL(path.replace(/^\//, ''), base.href.endsWith('/') ? base : `${base.href}/`)
  const headers: Record<string, string> = { accept: 'application/json' }
  if (init.token != null) headers.authorization = `Bearer ${init.token}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  let res: Awaited<ReturnType<typeof request>>
  try {
    res = await request(url, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
      signal: init.signal ?? AbortSignal.timeout(60_000)
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = e.code != null && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message
    throw new NodeRequestError(`cannot reach ${url.origin}: ${why}`, null, { cause: err })
  }
  const text = await res.body.text()
  let json: unknown = null
  try {
    json = JSON.parse(text)
  } catch {}
  if (res.statusCode >= 400) {
    const body = json as { error?: string; message?: string } | null
    const detail = body?.message != null ? `${body.error ?? 'error'}: ${body.message}` : text.slice(0, 200)
    throw new NodeRequestError(
      `${init.method ?? 'GET'} ${url.pathname} answered ${res.statusCode}${hint(res.statusCode)} — ${detail}`,
      res.statusCode
    )
  }
  if (json == null) throw new NodeRequestError(`${url.pathname} did not answer JSON (is ${base.origin} a segmesh node?)`, res.statusCode)
  return { status: res.statusCode, json }
}

function hint(status: number): string {
  return status === 401 || status === 403 ? ' (check --token or SEGMESH_ADMIN_TOKEN)' : ''
}
