/**
 * Encoder arguments for a fast cut's re-encoded edges: the source's codec, profile, level, pixel
 * format, audio rate and channels, and the same stream order, PIDs and program, so that the
 * re-encoded piece and the copied segments after it read as one stream. No B-frames (`-bf 0`):
 * a joined stream must not reorder frames across a join. Resolution and frame rate carry over
 * from the decoded input untouched (no scaling, passthrough timing).
 */
import type { AudioInfo, SourceInfo, VideoInfo } from './probe.ts'

/** ffprobe's H.264 profile names → libx264 `-profile:v`. */
const X264_PROFILES: Record<string, string> = {
  'Constrained Baseline': 'baseline',
  Baseline: 'baseline',
  Main: 'main',
  High: 'high',
  'High 10': 'high10',
  'High 4:2:2': 'high422',
  'High 4:4:4 Predictive': 'high444'
}

const X265_PROFILES: Record<string, string> = { Main: 'main', 'Main 10': 'main10', 'Main Still Picture': 'mainstillpicture' }

const AUDIO_ENCODERS: Record<string, string> = { aac: 'aac', mp3: 'libmp3lame', opus: 'libopus', ac3: 'ac3', eac3: 'eac3', mp2: 'mp2' }

/** Quality of re-encoded edges: visually close to a typical stream at a speed that keeps a cut interactive. */
const EDGE_PRESET = 'veryfast'
const EDGE_CRF = '18'

function videoArgs(v: VideoInfo): string[] {
  const args: string[] = []
  if (v.codec === 'h264') {
    args.push('-c:v', 'libx264', '-preset', EDGE_PRESET, '-crf', EDGE_CRF)
    const profile = v.profile == null ? undefined : X264_PROFILES[v.profile]
    if (profile != null) args.push('-profile:v', profile)
    // ffprobe reports 31 for level 3.1; 9 is level 1b, which libx264 writes by itself.
    if (v.level != null && v.level >= 10 && v.level <= 62) args.push('-level:v', `${Math.floor(v.level / 10)}.${v.level % 10}`)
  } else if (v.codec === 'hevc') {
    args.push('-c:v', 'libx265', '-preset', EDGE_PRESET, '-crf', EDGE_CRF, '-x265-params', 'log-level=error')
    const profile = v.profile == null ? undefined : X265_PROFILES[v.profile]
    if (profile != null) args.push('-profile:v', profile)
  } else {
    // ffmpeg picks its default encoder for the codec name.
    args.push('-c:v', v.codec)
  }
  args.push('-pix_fmt', v.pixFmt, '-bf', '0', '-fps_mode', 'passthrough', '-enc_time_base:v', '-1')
  return args
}

function audioArgs(a: AudioInfo): string[] {
  const args = ['-c:a', AUDIO_ENCODERS[a.codec] ?? a.codec]
  if (a.sampleRate > 0) args.push('-ar', String(a.sampleRate))
  if (a.channels > 0) args.push('-ac', String(a.channels))
  // Rounded to kb/s: MPEG-TS bit rates are estimates.
  if (a.bitRate != null && a.bitRate >= 8000) args.push('-b:a', `${Math.round(a.bitRate / 1000)}k`)
  return args
}

/** `-map`, codec, PID and program arguments that re-encode input 0 like `source` into MPEG-TS. */
export function matchingEncodeArgs(source: SourceInfo): string[] {
  const args: string[] = []
  let out = 0
  for (const s of source.streams) {
    if (s.kind === 'other') continue
    if ((s.kind === 'video' && s.index !== source.video?.index) || (s.kind === 'audio' && s.index !== source.audio?.index)) continue
    args.push('-map', `0:${s.index}`)
    if (s.pid != null && s.pid >= 0x10 && s.pid < 0x1fff) args.push('-streamid', `${out}:${s.pid}`)
    out++
  }
  if (source.video != null) args.push(...videoArgs(source.video))
  if (source.audio != null) args.push(...audioArgs(source.audio))
  if (source.program != null) {
    args.push('-mpegts_service_id', String(source.program.number))
    if (source.program.pmtPid >= 0x10 && source.program.pmtPid < 0x1fff) args.push('-mpegts_pmt_start_pid', String(source.program.pmtPid))
  }
  return args
}
