/** HTTP pieces of the backfill client: peer URLs, segment paths, JSON answers. */
import type { Dispatcher } from 'undici'
import { readWhole } from '../lib/http-client.ts'
import { type SegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { InvalidListingError, InvalidParametersError } from './fetch-errors.ts'

/**
 * Sent with every request a node's fetcher (and read-through) makes to a peer, carrying the URL it
 * serves from: the peer counts a segment download against its upload slots (http/upload-slots.ts),
 * knows a range request as a walk of it (the replicator's walkedBy), and never reads it through.
 */
export const PEER_HEADER = 'x-segmesh-peer'

/**
 * On every segment request of a fetcher that stores what it gets: how many referrals (busy answers
 * naming holders) led it to this peer, 0 for a peer it was given, REFERRAL_DEPTH when it asks again
 * a peer that referred it. A peer refers askers on only below REFERRAL_DEPTH, so a swarm's tree
 * is two levels deep (http/upload-slots.ts).
 */
export const REFERRALS_HEADER = 'x-segmesh-referrals'
export const REFERRAL_DEPTH = 2

/** A peer's base URL without trailing slashes, or null if it is not http(s). */
export function normalizePeerUrl(peerUrl: string): string | null {
  let url: URL
  try {
    url = new URL(peerUrl)
  } catch {
    return null
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return null
  return url.origin + url.pathname.replace(/\/+$/, '')
}

export function peerBase(peerUrl: string): string {
  const base = normalizePeerUrl(peerUrl)
  if (base == null) throw new InvalidParametersError(`peer URL must be http(s) without query or credentials: ${peerUrl}`)
  return base
}

/** `/segments/C/Q/HOUR/FILE`, every component escaped (names hold `:`). */
export function segmentPath(ref: SegmentRef): string {
  return '/segments/' + segmentRelPath(ref).split('/').map(encodeURIComponent).join('/')
}

/** Read a whole (small, limited) body and parse it as JSON. */
export async function readJson(response: Dispatcher.ResponseData, max: number, what: string): Promise<unknown> {
  const bytes = await readWhole(response, max, what)
  try {
    return JSON.parse(decoder.decode(bytes))
  } catch (err) {
    throw new InvalidListingError(`${what}: not UTF-8 JSON`, { cause: err })
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true })
