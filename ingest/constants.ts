/** Recorder defaults, in one place. Tests scale the times down; production keeps these. */
export const INGEST_DEFAULTS = Object.freeze({
  /** Mean media playlist poll period (jittered ±10 %). */
  pollMs: 2_000,
  /** A download that took this long is `suspect`: origins cut stuck requests at ~60 s with a clean end. */
  suspectMs: 59_000,
  /** One download attempt (headers and body) is cut after this and becomes `partial`. */
  attemptTimeoutMs: 240_000,
  /** Silence allowed while waiting for headers or the next body chunk. */
  readTimeoutMs: 30_000,
  /** Playlists and init sections must arrive whole within this. */
  playlistTimeoutMs: 10_000,
  /** A segment URL is given up after this long without a full copy (it can no longer be valid). */
  giveUpMs: 20 * 60_000,
  /** Mean pause before retrying a failed download. */
  retryDelayMs: 2_000,
  /**
   * A 404 for an entry the current media playlist still lists (a CDN edge that has not got it yet)
   * is retried this many times, after a jittered pause of about `notFoundDelayMs` each, and only
   * while the entry stays listed: at most ~4.5 s, less than a live window lists a segment.
   */
  notFoundRetries: 3,
  notFoundDelayMs: 1_000,
  /** Downloads at once per worker; a new segment waits for a slot. */
  maxDownloads: 16,
  /** On stop, in-flight downloads get this long to finish before they are cut (and kept as `partial`). */
  stopGraceMs: 5_000,
  /** Backoff ceiling after playlist errors; an `important` channel uses the short one. */
  backoffMaxMs: 30_000,
  importantBackoffMaxMs: 4_000,
  /** A PROGRAM-DATE-TIME this far from the previous start + duration is a skew (µs). */
  skewToleranceUs: 10_000,
  /** Largest playlist / init section accepted, bytes. */
  maxPlaylistBytes: 4 * 1024 * 1024,
  maxInitBytes: 4 * 1024 * 1024
})

export type IngestOptions = { -readonly [K in keyof typeof INGEST_DEFAULTS]: number }
