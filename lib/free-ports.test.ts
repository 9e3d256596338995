import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { it } from 'node:test'
import { FIRST_FIXED_PORT, ephemeralPortStart, freePorts } from './free-ports.ts'

it('freePorts hands out distinct ports below the ephemeral range, free to listen on', async () => {
  const ephemeralLow = await ephemeralPortStart()
  const ports = await freePorts(10)
  assert.equal(new Set(ports).size, 10)
  // (A kernel whose ephemeral range starts lower leaves no such range: the kernel chooses.)
  if (ephemeralLow != null && ephemeralLow > FIRST_FIXED_PORT) {
    for (const port of ports)
      assert.ok(port >= FIRST_FIXED_PORT && port < ephemeralLow, `${port} is outside [${FIRST_FIXED_PORT}, ${ephemeralLow})`)
  }
  const servers = ports.map((port) => net.createServer().listen(port, '127.0.0.1'))
  await Promise.all(servers.map(async (s) => await once(s, 'listening')))
  await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
})

it('a port handed out once is not handed out again by the same process, even after it was released', async () => {
  // A node killed for a restart leaves its ports unbound; another node of the same run must not get them.
  // 200 calls: random starts alone would meet (a birthday bound over the ~22,000 ports) almost surely.
  const seen = new Set<number>()
  for (let i = 0; i < 200; i++)
    for (const port of await freePorts(5)) {
      assert.ok(!seen.has(port), `port ${port} handed out twice`)
      seen.add(port)
    }
})
