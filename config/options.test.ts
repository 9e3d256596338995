/**
 * One value per default: where a component has a default of its own and the option table offers
 * the same setting, the table refers to the component's exported defaults object. These pairs must
 * agree (in the option's unit) and the table must name them, not repeat a number.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { CUT_JOB_DEFAULTS } from '../cutter/jobs.ts'
import { NETWORK_LISTINGS_DEFAULTS } from '../http/network-listings.ts'
import { CONNECTION_CAP_DEFAULTS } from '../http/connection-cap.ts'
import { SEGMENT_WORKER_DEFAULTS } from '../http/segment-worker.ts'
import { UPLOAD_SLOT_DEFAULTS } from '../http/upload-slots.ts'
import { VIEWER_STREAM_DEFAULTS } from '../http/viewer-streams.ts'
import { INGEST_DEFAULTS } from '../ingest/constants.ts'
import { FETCHER_DEFAULTS } from '../replication/fetch-options.ts'
import { P2P_DEFAULTS } from '../replication/host-defaults.ts'
import { PEER_SCORE_DEFAULTS } from '../replication/peer-score.ts'
import { REPLICATOR_DEFAULTS } from '../replication/replicator.ts'
import { DISK_SPACE_DEFAULTS } from '../storage/disk-space.ts'
import { SEGMENT_INDEX_DEFAULTS } from '../storage/segment-index.ts'
import { resolveConfig } from './load.ts'
import type { Config } from './options.ts'

const MiB = 1024 ** 2

/** Option, the component's default in the component's unit, and how many of those one option unit is. */
const SHARED: Array<[keyof Config, number, number, string]> = [
  ['indexMapSizeMb', SEGMENT_INDEX_DEFAULTS.mapSize, MiB, 'SEGMENT_INDEX_DEFAULTS.mapSize'],
  ['windowHours', REPLICATOR_DEFAULTS.windowHours, 1, 'REPLICATOR_DEFAULTS.windowHours'],
  ['digestIntervalSeconds', REPLICATOR_DEFAULTS.digestIntervalMs, 1000, 'REPLICATOR_DEFAULTS.digestIntervalMs'],
  ['fetchConcurrency', FETCHER_DEFAULTS.concurrency, 1, 'FETCHER_DEFAULTS.concurrency'],
  ['fetchPerPeer', FETCHER_DEFAULTS.perPeerConcurrency, 1, 'FETCHER_DEFAULTS.perPeerConcurrency'],
  ['maxSegmentMb', FETCHER_DEFAULTS.maxSegmentBytes, MiB, 'FETCHER_DEFAULTS.maxSegmentBytes'],
  ['peerBanSeconds', PEER_SCORE_DEFAULTS.cooldownMs, 1000, 'PEER_SCORE_DEFAULTS.cooldownMs'],
  ['cutConcurrency', CUT_JOB_DEFAULTS.concurrency, 1, 'CUT_JOB_DEFAULTS.concurrency'],
  ['minFreeBytes', DISK_SPACE_DEFAULTS.minFreeBytes, 1, 'DISK_SPACE_DEFAULTS.minFreeBytes'],
  ['recordPollMs', INGEST_DEFAULTS.pollMs, 1, 'INGEST_DEFAULTS.pollMs'],
  ['p2pSameIpPeers', P2P_DEFAULTS.sameIpPeers, 1, 'P2P_DEFAULTS.sameIpPeers'],
  ['p2pInboundPerIpPerSecond', P2P_DEFAULTS.inboundConnectionsPerIpPerSecond, 1, 'P2P_DEFAULTS.inboundConnectionsPerIpPerSecond'],
  ['p2pPingSeconds', P2P_DEFAULTS.pingIntervalMs, 1000, 'P2P_DEFAULTS.pingIntervalMs'],
  ['httpWorkers', SEGMENT_WORKER_DEFAULTS.workers, 1, 'SEGMENT_WORKER_DEFAULTS.workers'],
  ['httpMaxConnections', CONNECTION_CAP_DEFAULTS.maxConnections, 1, 'CONNECTION_CAP_DEFAULTS.maxConnections'],
  ['httpPeerKeepalive', CONNECTION_CAP_DEFAULTS.peerKeepAlive, 1, 'CONNECTION_CAP_DEFAULTS.peerKeepAlive'],
  ['minCopies', NETWORK_LISTINGS_DEFAULTS.minCopies, 1, 'NETWORK_LISTINGS_DEFAULTS.minCopies'],
  ['peerUploadSlots', UPLOAD_SLOT_DEFAULTS.slots, 1, 'UPLOAD_SLOT_DEFAULTS.slots'],
  ['peerReferAfter', UPLOAD_SLOT_DEFAULTS.referAfter, 1, 'UPLOAD_SLOT_DEFAULTS.referAfter'],
  ['peerUploadShare', VIEWER_STREAM_DEFAULTS.share, 1, 'VIEWER_STREAM_DEFAULTS.share']
]

describe('option defaults', () => {
  it("an option a component also has defaults to the component's own value", () => {
    const config = resolveConfig({ env: {}, flags: {} })
    for (const [key, componentDefault, unit] of SHARED) {
      assert.equal(
        (config[key] as number) * unit,
        componentDefault,
        `${key}: ${String(config[key])} × ${unit} is not the component's ${componentDefault}`
      )
    }
  })

  it("the table refers to the component's defaults object instead of repeating the number", () => {
    const source = readFileSync(new URL('./options.ts', import.meta.url), 'utf8')
    for (const [key, , , reference] of SHARED) {
      // The option's entry: from its key to the end of its object.
      const at = source.indexOf(`key: '${key}'`)
      const entry = at < 0 ? 'no such option' : source.slice(at, source.indexOf('}', at))
      assert.ok(entry.includes(`default: ${reference}`), `${key} does not take its default from ${reference}: ${entry}`)
    }
  })
})
