/**
 * Variant selection in a master playlist by quality name. A variant answers to its VIDEO rendition's
 * GROUP-ID and NAME, and to `<height>p` / `<height>p<fps>` from its RESOLUTION and FRAME-RATE.
 * `source` is the variant marked as such (Twitch: group `chunked`, name "… (source)"), else the
 * one with the highest bandwidth.
 */
import { VariantNotFoundError } from './errors.ts'
import { type MasterPlaylist, resolveUri } from './hls.ts'

type Variant = MasterPlaylist['variants'][number]

const SOURCE_QUALITY = 'source'

/** Every name a variant answers to, lower-cased. */
function variantNames(variant: Variant): string[] {
  const names = new Set<string>()
  for (const rendition of variant.video) {
    names.add(rendition.groupId.toLowerCase())
    const name = rendition.name.toLowerCase()
    names.add(name)
    if (name.includes('(source)')) names.add(SOURCE_QUALITY)
    names.add(name.replace(/\s*\(.*\)\s*$/, ''))
  }
  if (names.has('chunked')) names.add(SOURCE_QUALITY)
  const height = variant.resolution?.height
  if (height != null) {
    names.add(`${height}p`)
    if (variant.frameRate != null) names.add(`${height}p${Math.round(variant.frameRate)}`)
  }
  return [...names]
}

/** The media playlist URL for `quality`, resolved against the master's URL. */
export function selectVariant(master: MasterPlaylist, masterUrl: string, quality: string): string {
  const wanted = quality.toLowerCase()
  const candidates = master.variants.filter((v) => !v.isIFrameOnly)
  let chosen = candidates.find((v) => variantNames(v).includes(wanted))
  if (chosen == null && wanted === SOURCE_QUALITY) {
    chosen = candidates.reduce<Variant | undefined>((best, v) => (best == null || v.bandwidth > best.bandwidth ? v : best), undefined)
  }
  if (chosen == null) {
    const offered = candidates.map((v) => variantNames(v)[0] ?? v.uri).join(', ')
    throw new VariantNotFoundError(`${masterUrl} has no variant '${quality}' (offers: ${offered || 'none'})`)
  }
  return resolveUri(chosen.uri, masterUrl)
}
