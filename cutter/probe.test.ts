import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { segmentFiles } from '../test/helpers/media.ts'
import { matchingEncodeArgs } from './encode-args.ts'
import { type SourceInfo, describeMismatch, parseProbe, probeSegment } from './probe.ts'

const SAMPLE = {
  programs: [{ program_num: 1, pmt_pid: 4096 }],
  streams: [
    {
      index: 1,
      codec_name: 'aac',
      profile: 'LC',
      codec_type: 'audio',
      sample_rate: '48000',
      channels: 2,
      channel_layout: 'stereo',
      id: '0x101',
      bit_rate: '66996'
    },
    {
      index: 0,
      codec_name: 'h264',
      profile: 'Constrained Baseline',
      codec_type: 'video',
      width: 320,
      height: 180,
      pix_fmt: 'yuv420p',
      level: 13,
      id: '0x100',
      r_frame_rate: '30/1'
    },
    { index: 2, codec_name: 'timed_id3', codec_type: 'data', id: '0x102' }
  ]
}

describe('probe', () => {
  it("reads ffprobe's JSON: streams in index order with PIDs, and the program", () => {
    const info = parseProbe(SAMPLE)
    assert.deepEqual(info.streams, [
      { index: 0, kind: 'video', pid: 0x100 },
      { index: 1, kind: 'audio', pid: 0x101 },
      { index: 2, kind: 'other', pid: 0x102 }
    ])
    assert.deepEqual(info.video, {
      index: 0,
      pid: 0x100,
      codec: 'h264',
      profile: 'Constrained Baseline',
      level: 13,
      width: 320,
      height: 180,
      pixFmt: 'yuv420p',
      frameRate: '30/1'
    })
    assert.deepEqual(info.audio, {
      index: 1,
      pid: 0x101,
      codec: 'aac',
      profile: 'LC',
      sampleRate: 48000,
      channels: 2,
      channelLayout: 'stereo',
      bitRate: 66996
    })
    assert.deepEqual(info.program, { number: 1, pmtPid: 4096 })
  })

  it('names what changed between two sources', () => {
    const a = parseProbe(SAMPLE)
    assert.equal(describeMismatch(a, a), null)
    const b: SourceInfo = {
      ...a,
      video: { ...a.video!, width: 1280, height: 720, pixFmt: 'yuv420p10le' },
      audio: { ...a.audio!, sampleRate: 44100 }
    }
    assert.equal(describeMismatch(a, b), 'resolution 320x180 → 1280x720, pixel format yuv420p → yuv420p10le, sample rate 48000 → 44100')
    assert.equal(describeMismatch(a, { ...a, audio: null }), 'audio disappears')
    // Profile and bit rate may differ: packets still follow each other.
    assert.equal(describeMismatch(a, { ...a, video: { ...a.video!, profile: 'High' }, audio: { ...a.audio!, bitRate: 128000 } }), null)
  })

  it('probes a real segment', async () => {
    const [file] = await segmentFiles(12)
    const info = await probeSegment(file!)
    assert.equal(info.video?.codec, 'h264')
    assert.equal(info.video?.width, 320)
    assert.equal(info.audio?.sampleRate, 48000)
    assert.equal(info.audio?.channels, 2)
    assert.equal(info.video?.pid, 0x100)
  })
})

describe('matching encoder arguments', () => {
  it('keep codec, profile, level, pixel format, audio format, stream order, PIDs and program; no B-frames', () => {
    const args = matchingEncodeArgs(parseProbe(SAMPLE)).join(' ')
    assert.match(args, /^-map 0:0 -streamid 0:256 -map 0:1 -streamid 1:257 /)
    assert.match(args, /-c:v libx264 .*-profile:v baseline -level:v 1\.3 -pix_fmt yuv420p -bf 0/)
    assert.match(args, /-c:a aac -ar 48000 -ac 2 -b:a 67k/)
    assert.match(args, /-mpegts_service_id 1 -mpegts_pmt_start_pid 4096$/)
    assert.doesNotMatch(args, /-map 0:2/, 'data streams are not re-encoded')
  })

  it('maps High and HEVC profiles, and leaves unknown codecs to ffmpeg', () => {
    const base = parseProbe(SAMPLE)
    assert.match(
      matchingEncodeArgs({ ...base, video: { ...base.video!, profile: 'High', level: 41 } }).join(' '),
      /-profile:v high -level:v 4\.1/
    )
    assert.match(
      matchingEncodeArgs({ ...base, video: { ...base.video!, codec: 'hevc', profile: 'Main 10' } }).join(' '),
      /-c:v libx265 .*-profile:v main10/
    )
    assert.match(
      matchingEncodeArgs({ ...base, video: { ...base.video!, codec: 'mpeg2video', profile: null } }).join(' '),
      /-c:v mpeg2video -pix_fmt/
    )
    assert.match(
      matchingEncodeArgs({ ...base, audio: { ...base.audio!, codec: 'mp3', bitRate: null } }).join(' '),
      /-c:a libmp3lame -ar 48000 -ac 2(?! -b:a)/
    )
  })
})
