/**
 * A node that holds nothing serves an hour only its peer holds (issue 15): two real nodes in this
 * process (HTTP and libp2p on 127.0.0.1), the holder with one hour of real 2 s segments made by
 * ffmpeg, three hours ago, the reader joined to it with a one-hour replication window (so
 * replication never copies that hour: everything it serves is read through).
 *
 *   node --import tsx --import ./node/compat.ts bench/read-through-playlist.ts [--quick]
 *
 * Prints:
 * - whether the reader's media playlist of the hour is the holder's byte for byte (segment URIs
 *   are relative, so "except the host" is nothing), and its x-segmesh-listing header;
 * - the time to get that playlist from each, cold (first request) and warm (median of 20);
 * - ffprobe decoding every video frame through each node's playlist: frames counted, time, and the
 *   reader's time ÷ the holder's (the reader fetches every segment from the holder on the way);
 * - a 60 s fast cut of a range the reader does not hold yet, through the reader and on the holder,
 *   in rounds over fresh ranges: times, ratio (goal ≤ 2×) and whether the bytes are the same.
 * The cuts come first: ffprobe through the reader brings the whole hour over.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { request } from 'undici'
import { NETWORK_HEADER } from '../http/network-listings.ts'
import { MICROS_PER_HOUR, formatInstant, hourStart } from '../storage/time.ts'
import { segmentFiles } from '../test/helpers/media.ts'
import { QUICK, machineInfo, ms, table } from './common.ts'
import { median } from './http-util.ts'
import { Cluster, until } from './replication-net.ts'

const run = promisify(execFile)
const SEGMENTS = QUICK ? 150 : 1800
const CUT_ROUNDS = QUICK ? 1 : 5

async function get(url: string): Promise<{ text: string; header: unknown; ms: number }> {
  const t = performance.now()
  const res = await request(url)
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode} ${text}`)
  return { text, header: res.headers[NETWORK_HEADER], ms: performance.now() - t }
}

/** The whole body of a GET and how long it took. */
async function timedBody(url: string): Promise<{ body: Buffer; ms: number }> {
  const t = performance.now()
  const res = await request(url)
  const body = Buffer.from(await res.body.arrayBuffer())
  if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode} ${body.subarray(0, 300)}`)
  return { body, ms: performance.now() - t }
}

/** ffprobe decodes every video frame the playlist reaches: frames counted and seconds taken. */
async function probeFrames(url: string): Promise<{ frames: number; seconds: number }> {
  const t = performance.now()
  // biome-ignore format: command-line flags read best as flag/value pairs on a line
  const { stdout } = await run('ffprobe', [
    '-v', 'error', '-select_streams', 'v:0', '-count_frames',
    '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', url
  ], { maxBuffer: 1024 * 1024 })
  return { frames: Number(stdout.trim().split('\n')[0]), seconds: (performance.now() - t) / 1000 }
}

async function main(): Promise<void> {
  console.log(machineInfo())
  const files = await segmentFiles(SEGMENTS)
  const cluster = new Cluster('read-through-playlist-')
  try {
    const hourUs = hourStart(Date.now() * 1000) - 3 * MICROS_PER_HOUR
    const holder = await cluster.start()
    for (const [i, file] of files.entries()) {
      await holder.store.recordSegment(
        { channel: 'live', quality: 'source', start: hourUs + i * 2_000_000, duration: 2_000_000, type: 'full' },
        await readFile(file)
      )
    }
    const reader = await cluster.start({ bootstrap: [holder], flags: { 'window-hours': '1' } })
    if (!(await until(() => reader.replicator?.peers.get(holder.host!.peerId)?.roots.size === 1, 20_000)))
      throw new Error('the reader never learned the holder')

    // A 60 s fast cut of a range the reader does not hold (fresh ranges each round, so every
    // read-through cut fetches its 31 segments), against the same cut on the holder.
    const cuts: string[][] = []
    const ratios: number[] = []
    for (let round = 0; round < CUT_ROUNDS; round++) {
      const from = hourUs + (120 + round * 90) * 1_000_000 + 500_000
      const cutPath = `/cut/live/source.ts?start=${formatInstant(from)}&end=${formatInstant(from + 60_000_000)}&type=fast`
      const onHolder = await timedBody(`${holder.url}${cutPath}`)
      const through = await timedBody(`${reader.url}${cutPath}`)
      ratios.push(through.ms / onHolder.ms)
      cuts.push([
        String(round + 1),
        ms(onHolder.ms),
        ms(through.ms),
        `${(through.ms / onHolder.ms).toFixed(2)}×`,
        onHolder.body.equals(through.body) ? 'same bytes' : `${onHolder.body.length} vs ${through.body.length} B`
      ])
    }
    console.log(table(['60 s fast cut', 'on the holder', 'through the reader', 'reader ÷ holder', 'output'], cuts))
    console.log(`median reader ÷ holder: ${median(ratios).toFixed(2)}× (goal ≤ 2×)`)

    const path = `/playlist/live/source.m3u8?start=${formatInstant(hourUs)}&end=${formatInstant(hourUs + SEGMENTS * 2_000_000)}`
    const cold = await get(`${reader.url}${path}`)
    const direct = await get(`${holder.url}${path}`)
    const warm: number[] = []
    const warmDirect: number[] = []
    for (let i = 0; i < 20; i++) {
      warm.push((await get(`${reader.url}${path}`)).ms)
      warmDirect.push((await get(`${holder.url}${path}`)).ms)
    }
    console.log(
      `playlist of ${SEGMENTS} segments: reader's ${cold.text === direct.text ? 'equals' : 'DIFFERS FROM'} the holder's byte for byte (${cold.text.length} bytes); ${NETWORK_HEADER}: ${String(cold.header)}`
    )
    const viaHolder = await probeFrames(`${holder.url}${path}`)
    const viaReader = await probeFrames(`${reader.url}${path}`)
    console.log(
      table(
        ['', 'holder', 'reader (read-through)', 'reader ÷ holder'],
        [
          ['playlist, first request', ms(direct.ms), ms(cold.ms), `${(cold.ms / direct.ms).toFixed(2)}×`],
          ['playlist, median of 20 more', ms(median(warmDirect)), ms(median(warm)), `${(median(warm) / median(warmDirect)).toFixed(2)}×`],
          [
            'ffprobe: video frames decoded',
            String(viaHolder.frames),
            String(viaReader.frames),
            viaHolder.frames === viaReader.frames ? 'same' : 'DIFFERENT'
          ],
          [
            'ffprobe: seconds',
            viaHolder.seconds.toFixed(1),
            viaReader.seconds.toFixed(1),
            `${(viaReader.seconds / viaHolder.seconds).toFixed(2)}×`
          ]
        ]
      )
    )
    console.log(`expected frames: ${SEGMENTS * 2 * 30} (${SEGMENTS} segments of 2 s at 30 fps)`)
  } finally {
    await cluster.stopAll()
  }
}

await main()
