/**
 * Whether a request comes from this machine: the replication quota spares such clients (a local
 * proxy, or nodes sharing one host) and `/status` shows them the node's folders. Injectable through
 * `HttpInit.isLoopback`, so a test on 127.0.0.1 can play a remote client.
 */
import type { FastifyRequest } from 'fastify'

export type LoopbackCheck = (ip: string) => boolean

export const isLoopback: LoopbackCheck = (ip) => ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.')

/**
 * A loopback client that relays for someone else (a proxy on this host sets a forwarding header)
 * is that someone else, not this machine. `behindWorkers`: the node's own HTTP worker added one
 * address (the client's, which request.ip is); only a hop before it is a relay.
 */
export function isLocalViewer(request: FastifyRequest, loopback: LoopbackCheck, behindWorkers = false): boolean {
  const forwardedFor = request.headers['x-forwarded-for']
  const relayed = forwardedFor != null && (!behindWorkers || String(forwardedFor).includes(','))
  return loopback(request.ip) && request.headers.forwarded == null && !relayed
}
