/**
 * Strong entity tags and the `If-None-Match` test (RFC 9110 §13.1.2): the header may list several
 * tags, weak ones (`W/"…"`) compare by their opaque part, and `*` matches any current body.
 */
import { createHash } from 'node:crypto'

/** A strong tag for a body: its sha256, shortened (128 bits), quoted. */
export function etagOf(body: string | Uint8Array): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`
}

export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch == null) return false
  if (ifNoneMatch === etag || ifNoneMatch.trim() === '*') return true
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim()
    return tag === etag || tag === `W/${etag}`
  })
}
