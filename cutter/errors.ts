/** Errors of the cutter. Match on `code` (or `name`), never on the message. */
import { CodedError } from '../lib/coded-error.ts'

export class CutError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_CUT'
}

/** ffmpeg or ffprobe failed; `stderr` holds what it printed (log level `error`). */
export class FfmpegError extends CutError {
  override readonly code: string = 'SEGMESH_ERR_FFMPEG'
  readonly tool: string
  readonly exitCode: number | null
  readonly signal: string | null
  readonly stderr: string

  constructor(
    tool: string,
    message: string,
    details: { exitCode?: number | null; signal?: string | null; stderr?: string; cause?: unknown } = {}
  ) {
    super(message, { cause: details.cause })
    this.tool = tool
    this.exitCode = details.exitCode ?? null
    this.signal = details.signal ?? null
    this.stderr = details.stderr ?? ''
  }
}

/** The ranges change codec, resolution or audio format, so pieces cannot be joined by copying. */
export class StreamMismatchError extends CutError {
  override readonly code: string = 'SEGMESH_ERR_STREAM_MISMATCH'
}

/** Every ffmpeg slot is taken. */
export class CutterBusyError extends CutError {
  override readonly code: string = 'SEGMESH_ERR_CUTTER_BUSY'
  readonly retryAfterSeconds: number

  constructor(message: string, retryAfterSeconds: number) {
    super(message)
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/** The data holds no frame at or after the instant (a hole, or past the last frame). */
export class NoFrameError extends CutError {
  override readonly code: string = 'SEGMESH_ERR_NO_FRAME'
}
