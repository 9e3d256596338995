/** `segmesh keygen` through bin/segmesh: the files it writes load as the node loads them. */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { readNetworkKey } from '../replication/pnet.ts'
import { readAdminKeys } from '../replication/tombstone-signature.ts'
import { tempDir } from './helpers/tree.ts'

const run = promisify(execFile)
const SEGMESH = fileURLToPath(new URL('../bin/segmesh', import.meta.url))

async function fails(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(SEGMESH, args)
  } catch (err) {
    const e = err as { code: number; stderr: string }
    return { code: e.code, stderr: e.stderr }
  }
  throw new Error(`segmesh ${args.join(' ')} succeeded`)
}

describe('segmesh keygen', () => {
  it('writes a network key (0600) and an admin key pair, never overwriting, and wants --out', async (t) => {
    const dir = await tempDir(t)
    const net = join(dir, 'network.key')
    await run(SEGMESH, ['keygen', '--out', net])
    assert.equal((await stat(net)).mode & 0o777, 0o600)
    await readNetworkKey(net)
    const again = await fails(['keygen', '--out', net])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /refusing to overwrite/)

    const key = join(dir, 'admin.key')
    const { stdout } = await run(SEGMESH, ['keygen', '--admin', '--out', key])
    assert.match(stdout, /-----BEGIN PUBLIC KEY-----/)
    assert.equal((await stat(key)).mode & 0o777, 0o600)
    const keys = await readAdminKeys({ signing: key, public: `${key}.pub` })
    assert.ok(keys.adminSigningKey != null && keys.adminPublicKey != null)

    const missing = await fails(['keygen'])
    assert.equal(missing.code, 64)
    assert.match(missing.stderr, /--out/)
  })
})
