/** Test helpers for networks of real nodes in one process: libp2p over TCP and HTTP on 127.0.0.1. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import pino from 'pino'
import { request } from 'undici'
import { resolveConfig } from '../../config/load.ts'
import { SegmeshNode } from '../../node/segmesh-node.ts'

export const ADMIN_TOKEN = 'test-admin-token'

export interface NodeOptions {
  /** Reuse a data folder (a restart). */
  data?: string
  bootstrap?: SegmeshNode[]
  /** Fixed libp2p port (a restart that peers should find again). */
  p2pPort?: number
  announce?: boolean
  digestIntervalSeconds?: number
  extra?: Record<string, string | string[]>
  /** The node's logger (default: silent, or SEGMESH_TEST_LOG's level on stdout). */
  log?: pino.Logger
}

/** Start a node on 127.0.0.1 with ephemeral ports; it is stopped when the test ends. */
export async function startNode(t: TestContext, options: NodeOptions = {}): Promise<SegmeshNode> {
  const data = options.data ?? (await mkdtemp(join(tmpdir(), 'segmesh-net-')))
  const config = resolveConfig({
    flags: {
      data,
      'http-host': '127.0.0.1',
      'http-port': '0',
      'p2p-host': '127.0.0.1',
      'p2p-port': String(options.p2pPort ?? 0),
      bootstrap: (options.bootstrap ?? []).map((n) => n.host!.multiaddrs()[0]!),
      watch: false,
      announce: options.announce ?? true,
      'digest-interval-seconds': String(options.digestIntervalSeconds ?? 1),
      'admin-token': ADMIN_TOKEN,
      ...options.extra
    }
  })
  const node = new SegmeshNode({ config, log: options.log ?? pino({ level: process.env.SEGMESH_TEST_LOG ?? 'silent' }) })
  const removeData = async (): Promise<void> => {
    if (options.data == null) await rm(data, { recursive: true, force: true })
  }
  try {
    await node.start()
  } catch (err) {
    await removeData()
    throw err
  }
  // One hook, stop first (hooks run in the order they are added): a folder removed under a running
  // node can fail with ENOTEMPTY, and a failed hook skips the ones after it.
  t.after(async () => {
    await node.stop(500)
    await removeData()
  })
  return node
}

/** Poll until `check` holds, failing with `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** POST JSON to a node's admin API. */
export async function admin(
  node: SegmeshNode,
  path: string,
  body: unknown
): Promise<{ status: number; json: { purged?: string[]; tombstoned?: string[] } }> {
  const res = await request(`${node.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })
  return { status: res.statusCode, json: (await res.body.json()) as { purged?: string[]; tombstoned?: string[] } }
}
