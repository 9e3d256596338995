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
 *
 * A process never hands out the same port twice, and each process starts its walk in its own block
 * of the range (by pid): a port of a node that is down for a restart is not given to another node,
 * whether that node belongs to the same test file or to one running beside it.
 */
export async function freePorts(n: number): Promise<number[]> {
  const ephemeralLow = await ephemeralPortStart()
  const span = ephemeralLow == null ? 0 : ephemeralLow - FIRST_FIXED_PORT
  const servers: net.Server[] = []
  try {
    const start = Math.floor((span * (process.pid % PORT_BLOCKS)) / PORT_BLOCKS) + OFFSET_IN_BLOCK
    for (let tried = 0; servers.length < n; tried++) {
      if (tried >= span) {
        // No usable range below the ephemeral one (or all of it tried): let the kernel choose.
        servers.push(await listenOn(0))
        continue
      }
      const port = FIRST_FIXED_PORT + ((start + taken++) % span)
      const server = await listenOn(port).catch(() => null)
      if (server != null) servers.push(server)
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port)
  } finally {
    await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
  }
}

/** How many blocks the range is cut into, one per process (by pid) to start its walk in. */
const PORT_BLOCKS = 64
/** A little spread within the block, for processes whose pids fall in the same one. */
const OFFSET_IN_BLOCK = randomInt(64)
/** Ports this process has walked past: its walk goes on from there. */
let taken = 0

/** The lowest port freePorts hands out: above the ones well-known services use. */
export const FIRST_FIXED_PORT = 10_000

/** The first port of the kernel's ephemeral range (Linux), or null when it cannot be read. */
export async function ephemeralPortStart(): Promise<number | null> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '')
  const low = Number(range.trim().split(/\s+/)[0])
  return Number.isInteger(low) && low > 0 ? low : null
}

async function listenOn(port: number): Promise<net.Server> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return server
}
