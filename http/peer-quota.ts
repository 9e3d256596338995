/**
 * Per-client quota on the routes only peers use (`/replication/*`: digests, tombstone
 * signatures), which walk the index. A token bucket per client address; over it, 429 with
 * Retry-After, which the fetcher treats as "busy, back off". Viewers' routes are not limited here:
 * behind a front proxy they all share one address (the proxy is where to limit them). Loopback
 * clients are not limited either: that is a local proxy, or nodes sharing one machine.
 *
 * The hook is registered inside the plugin that holds those routes (app.ts), so it runs on the
 * route the router matched: `/%72eplication/digests` is the same route and is counted the same.
 */
import type { FastifyRequest } from 'fastify'
import { RateLimiter } from '../lib/rate-limit.ts'
import { HttpError } from './errors.ts'
import { type LoopbackCheck, isLoopback } from './loopback.ts'

export const PEER_QUOTA_DEFAULTS = Object.freeze({ ratePerSecond: 20, burst: 100 })

export interface PeerQuotaInit {
  ratePerSecond?: number
  burst?: number
  /** Clients spared the quota. @default loopback addresses */
  exempt?: LoopbackCheck
}

export function peerQuota(init: PeerQuotaInit = {}): (request: FastifyRequest) => Promise<void> {
  const limiter = new RateLimiter({
    ratePerSecond: init.ratePerSecond ?? PEER_QUOTA_DEFAULTS.ratePerSecond,
    burst: init.burst ?? PEER_QUOTA_DEFAULTS.burst
  })
  const exempt = init.exempt ?? isLoopback
  return async (request) => {
    if (exempt(request.ip)) return
    if (!limiter.take(request.ip)) {
      throw new HttpError(429, 'rate_limited', `more than ${limiter.rate} replication requests a second from ${request.ip}; retry later`, {
        'retry-after': '1'
      })
    }
  }
}
