import type { FastifyBaseLogger } from 'fastify'
import type { SegmentSelector } from '../storage/best-segments.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import type { SegmentStore } from '../storage/segment-store.ts'

/** What the HTTP layer needs from the rest of the node. Read-only use, except the /admin routes. */
export interface HttpComponents {
  index: SegmentIndex
  store: SegmentStore
  selector: SegmentSelector
  /** Extra `/status` fields that other parts fill in (peer id, peers, ...). */
  status?: () => Record<string, unknown>
}

export interface HttpInit {
  /** Serve `/metrics` and record request metrics. @default true */
  metrics?: boolean
  /** A pino logger; none means silent. */
  logger?: FastifyBaseLogger
  /** Data folder reported in `/status`. */
  dataDir?: string
  /** Bearer token for `/admin/*`; unset means the admin routes answer 404. */
  adminToken?: string
}
