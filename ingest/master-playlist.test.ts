import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parsePlaylist } from './hls.ts'
import { selectVariant } from './master-playlist.ts'
import type { MasterPlaylist } from './hls.ts'

const BASE = 'http://origin.test/hls/master.m3u8'

function master(...lines: string[]): MasterPlaylist {
  const parsed = parsePlaylist(['#EXTM3U', ...lines, ''].join('\n'), BASE)
  assert.ok(parsed.isMasterPlaylist)
  return parsed
}

const TWITCH = master(
  '#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="chunked",NAME="1080p60 (source)",AUTOSELECT=YES,DEFAULT=YES',
  '#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080,FRAME-RATE=60.000,VIDEO="chunked"',
  'chunked.m3u8',
  '#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="720p60",NAME="720p60",AUTOSELECT=YES,DEFAULT=YES',
  '#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,FRAME-RATE=60.000,VIDEO="720p60"',
  'https://cdn.test/720p60.m3u8',
  '#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="480p30",NAME="480p",AUTOSELECT=YES,DEFAULT=YES',
  '#EXT-X-STREAM-INF:BANDWIDTH=1400000,RESOLUTION=852x480,FRAME-RATE=30.000,VIDEO="480p30"',
  '480p30.m3u8'
)

describe('selectVariant', () => {
  it('finds source, and others by group, name or resolution, resolving the URI', () => {
    assert.equal(selectVariant(TWITCH, BASE, 'source'), 'http://origin.test/hls/chunked.m3u8')
    assert.equal(selectVariant(TWITCH, BASE, '720p60'), 'https://cdn.test/720p60.m3u8')
    assert.equal(selectVariant(TWITCH, BASE, '480p'), 'http://origin.test/hls/480p30.m3u8')
    assert.equal(selectVariant(TWITCH, BASE, '480P30'), 'http://origin.test/hls/480p30.m3u8', 'case does not matter')
    assert.equal(selectVariant(TWITCH, BASE, '1080p60'), 'http://origin.test/hls/chunked.m3u8')
  })

  it('takes the highest bandwidth as source when no variant says it is', () => {
    const plain = master(
      '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360',
      'low.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080',
      'high.m3u8'
    )
    assert.equal(selectVariant(plain, BASE, 'source'), 'http://origin.test/hls/high.m3u8')
    assert.equal(selectVariant(plain, BASE, '360p'), 'http://origin.test/hls/low.m3u8')
  })

  it('says which qualities exist when the one asked for does not', () => {
    assert.throws(() => selectVariant(TWITCH, BASE, '160p'), {
      code: 'SEGMESH_ERR_INGEST_NO_VARIANT',
      message: /no variant '160p' \(offers: chunked, 720p60, 480p30\)/
    })
  })
})
