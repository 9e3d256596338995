/** `--no-metrics`: no /metrics route, the rest of the API unchanged. */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import pino from 'pino'
import { request } from 'undici'
import { resolveConfig } from '../config/load.ts'
import { SegmeshNode } from '../node/segmesh-node.ts'
import { tempDir } from './helpers/tree.ts'

it('--no-metrics removes /metrics and nothing else', async (t) => {
  const config = resolveConfig({
    flags: { data: await tempDir(t), 'http-host': '127.0.0.1', 'http-port': '0', watch: false, replication: false, metrics: false }
  })
  const node = new SegmeshNode({ config, log: pino({ level: 'silent' }) })
  await node.start()
  t.after(async () => await node.stop(1000))
  const metrics = await request(`${node.url}/metrics`)
  assert.equal(metrics.statusCode, 404)
  assert.equal(((await metrics.body.json()) as { error: string }).error, 'not_found')
  const files = await request(`${node.url}/files`)
  assert.equal(files.statusCode, 200)
  assert.deepEqual(await files.body.json(), [])
})
