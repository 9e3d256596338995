/**
 * The media-playlist writer as it was first shipped (a Date and toISOString per segment, three
 * encodeURIComponent calls per URL), kept as the baseline bench/playlist.ts measures the shipped
 * writer (http/playlist.ts) against. Same bytes: the benchmark checks.
 */
import { HOLE } from '../storage/best-segments.ts'
import { formatDuration } from '../storage/segment-name.ts'
import { formatInstant } from '../storage/time.ts'
import { type MediaPlan, segmentUri } from '../http/playlist.ts'

export function* naiveMediaPlaylistChunks(plan: MediaPlan, perChunk = 1000): Generator<string> {
  let out = `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:${plan.targetDuration}\n#EXT-X-MEDIA-SEQUENCE:0\n`
  let n = 0
  for (const e of plan.entries) {
    if (e === HOLE) {
      out += '#EXT-X-DISCONTINUITY\n'
      continue
    }
    out += `#EXT-X-PROGRAM-DATE-TIME:${formatInstant(e.start)}\n#EXTINF:${formatDuration(e.duration)},\n${segmentUri(e)}\n`
    if (++n % perChunk === 0) {
      yield out
      out = ''
    }
  }
  if (plan.endlist) out += '#EXT-X-ENDLIST\n'
  yield out
}
