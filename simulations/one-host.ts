/**
 * Every simulated node runs on 127.0.0.1, where a real network gives each node its own IP. Two
 * libp2p defaults key on the remote IP and would treat the whole cluster as one abusive host:
 * - gossipsub's IP-colocation penalty (P6): over 10 peers from one IP score −5·(k−10)² each, so
 *   at 14 they fall below the graylist threshold (−80) and all their messages are ignored;
 * - the connection manager's inbound limit of 5 new connections per second per remote IP.
 * Loopback is exempted from both, as distinct hosts would be. SEGSIM_SHARED_IP=1 keeps the
 * defaults (to show what they do to nodes that really share an IP, e.g. behind one NAT).
 */
import { defaultPeerScoreParams } from '@libp2p/gossipsub/score'
import { RateLimiter } from '@libp2p/utils'

const LOOPBACK = new Set(['127.0.0.1', '::1'])

export function treatLoopbackAsManyHosts (): void {
  if (process.env.SEGSIM_SHARED_IP === '1') return
  // gossipsub copies the defaults shallowly, so every instance shares this Set.
  for (const ip of LOOPBACK) defaultPeerScoreParams.IPColocationFactorWhitelist.add(ip)
  const proto = RateLimiter.prototype
  const consume = proto.consume
  proto.consume = function (this: RateLimiter, key: string, ...rest: unknown[]) {
    if (LOOPBACK.has(key)) return { remainingPoints: 1, msBeforeNext: 0, consumedPoints: 0, isFirstInDuration: false }
    return consume.call(this, key, ...rest as [number?, object?])
  } as typeof proto.consume
}
