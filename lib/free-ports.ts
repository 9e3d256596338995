/**
 * Free TCP ports for the nodes a test, benchmark or simulation starts on 127.0.0.1.
 */
import { randomInt } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import net from 'node:net'

/**
 * Ports free right now (all held open together, so they differ), then released for the nodes.
 * They come from below the kernel's ephemeral range: a node restarted after a kill must find its
 * old ports still free, and in that range any outgoing connection may take one as its source port
 * meanwhile (even a redial of that very port: TCP connects a socket to itself).
 */
export async function freePorts (n: number): Promise<number[]> {
  const ephemeralLow = await ephemeralPortStart()
  const span = ephemeralLow == null ? 0 : ephemeralLow - FIRST_FIXED_PORT
  const servers: net.Server[] = []
  try {
    // From a random place in the range, so that test files running side by side rarely meet.
    const offset = span > 0 ? randomInt(span) : 0
    for (let i = 0; servers.length < n; i++) {
      if (i >= span) {
        // No usable range below the ephemeral one: let the kernel choose.
        servers.push(await listenOn(0))
        continue
      }
      const server = await listenOn(FIRST_FIXED_PORT + (offset + i) % span).catch(() => null)
      if (server != null) servers.push(server)
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port)
  } finally {
    await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
  }
}

/** The lowest port freePorts hands out: above the ones well-known services use. */
export const FIRST_FIXED_PORT = 10_000

/** The first port of the kernel's ephemeral range (Linux), or null when it cannot be read. */
export async function ephemeralPortStart (): Promise<number | null> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '')
  const low = Number(range.trim().split(/\s+/)[0])
  return Number.isInteger(low) && low > 0 ? low : null
}

async function listenOn (port: number): Promise<net.Server> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return server
}

