/** hls-parser, quiet: a malformed origin playlist becomes our PlaylistError, not console noise. */
import HLS from 'hls-parser'
import { PlaylistError } from './errors.ts'

export type MasterPlaylist = HLS.types.MasterPlaylist
export type MediaPlaylist = HLS.types.MediaPlaylist
export type HlsSegment = HLS.types.Segment

export function parsePlaylist(text: string, url: string): MasterPlaylist | MediaPlaylist {
  if (!text.trimStart().startsWith('#EXTM3U')) throw new PlaylistError(`${url} is not an HLS playlist (no #EXTM3U)`)
  // The options are global; parse() is synchronous, so nothing else can see the change.
  const saved = HLS.getOptions()
  HLS.setOptions({ strictMode: false, silent: true })
  try {
    return HLS.parse(text)
  } catch (err) {
    throw new PlaylistError(`${url}: ${(err as Error).message}`, { cause: err })
  } finally {
    HLS.setOptions(saved)
  }
}

/** A playlist's URI made absolute against the playlist's own URL. */
export function resolveUri(uri: string, base: string): string {
  return new URL(uri, base).href
}
