/**
 * Segment serving: segmesh's `GET /segments/...` against a minimal node:http static server on the
 * same files, under wrk (32 keep-alive connections, uniformly random segment per request).
 * Each server runs in its own process; rounds are interleaved so both see the same neighbours.
 *
 *   node --import tsx --import ./node/compat.ts bench/serving.ts [options]
 *     --segments N        dataset size (default 300)
 *     --media random|ffmpeg  random bytes (default; the servers never parse them) or a real encode
 *     --seconds S         measured seconds per run (default 15), after --warmup S (default 5)
 *     --rounds R          interleaved rounds (default 4)
 *     --servers a,b,...   default segmesh,node,segmesh-mr. segmesh is `bin/segmesh start` itself (the
 *                         node flags it ships with); segmesh-w1 … segmesh-w4 the same with --http-workers 1 … 4;
 *                         segmesh-mr the same without --no-memory-reducer
 *                         (as first shipped); node the baseline; also node-256k, segmesh-nometrics
 *                         and the bench-only variants of bench/serving-variants.ts: app (its unchanged
 *                         route), segmesh-raw, segmesh-1m, segmesh-raw-1m. A `+nmr` suffix runs a
 *                         bench script (node*, variants) with node --no-memory-reducer.
 *                         `nginx` is Debian's nginx serving the same folder with sendfile (what wubloader's
 *                         operators run): `--servers segmesh,nginx --baseline nginx`.
 *     --baseline NAME     the server each round's ratio is against (default node)
 *     --quick             8 s runs, 1 round (smoke test)
 *
 * Needs wrk, and for `nginx` nginx: when either is missing it runs `bin/setup --bench`, which installs
 * Debian's `wrk` and `nginx-light`. Everything lives in a temp folder that is removed at the end.
 */
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { get } from 'node:http'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { freePorts } from '../lib/free-ports.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import {
  type Child,
  ROOT,
  TSX_ARGS,
  boxCpuSeconds,
  flag,
  fmt,
  machine,
  median,
  numberOption,
  option,
  printMachine,
  processCpuSeconds,
  processDiskReadBytes,
  runBounded,
  startChild,
  stopAll,
  table,
  waitForQuiet
} from './http-util.ts'

const QUICK = flag('quick')
const COUNT = numberOption('segments', 300)
const MEDIA = option('media') ?? 'random'
const SECONDS = numberOption('seconds', QUICK ? 8 : 15)
const WARMUP = numberOption('warmup', QUICK ? 2 : 5)
const ROUNDS = numberOption('rounds', QUICK ? 1 : 4)
const SERVERS = (option('servers') ?? 'segmesh,node,segmesh-mr').split(',')
const BASELINE = option('baseline') ?? 'node'
const CONNECTIONS = 32
const CHANNEL = 'desertbus'
const QUALITY = 'source'
/** 2020-01-01T00:00:00Z in µs, as in the tests. */
const T0 = Date.UTC(2020, 0, 1) * 1000
const SEGMENT_US = 2_000_000

interface Dataset {
  paths: string[]
  refs: SegmentRef[]
  sizes: number[]
  bytes: number
}

/** ~700–800 KB per 2 s segment: 3 Mbit/s video plus TS overhead, a typical stream. */
async function mediaBodies(work: string, count: number): Promise<AsyncIterable<Buffer>> {
  if (MEDIA === 'random') {
    return (async function* () {
      for (let i = 0; i < count; i++) yield randomBytes(700_000 + Math.floor(Math.random() * 100_000))
    })()
  }
  if (MEDIA !== 'ffmpeg') throw new Error(`--media must be random or ffmpeg, got ${MEDIA}`)
  const raw = join(work, 'raw')
  await mkdir(raw)
  console.log(`encoding ${count} segments with ffmpeg (about ${Math.ceil(count / 100)} min on 2 cores)…`)
  // biome-ignore format: command-line flags read best as flag/value pairs on a line
  const r = await runBounded('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=1280x720:rate=30',
    '-vf', 'noise=alls=20:allf=t+u', '-t', String(count * 2), '-c:v', 'libx264', '-preset', 'ultrafast',
    '-b:v', '3M', '-maxrate', '3M', '-bufsize', '6M', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-pix_fmt', 'yuv420p', '-f', 'segment', '-segment_time', '2', '-segment_format', 'mpegts', join(raw, 'seg%04d.ts')
  ], 30 * 60_000)
  if (r.code !== 0) throw new Error(`ffmpeg failed (${r.timedOut ? 'timed out' : r.code}): ${r.stderr}`)
  const files = (await readdir(raw))
    .filter((n) => n.endsWith('.ts'))
    .sort()
    .slice(0, count)
  return (async function* () {
    for (const f of files) yield await readFile(join(raw, f))
    await rm(raw, { recursive: true, force: true })
  })()
}

/** Store every segment as a recorder would, so segmesh's index knows them (and they get real names). */
async function makeDataset(dir: string): Promise<Dataset> {
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 256 * 1024 ** 2 })
  const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
  const out: Dataset = { paths: [], refs: [], sizes: [], bytes: 0 }
  try {
    let i = 0
    for await (const body of await mediaBodies(dir, COUNT)) {
      const { ref, size } = await store.recordSegment(
        { channel: CHANNEL, quality: QUALITY, start: T0 + i * SEGMENT_US, duration: SEGMENT_US, type: 'full' },
        body
      )
      out.refs.push(ref)
      out.sizes.push(size)
      out.bytes += size
      out.paths.push(`/segments/${CHANNEL}/${QUALITY}/${ref.hour}/${encodeURIComponent(ref.file)}`)
      i++
    }
  } finally {
    await index.stop()
  }
  return out
}

/** Uniformly random path per request, one JSON line at the end (wrk's own output is not parsed). */
const LUA = `
local paths = {}
local counter = 0
function setup (thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init (args)
  local prefix = args[2] or ""
  for line in io.lines(args[1]) do paths[#paths + 1] = prefix .. line end
  math.randomseed(os.time() * 1000 + id * 7919)
end
function request ()
  return wrk.format("GET", paths[math.random(#paths)])
end
function done (summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK-RESULT {"requests":%d,"bytes":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"errors":%d}\\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
`

interface Server {
  name: string
  child: Child
  url: string
  /** Put before every /segments/ path (the bench-only variants live under /v/NAME). */
  prefix: string
  /** V8 collections so far, as the server itself counts them (null: it cannot say). */
  gc: () => Promise<GcCounts | null>
}

interface GcCounts {
  markCompact: number
  scavenge: number
}

/**
 * GC counts from inside the server, so no server runs with extra V8 flags (`--trace-gc` writes a
 * line per collection): segmesh and the variants from prom-client's `nodejs_gc_duration_seconds`
 * on /metrics, the static baseline from the same perf_hooks observer behind its `GET /gc`.
 */
async function gcFromMetrics(url: string): Promise<GcCounts | null> {
  const res = await fetchOnce(`${url}/metrics`)
  if (res.status !== 200) return null
  const text = res.body.toString()
  const count = (kind: string): number =>
    Number(new RegExp(`^nodejs_gc_duration_seconds_count\\{kind="${kind}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
  return { markCompact: count('major'), scavenge: count('minor') }
}

async function gcFromStatic(url: string): Promise<GcCounts | null> {
  const res = await fetchOnce(`${url}/gc`)
  const { major, minor } = JSON.parse(res.body.toString()) as { major: number; minor: number }
  return { markCompact: major, scavenge: minor }
}

/**
 * V8's memory reducer shrinks an idle node's heap; under load afterwards segmesh's heap stayed
 * small and ran a full mark-compact every ~100 ms (docs/BENCHMARKS.md), which is why bin/segmesh
 * runs node with `--no-memory-reducer`. `+nmr` gives a bench script the same flag (a V8 flag:
 * refused in NODE_OPTIONS and too late at run time).
 */
const NO_MEMORY_REDUCER = '+nmr'

/** Bench-only routes of bench/serving-variants.ts; `app` is the real segment route in that process. */
const VARIANTS: Record<string, string> = { app: '', 'segmesh-raw': '/v/raw', 'segmesh-1m': '/v/send-1m', 'segmesh-raw-1m': '/v/raw-1m' }
/** One process per V8 setting serves every variant; it is started with the first one asked for. */
const variants = new Map<boolean, Promise<{ child: Child; match: RegExpExecArray }>>()

/** The ratio each baseline's goal asks of segmesh (issue 3: a minimal node server; issue 17: nginx). */
const GOALS: Record<string, number> = { node: 0.8, nginx: 0.5 }

/** nginx as a static server of the segment tree: sendfile, keep-alive, no access log, 2 workers. */
async function startNginx(name: string, dir: string): Promise<Server> {
  const [port] = await freePorts(1)
  const conf = join(dir, 'nginx.conf')
  await writeFile(
    conf,
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { video/mp2t ts; }
  client_body_temp_path ${join(dir, 'nginx-body')};
  server {
    listen 127.0.0.1:${port};
    location /segments/ { alias ${join(dir, 'segments')}/; }
  }
}
`
  )
  // Its log goes to stderr; the shell hands it to stdout, where startChild waits for the workers.
  const { child } = await startChild(
    name,
    'sh',
    ['-c', `exec nginx -c '${conf}' -p '${dir}' -g 'daemon off;' 2>&1`],
    /start worker process/,
    30_000
  )
  return { name, child, url: `http://127.0.0.1:${port}`, prefix: '', gc: async () => null }
}

async function startServer(name: string, dir: string): Promise<Server> {
  const nmr = name.endsWith(NO_MEMORY_REDUCER)
  const base = nmr ? name.slice(0, -NO_MEMORY_REDUCER.length) : name
  const v8Flags = nmr ? ['--no-memory-reducer'] : []
  // biome-ignore format: command-line flags read best as flag/value pairs on a line
  const startArgs = [
    'start', '--data', dir, '--http-host', '127.0.0.1', '--http-port', '0', '--log-level', 'warn',
    // Boolean flags take no value (`--watch false` is refused). Serving only: no p2p listener.
    '--no-watch', '--no-replication'
  ]
  const segmesh = async (command: string, args: string[], metrics = true): Promise<Server> => {
    const { child, match } = await startChild(name, command, args, /^segmesh listening on (\S+)/, 60_000)
    const url = match[1]!
    return { name, child, url, prefix: '', gc: async () => (metrics ? await gcFromMetrics(url) : null) }
  }
  const script = async (file: string, args: string[]): Promise<Server> => {
    const { child, match } = await startChild(
      name,
      process.execPath,
      [...v8Flags, ...TSX_ARGS, file, ...args],
      /listening on (\S+)/,
      60_000
    )
    const url = match[1]!
    return { name, child, url, prefix: '', gc: async () => await gcFromStatic(url) }
  }
  switch (base) {
    // Exactly as shipped: the launcher itself, with whatever node flags it sets.
    case 'segmesh':
      return await segmesh(join(ROOT, 'bin/segmesh'), startArgs)
    case 'segmesh-w1':
    case 'segmesh-w2':
    case 'segmesh-w3':
    case 'segmesh-w4':
      return await segmesh(join(ROOT, 'bin/segmesh'), [...startArgs, '--http-workers', base.slice('segmesh-w'.length)])
    case 'segmesh-nometrics':
      return await segmesh(join(ROOT, 'bin/segmesh'), [...startArgs, '--no-metrics'], false)
    // As first shipped: what bin/segmesh execs, without --no-memory-reducer.
    case 'segmesh-mr':
      return await segmesh(process.execPath, [
        '--import',
        pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
        join(ROOT, 'node/cli.ts'),
        ...startArgs
      ])
    case 'node':
      return await script('bench/serving-static.ts', [join(dir, 'segments')])
    case 'nginx':
      return await startNginx(name, dir)
    case 'node-256k':
      return await script('bench/serving-static.ts', [join(dir, 'segments'), String(256 * 1024)])
  }
  const prefix = VARIANTS[base]
  if (prefix == null) throw new Error(`unknown server ${name}`)
  let started = variants.get(nmr)
  if (started == null) {
    started = startChild(
      `variants${nmr ? NO_MEMORY_REDUCER : ''}`,
      process.execPath,
      [...v8Flags, ...TSX_ARGS, 'bench/serving-variants.ts', dir],
      /listening on (\S+)/,
      60_000
    )
    variants.set(nmr, started)
  }
  const { child, match } = await started
  const url = match[1]!
  return { name, child, url, prefix, gc: async () => await gcFromMetrics(url) }
}

async function fetchOnce(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return await new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)))
    req.on('error', reject)
  })
}

/** Status 200, the right Content-Length, and a body whose sha256 is the hash in its name; 404 for an unknown name. */
async function verify(server: Server, data: Dataset): Promise<string> {
  const i = Math.floor(data.paths.length / 2)
  const res = await fetchOnce(server.url + server.prefix + data.paths[i]!)
  const digest = createHash('sha256').update(res.body).digest('base64url')
  const expected = data.refs[i]!.hash!.toString('base64url')
  const problems: string[] = []
  if (res.status !== 200) problems.push(`status ${res.status}`)
  if (res.headers['content-length'] !== String(data.sizes[i]))
    problems.push(`content-length ${String(res.headers['content-length'])} != ${data.sizes[i]}`)
  if (res.body.length !== data.sizes[i]) problems.push(`body ${res.body.length} bytes`)
  if (digest !== expected) problems.push(`sha256 ${digest} != ${expected}`)
  const missing = await fetchOnce(server.url + server.prefix + data.paths[i]!.replace(/-full-[A-Za-z0-9_-]{5}/, '-full-AAAAA'))
  if (missing.status !== 404) problems.push(`unknown name gave ${missing.status}`)
  if (problems.length > 0) throw new Error(`${server.name} serves wrong bytes: ${problems.join(', ')}`)
  return `${server.name}: 200, content-length ${data.sizes[i]}, sha256 matches the name; unknown name → 404`
}

interface Run {
  server: string
  round: number
  reqPerSec: number
  mbPerSec: number
  p50: number
  p99: number
  errors: number
  /** Cores used by the server process (all threads) during the measured run. */
  serverCores: number
  wrkCores: number
  /** Cores busy on the box outside the server and wrk: neighbours plus loopback softirq. */
  restCores: number
  /** MB the server read from storage rather than the page cache (should be ~0). */
  diskMb: number
  /** Full (mark-compact) and young-generation collections per second in the server. */
  markCompactPerSec: number
  scavengePerSec: number
  quietBefore: number
}

async function wrk(
  url: string,
  prefix: string,
  seconds: number,
  lua: string,
  pathsFile: string
): Promise<{ result: Record<string, number>; wrkCpu: number }> {
  // `times` reports the CPU of bash's children, i.e. wrk's.
  const r = await runBounded(
    'bash',
    ['-c', 'wrk "$@" && times', 'bash', '-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '-s', lua, url, '--', pathsFile, prefix],
    (seconds + 20) * 1000
  )
  const line = r.stdout.split('\n').find((l) => l.startsWith('WRK-RESULT '))
  if (r.code !== 0 || line == null) throw new Error(`wrk failed (${r.timedOut ? 'timed out' : r.code}): ${r.stderr}${r.stdout}`)
  const times =
    r.stdout
      .trim()
      .split('\n')
      .at(-1)!
      .match(/(\d+)m([\d.]+)s/g) ?? []
  const wrkCpu = times.reduce((sum, t) => {
    const [, m, s] = /(\d+)m([\d.]+)s/.exec(t)!
    return sum + Number(m) * 60 + Number(s)
  }, 0)
  return { result: JSON.parse(line.slice('WRK-RESULT '.length)) as Record<string, number>, wrkCpu }
}

async function measure(server: Server, round: number, lua: string, pathsFile: string): Promise<Run> {
  await waitForQuiet(0.15, 10_000)
  await wrk(server.url, server.prefix, WARMUP, lua, pathsFile)
  const quietBefore = await waitForQuiet(0.15, 10_000)
  const gc0 = await server.gc()
  const cpu0 = processCpuSeconds(server.child.pid)
  const disk0 = processDiskReadBytes(server.child.pid)
  const box0 = boxCpuSeconds()
  const { result: w, wrkCpu } = await wrk(server.url, server.prefix, SECONDS, lua, pathsFile)
  const cpu1 = processCpuSeconds(server.child.pid)
  const disk1 = processDiskReadBytes(server.child.pid)
  const box1 = boxCpuSeconds()
  const gc1 = await server.gc()
  const seconds = w.durationUs! / 1e6
  const serverCores = (cpu1 - cpu0) / seconds
  const wrkCores = wrkCpu / seconds
  return {
    server: server.name,
    round,
    reqPerSec: w.requests! / seconds,
    mbPerSec: w.bytes! / seconds / 1e6,
    p50: w.p50Us! / 1000,
    p99: w.p99Us! / 1000,
    errors: w.errors!,
    serverCores,
    wrkCores,
    restCores: (box1.busy - box0.busy) / seconds - serverCores - wrkCores,
    diskMb: (disk1 - disk0) / 1e6,
    markCompactPerSec: gc0 == null || gc1 == null ? Number.NaN : (gc1.markCompact - gc0.markCompact) / seconds,
    scavengePerSec: gc0 == null || gc1 == null ? Number.NaN : (gc1.scavenge - gc0.scavenge) / seconds,
    quietBefore
  }
}

export interface ServingResult {
  machine: ReturnType<typeof machine>
  media: string
  segments: number
  meanBytes: number
  seconds: number
  rounds: number
  runs: Run[]
  /** Per server: medians over rounds, and the median of its per-round ratios to node. */
  servers: Record<
    string,
    {
      reqPerSec: number
      mbPerSec: number
      p50: number
      p99: number
      serverCores: number
      cpuMsPerReq: number
      markCompactPerSec: number
      vsNode: number
    }
  >
  /** segmesh/node req/s per round (same round), and their median. */
  ratios: number[]
  ratio: number
}

/** wrk, and nginx when it is one of the servers: installed by `bin/setup --bench` when missing. */
async function ensureTools(): Promise<void> {
  const missing = ['wrk', ...(SERVERS.includes('nginx') ? ['nginx'] : [])].filter(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0
  )
  if (missing.length === 0) return
  console.log(`${missing.join(' and ')} missing: running bin/setup --bench`)
  const r = spawnSync(join(ROOT, 'bin/setup'), ['--bench'], { stdio: 'inherit', timeout: 15 * 60_000 })
  if (r.status !== 0) throw new Error(`bin/setup --bench failed (${r.status ?? r.signal}): install ${missing.join(', ')} by hand`)
}

async function main(): Promise<ServingResult> {
  printMachine()
  await ensureTools()
  const dir = await mkdtemp(join(tmpdir(), 'segmesh-bench-serving-'))
  try {
    const began = performance.now()
    const data = await makeDataset(dir)
    const mean = data.bytes / data.paths.length
    console.log(
      `dataset: ${data.paths.length} segments (${MEDIA === 'random' ? 'random bytes' : 'ffmpeg testsrc 1280x720 + noise, 3 Mbit/s'}), mean ${(mean / 1000).toFixed(0)} kB, ${(data.bytes / 1e6).toFixed(0)} MB, stored through SegmentStore.recordSegment in ${((performance.now() - began) / 1000).toFixed(1)} s`
    )
    const pathsFile = join(dir, 'paths.txt')
    await writeFile(pathsFile, data.paths.join('\n') + '\n')
    const lua = join(dir, 'random-path.lua')
    await writeFile(lua, LUA)

    const servers: Server[] = []
    for (const name of SERVERS) servers.push(await startServer(name, dir))
    for (const s of servers) console.log(`verified ${await verify(s, data)}`)
    console.log(
      `load: wrk -t2 -c${CONNECTIONS}, ${WARMUP} s warm-up + ${SECONDS} s measured per run, ${ROUNDS} interleaved round(s): ${SERVERS.join(', ')}`
    )

    const runs: Run[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      for (const s of servers) {
        const r = await measure(s, round, lua, pathsFile)
        runs.push(r)
        console.log(
          `  round ${round} ${s.name.padEnd(18)} ${fmt(r.reqPerSec, 0).padStart(5)} req/s ${fmt(r.mbPerSec, 0).padStart(5)} MB/s  p50 ${fmt(r.p50)} ms  p99 ${fmt(r.p99)} ms  server ${fmt(r.serverCores, 2)} cores  wrk ${fmt(r.wrkCores, 2)}  rest ${fmt(r.restCores, 2)}  disk ${fmt(r.diskMb, 0)} MB  full GC ${fmt(r.markCompactPerSec)}/s  errors ${r.errors}`
        )
      }
    }
    for (const s of servers) await s.child.stop()

    const result: ServingResult = {
      machine: machine(),
      media: MEDIA,
      segments: data.paths.length,
      meanBytes: mean,
      seconds: SECONDS,
      rounds: ROUNDS,
      runs,
      servers: {},
      ratios: [],
      ratio: Number.NaN
    }
    const node = (round: number): Run | undefined => runs.find((r) => r.server === BASELINE && r.round === round)
    const vsNode = (r: Run): number => r.reqPerSec / (node(r.round)?.reqPerSec ?? Number.NaN)
    for (const name of new Set(SERVERS)) {
      const mine = runs.filter((r) => r.server === name)
      const m = (f: (r: Run) => number): number => median(mine.map(f))
      result.servers[name] = {
        reqPerSec: m((r) => r.reqPerSec),
        mbPerSec: m((r) => r.mbPerSec),
        p50: m((r) => r.p50),
        p99: m((r) => r.p99),
        serverCores: m((r) => r.serverCores),
        cpuMsPerReq: m((r) => (r.serverCores / r.reqPerSec) * 1000),
        markCompactPerSec: m((r) => r.markCompactPerSec),
        vsNode: m(vsNode)
      }
    }
    console.log()
    console.log(
      table(
        [
          'run',
          'req/s',
          'MB/s',
          'p50 ms',
          'p99 ms',
          'server cores',
          'CPU ms/req',
          'wrk cores',
          'rest cores',
          'disk MB',
          'full GC/s',
          'scavenge/s',
          'errors',
          `× ${BASELINE} (same round)`
        ],
        runs.map((r) => [
          `${r.server} r${r.round}`,
          fmt(r.reqPerSec, 0),
          fmt(r.mbPerSec, 0),
          fmt(r.p50),
          fmt(r.p99),
          fmt(r.serverCores, 2),
          fmt((r.serverCores / r.reqPerSec) * 1000, 2),
          fmt(r.wrkCores, 2),
          fmt(r.restCores, 2),
          fmt(r.diskMb, 0),
          fmt(r.markCompactPerSec),
          fmt(r.scavengePerSec, 0),
          String(r.errors),
          fmt(vsNode(r), 2)
        ])
      )
    )
    result.ratios = runs
      .filter((r) => r.server === 'segmesh')
      .map(vsNode)
      .filter(Number.isFinite)
    result.ratio = median(result.ratios)
    console.log()
    console.log(
      table(
        [
          'server (median of rounds)',
          'req/s',
          'MB/s',
          'p50 ms',
          'p99 ms',
          'CPU ms/req',
          'full GC/s',
          `× ${BASELINE} (median of per-round ratios)`
        ],
        Object.entries(result.servers).map(([name, s]) => [
          name,
          fmt(s.reqPerSec, 0),
          fmt(s.mbPerSec, 0),
          fmt(s.p50),
          fmt(s.p99),
          fmt(s.cpuMsPerReq, 2),
          fmt(s.markCompactPerSec),
          fmt(s.vsNode, 2)
        ])
      )
    )
    if (result.ratios.length > 0) {
      console.log(
        `\nsegmesh / ${BASELINE} req/s: ${result.ratios.map((r) => fmt(r, 2)).join(', ')} per round → median ${fmt(result.ratio, 2)} (goal ≥ ${GOALS[BASELINE] ?? '?'}: ${result.ratio >= (GOALS[BASELINE] ?? Number.POSITIVE_INFINITY) ? 'met' : 'MISSED'})`
      )
    }
    console.log(`HTTP-BENCH-RESULT ${JSON.stringify(result)}`)
    return result
  } finally {
    await stopAll()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
