/**
 * Which playlist entries are ads, never to be recorded:
 * - inside a CUE-OUT … CUE-IN break (EXT-X-CUE-OUT-CONT marks an entry inside one), including
 *   EXT-X-SCTE35 / EXT-OATCLS-SCTE35 cues that say CUE-OUT / CUE-IN;
 * - starting inside an EXT-X-DATERANGE of an ad class, or one carrying SCTE35-OUT;
 * - titled "Amazon…" (Twitch's stitched ads).
 * A break opened in one poll can close in a later one, and a DATERANGE tag can scroll out of the
 * window before its last ad does: the caller carries `AdState` from poll to poll.
 */
import type { MediaEntry } from './media-playlist.ts'

/** EXT-X-DATERANGE classes that mark ad breaks. */
const AD_CLASSES: ReadonlySet<string> = new Set(['twitch-stitched-ad', 'com.apple.hls.interstitial', 'scte35'])

export interface AdState {
  /** A CUE-OUT was seen and no CUE-IN since. */
  inBreak: boolean
  /** Ad DATERANGEs still relevant, µs; open-ended ones end at +∞ until a CUE-IN. */
  ranges: Array<{ id: string; from: number; to: number }>
}

export function emptyAdState(): AdState {
  return { inBreak: false, ranges: [] }
}

function cueOf(tagName: string | undefined, value: unknown): 'out' | 'in' | null {
  const text = typeof value === 'string' ? value.toUpperCase() : ''
  if (tagName === 'EXT-X-CUE-OUT-CONT') return 'out'
  if (tagName === 'EXT-X-SCTE35' || tagName === 'EXT-OATCLS-SCTE35' || tagName === 'EXT-X-CUE') {
    if (/CUE-OUT|TYPE=?"?OUT/.test(text)) return 'out'
    if (/CUE-IN|TYPE=?"?IN/.test(text)) return 'in'
  }
  return null
}

/** Seconds attribute → µs (ad edges only; names never come from these). */
function micros(seconds: unknown): number | null {
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1_000_000) : null
}

/**
 * One flag per entry (true = ad). `starts` are the entries' start times (µs). `state` is updated
 * in place to what holds after the last entry.
 */
export function adFlags(entries: readonly MediaEntry[], starts: readonly number[], state: AdState): boolean[] {
  return entries.map((entry, i) => {
    const start = starts[i]!
    const { segment } = entry
    let cue: 'out' | 'in' | 'cont' | null = null
    for (const marker of segment.markers) {
      if (marker.type === 'OUT') cue = 'out'
      else if (marker.type === 'IN') cue = 'in'
      else if (marker.type === 'RAW') {
        const c = cueOf(marker.tagName, marker.value)
        if (c === 'out') cue = marker.tagName === 'EXT-X-CUE-OUT-CONT' ? (cue ?? 'cont') : 'out'
        else if (c === 'in') cue = 'in'
      }
    }
    const range = segment.dateRange
    if (range?.start != null) {
      const attrs = range.attributes ?? {}
      const isAd = AD_CLASSES.has((range.classId ?? '').toLowerCase()) || attrs['SCTE35-OUT'] != null
      const from = range.start.getTime() * 1000
      if (isAd && !state.ranges.some((r) => r.id === range.id)) {
        const length = range.end != null ? range.end.getTime() * 1000 - from : (micros(range.duration) ?? micros(range.plannedDuration))
        state.ranges.push({ id: range.id, from, to: length == null ? Number.POSITIVE_INFINITY : from + length })
      }
      if (attrs['SCTE35-IN'] != null) cue = 'in'
    }
    if (cue === 'out' || cue === 'cont') state.inBreak = true
    if (cue === 'in') {
      state.inBreak = false
      // A CUE-IN also closes open-ended ad ranges.
      for (const r of state.ranges) if (r.to === Number.POSITIVE_INFINITY && r.from <= start) r.to = start
    }
    // Ranges that ended before this entry will never matter again.
    state.ranges = state.ranges.filter((r) => r.to > start)
    const inRange = state.ranges.some((r) => r.from <= start && start < r.to)
    return state.inBreak || inRange || (segment.title ?? '').startsWith('Amazon')
  })
}
