/**
 * Per-client quota on the routes only peers use (`/replication/*`: digests, tombstone
 * signatures), which walk the index. A token bucket per client address; over it, 429 with
 * Retry-After, which the fetcher treats as "busy, back off". Viewers' routes are not limited here:
 * behind a front proxy they all share one address (the proxy is where to limit them). Loopback
 * clients are not limited either: that is a local proxy, or nodes sharing one machine.
 */
import type { FastifyRequest } from 'fastify'
import { RateLimiter } from '../replication/rate-limit.ts'
import { HttpError } from './errors.ts'

export const PEER_QUOTA_DEFAULTS = { ratePerSecond: 20, burst: 100 } as const

export function peerQuota (init: { ratePerSecond?: number, burst?: number } = {}): (request: FastifyRequest) => Promise<void> {
  const limiter = new RateLimiter({ ratePerSecond: init.ratePerSecond ?? PEER_QUOTA_DEFAULTS.ratePerSecond, burst: init.burst ?? PEER_QUOTA_DEFAULTS.burst })
  return async (request) => {
    if (!request.url.startsWith('/replication/') || isLoopback(request.ip)) return
    if (!limiter.take(request.ip)) {
      throw new HttpError(429, 'rate_limited', `more than ${limiter.rate} replication requests a second from ${request.ip}; retry later`, { 'retry-after': '1' })
    }
  }
}

function isLoopback (ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.')
}
