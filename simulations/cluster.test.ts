import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import { it } from 'node:test'
import { freePorts } from './cluster.ts'

it('freePorts hands out distinct ports below the ephemeral range, free to listen on', async () => {
  const ephemeralLow = Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0])
  const ports = await freePorts(10)
  assert.equal(new Set(ports).size, 10)
  // (A kernel whose ephemeral range starts below 10000 leaves no such range: the kernel chooses.)
  if (ephemeralLow > 10_000) for (const port of ports) assert.ok(port >= 10_000 && port < ephemeralLow, `${port} is outside [10000, ${ephemeralLow})`)
  const servers = ports.map((port) => net.createServer().listen(port, '127.0.0.1'))
  await Promise.all(servers.map(async (s) => await once(s, 'listening')))
  await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
})
