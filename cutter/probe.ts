/**
 * What a segment holds, from ffprobe: the video and audio streams (to re-encode edges that match
 * them, and to notice when the stream changed), their PIDs and program (so re-encoded pieces join
 * the copied ones as the same streams). Timestamps come from the packets (ts-packets.ts).
 */
import { probeJson } from './ffmpeg.ts'

export interface VideoInfo {
  index: number
  pid: number | null
  codec: string
  profile: string | null
  /** As ffprobe reports it (H.264: 31 for level 3.1). */
  level: number | null
  width: number
  height: number
  pixFmt: string
  /** `30/1`, `30000/1001`. */
  frameRate: string | null
}

export interface AudioInfo {
  index: number
  pid: number | null
  codec: string
  profile: string | null
  sampleRate: number
  channels: number
  channelLayout: string | null
  bitRate: number | null
}

export interface SourceInfo {
  video: VideoInfo | null
  audio: AudioInfo | null
  /** Every stream, in index order, with its PID: re-encoded pieces keep the same order and PIDs. */
  streams: Array<{ index: number; kind: 'video' | 'audio' | 'other'; pid: number | null }>
  program: { number: number; pmtPid: number } | null
}

interface RawStream {
  index?: number
  codec_type?: string
  codec_name?: string
  profile?: string
  level?: number
  width?: number
  height?: number
  pix_fmt?: string
  r_frame_rate?: string
  sample_rate?: string
  channels?: number
  channel_layout?: string
  bit_rate?: string
  id?: string
}

interface RawProbe {
  streams?: RawStream[]
  programs?: Array<{ program_num?: number; pmt_pid?: number }>
}

const ENTRIES =
  'stream=index,id,codec_type,codec_name,profile,level,width,height,pix_fmt,r_frame_rate,sample_rate,channels,channel_layout,bit_rate' +
  ':program=program_num,pmt_pid'

export async function probeSegment(path: string, options: { signal?: AbortSignal } = {}): Promise<SourceInfo> {
  const raw = (await probeJson(['-show_entries', ENTRIES, `file:${path}`], { signal: options.signal, timeoutMs: 30_000 })) as RawProbe
  return parseProbe(raw)
}

export function parseProbe(raw: RawProbe): SourceInfo {
  const streams = [...(raw.streams ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
  const v = streams.find((s) => s.codec_type === 'video')
  const a = streams.find((s) => s.codec_type === 'audio')
  const program = raw.programs?.[0]
  return {
    video:
      v == null
        ? null
        : {
            index: v.index ?? 0,
            pid: pidOf(v.id),
            codec: v.codec_name ?? 'unknown',
            profile: v.profile ?? null,
            level: typeof v.level === 'number' && v.level > 0 ? v.level : null,
            width: v.width ?? 0,
            height: v.height ?? 0,
            pixFmt: v.pix_fmt ?? 'unknown',
            frameRate:
              v.r_frame_rate != null && /^\d+\/[1-9]\d*$/.test(v.r_frame_rate) && !v.r_frame_rate.startsWith('0/') ? v.r_frame_rate : null
          },
    audio:
      a == null
        ? null
        : {
            index: a.index ?? 0,
            pid: pidOf(a.id),
            codec: a.codec_name ?? 'unknown',
            profile: a.profile ?? null,
            sampleRate: Number(a.sample_rate ?? 0),
            channels: a.channels ?? 0,
            channelLayout: a.channel_layout ?? null,
            bitRate: a.bit_rate != null && /^\d+$/.test(a.bit_rate) ? Number(a.bit_rate) : null
          },
    streams: streams.map((s) => ({
      index: s.index ?? 0,
      kind: s.codec_type === 'video' || s.codec_type === 'audio' ? s.codec_type : 'other',
      pid: pidOf(s.id)
    })),
    program: program?.program_num != null && program.pmt_pid != null ? { number: program.program_num, pmtPid: program.pmt_pid } : null
  }
}

function pidOf(id: string | undefined): number | null {
  if (id == null || !/^0x[0-9a-f]+$/i.test(id)) return null
  return Number.parseInt(id.slice(2), 16)
}

/**
 * How `b` differs from `a` in what decides whether their packets can follow each other in one
 * stream (codec, resolution, pixel format, audio rate and channels), or null when they agree.
 */
export function describeMismatch(a: SourceInfo, b: SourceInfo): string | null {
  const diffs: string[] = []
  if ((a.video == null) !== (b.video == null)) diffs.push(a.video == null ? 'video appears' : 'video disappears')
  if (a.video != null && b.video != null) {
    if (a.video.codec !== b.video.codec) diffs.push(`video codec ${a.video.codec} → ${b.video.codec}`)
    if (a.video.width !== b.video.width || a.video.height !== b.video.height)
      diffs.push(`resolution ${a.video.width}x${a.video.height} → ${b.video.width}x${b.video.height}`)
    if (a.video.pixFmt !== b.video.pixFmt) diffs.push(`pixel format ${a.video.pixFmt} → ${b.video.pixFmt}`)
  }
  if ((a.audio == null) !== (b.audio == null)) diffs.push(a.audio == null ? 'audio appears' : 'audio disappears')
  if (a.audio != null && b.audio != null) {
    if (a.audio.codec !== b.audio.codec) diffs.push(`audio codec ${a.audio.codec} → ${b.audio.codec}`)
    if (a.audio.sampleRate !== b.audio.sampleRate) diffs.push(`sample rate ${a.audio.sampleRate} → ${b.audio.sampleRate}`)
    if (a.audio.channels !== b.audio.channels) diffs.push(`channels ${a.audio.channels} → ${b.audio.channels}`)
  }
  return diffs.length === 0 ? null : diffs.join(', ')
}
