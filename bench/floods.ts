/**
 * Floods against one real node (`bin/segmesh start` as a child, default config plus 127.0.0.1
 * listeners): for each attack of issue 18, a fresh copy of the same data, an idle baseline, then the
 * attack for a bounded time, then a short cool-down, while three probes run:
 * - the node's RSS (VmRSS from /proc/PID/status every 100 ms): peak during the attack, and after the cool-down;
 * - `/healthz` latency, a probe every 50 ms (at most 20 in flight): p95;
 * - viewers fetching real segments, one at a time, `--viewer-rate` a second (default 50, about 100
 *   viewers of a 2 s, 3 Mbit/s stream): p99, and its ratio to the idle baseline. A viewer that
 *   fetches flat out is a load test of its own: it sets off back-to-back full GCs in the node with
 *   no attack at all (the `control` row shows it with `--viewer-rate 0`).
 *
 * The attacker's process is started and loaded before the idle baseline, and told to begin when
 * the attack window opens: starting a TypeScript process takes seconds of CPU on these two cores,
 * which is not the attack (a control row that included it measured 2.9-4.7×). Both windows are
 * equally long, so their p99s come from as many requests.
 *
 *   node --import tsx --import ./node/compat.ts bench/floods.ts [--quick] [--seconds S] [--attacks a,b] [--rounds N]
 *     --seconds S    attack length (default 30; --quick 10); idle baseline as long, cool-down 5 s
 *     --rounds N     run the list N times (default 1); the summary gives each attack's median ratio
 *     --attacks      any of: control (no attack), century, announce, listing, sybil, idle-sockets, slow-bodies (default: all)
 *     --viewer-rate N  viewer requests a second (default 50; 0: one after another, flat out)
 *     --http-workers N  the victim runs with --http-workers N (its RSS then counts the workers too)
 *     --before DIR   also run each attack against the node of another checkout (e.g. a git worktree
 *                    of the commit before the fixes, with node_modules), just before this one's
 *
 * Goals (issue 18): RSS ≤ 400 MiB, healthz p95 ≤ 250 ms, viewer p99 ≤ 2× idle. Every attacker is a
 * real peer or client on 127.0.0.1; everything lives in a temp folder removed at the end.
 */
import { randomBytes } from 'node:crypto'
import { cpSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Agent, request } from 'undici'
import { encodeMessage } from '../replication/messages.ts'
import { LEGACY_TOPIC } from '../replication/topics.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { type SegmentRef, formatSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import { freePorts } from '../lib/free-ports.ts'
import { holdIdleSockets, startAuthorRelay } from '../simulations/hostile-connections.ts'
import {
  type FakePeerHttp,
  type RawPeer,
  fakeSegmentRefs,
  lyingHourDigest,
  startFakePeerHttp,
  startRawPeer
} from '../test/helpers/hostile-peers.ts'
import { segmentFiles } from '../test/helpers/media.ts'
import { cleanupOnExit, makeTempDir } from './common.ts'
import {
  ROOT,
  childPids,
  type Summary,
  TSX_ARGS,
  flag,
  fmt,
  median,
  numberOption,
  option,
  printMachine,
  readToEnd,
  startChild,
  stopAll,
  summarize,
  table
} from './http-util.ts'

const QUICK = flag('quick')
const ATTACK_S = numberOption('seconds', QUICK ? 10 : 30)
const IDLE_S = ATTACK_S
const ROUNDS = numberOption('rounds', 1)
const COOL_S = 5
const CHANNEL = 'desertbus'
const QUALITIES = ['source', '480p', '360p']
const SEGMENTS = 60
const NOW = Date.now() * 1000
/** The node's own video: three hours ago, inside the replication window. */
const DATA_START = hourStart(NOW) - 3 * MICROS_PER_HOUR
const VIEWER_RATE = numberOption('viewer-rate', 50)
/** This checkout's victim serves HTTP from this many worker processes (not the --before one's). */
const HTTP_WORKERS = numberOption('http-workers', 0)
const GOALS = { rssMiB: 400, healthP95Ms: 250, viewerRatio: 2 }

const ATTACKS: Record<string, { what: string; run: (victim: Target, signal: AbortSignal) => Promise<Attack> }> = {
  control: { what: 'no attack: the same probes over two quiet windows, the noise floor of the ratios', run: noAttack },
  century: { what: 'century-long cut/playlist requests, 2 at a time (finding 1)', run: century },
  announce: { what: 'fake announcements at 19 messages/s × 256 names (finding 2)', run: announceFlood },
  listing: { what: 'lying hello + a 50,000-name hour listing (finding 2)', run: lyingListing },
  sybil: { what: 'digests signed by a fresh key each, one connection (finding 3)', run: sybil },
  'idle-sockets': { what: '100 idle TCP sockets on the p2p port, reopened (finding 4)', run: idleSockets },
  'slow-bodies': { what: 'three peers whose bodies never end, next to an honest one (finding 5)', run: slowBodies }
}
const CHOSEN = option('attacks')?.split(',') ?? Object.keys(ATTACKS)
/** Checkouts whose node is attacked, labelled: the one given by --before, then this one. */
const BEFORE = option('before')
const VICTIMS: Array<{ label: string; root: string }> = [
  ...(BEFORE != null ? [{ label: 'before', root: BEFORE }] : []),
  { label: 'after', root: ROOT }
]
for (const name of CHOSEN) if (ATTACKS[name] == null) throw new Error(`unknown attack ${name}: one of ${Object.keys(ATTACKS).join(', ')}`)

/** What an attacker needs to know about the node: plain data, handed to the attacker's process as JSON. */
interface Target {
  url: string
  multiaddr: string
  peerId: string
  p2pPort: number
  paths: string[]
}
interface Victim extends Target {
  pid: number
  logLines: () => number
}
interface Attack {
  stop: () => Promise<void>
  /** What the attacker did and saw, for the table. */
  note: () => string
  /** The attack's own goal, when it has one (a real peer still gets in, an honest peer's segments still arrive). */
  met?: () => boolean
}

const http = new Agent({ connections: 64, headersTimeout: 60_000, bodyTimeout: 60_000 })
const until = async (check: () => boolean | Promise<boolean>, timeoutMs: number, signal?: AbortSignal): Promise<boolean> => {
  const end = Date.now() + timeoutMs
  while (Date.now() < end && signal?.aborted !== true) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}
/** Resolves after `ms`, or at once when `signal` aborts (its listener removed either way: a loop of sleeps must not pile them up). */
const sleep = async (ms: number, signal?: AbortSignal): Promise<void> =>
  await new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })

async function get(url: string, signal?: AbortSignal): Promise<{ status: number; ms: number }> {
  const t = performance.now()
  try {
    const res = await request(url, { dispatcher: http, signal })
    await readToEnd(res.body)
    return { status: res.statusCode, ms: performance.now() - t }
  } catch {
    return { status: 0, ms: performance.now() - t }
  }
}

/** Resident memory of the node and its child processes (its HTTP workers, with --http-workers). */
function rssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    if (m == null) return Number.NaN
    return Number(m[1]) / 1024 + childPids(pid).reduce((sum, child) => sum + (rssMiB(child) || 0), 0)
  } catch {
    return Number.NaN
  }
}

// --- the victim ---------------------------------------------------------------------------------

/** Three qualities of a few minutes of real video, written once and copied for every victim. */
async function makeTemplate(dir: string): Promise<string[]> {
  const index = SegmentIndex.open(join(dir, 'index'))
  const store = new SegmentStore({ segmentsDir: join(dir, 'segments'), index })
  const paths: string[] = []
  const files = await segmentFiles(SEGMENTS)
  for (const quality of QUALITIES) {
    for (const [i, file] of files.entries()) {
      const { ref } = await store.recordSegment(
        { channel: CHANNEL, quality, start: DATA_START + i * 2_000_000, duration: 2_000_000, type: 'full' },
        await readFile(file)
      )
      paths.push(`/segments/${segmentRelPath(ref).split('/').map(encodeURIComponent).join('/')}`)
    }
  }
  await index.stop()
  return paths
}

async function startVictim(root: string, dir: string, paths: string[]): Promise<{ victim: Victim; stop: () => Promise<void> }> {
  const [p2pPort] = await freePorts(1)
  let url = ''
  let multiaddr = ''
  let lines = 0
  const { child, match } = await startChild(
    'victim',
    join(root, 'bin/segmesh'),
    [
      ...['start', '--data', dir, '--http-host', '127.0.0.1', '--http-port', '0', '--p2p-host', '127.0.0.1', '--p2p-port', String(p2pPort)],
      ...(root === ROOT && HTTP_WORKERS > 0 ? ['--http-workers', String(HTTP_WORKERS)] : [])
    ],
    /^segmesh public url/,
    60_000,
    (line) => {
      url ||= /^segmesh listening on (\S+)/.exec(line)?.[1] ?? ''
      multiaddr ||= /^segmesh multiaddr (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(line)?.[1] ?? ''
      return true
    }
  )
  void match
  // The node logs to stderr (startChild also echoes it): counted, a flood must not become a log flood.
  createInterface({ input: child.proc.stderr! }).on('line', () => {
    lines++
  })
  const peerId = multiaddr.split('/p2p/')[1] ?? ''
  if (url === '' || peerId === '') throw new Error(`victim printed no URL or multiaddr (${url} ${multiaddr})`)
  return {
    victim: { pid: child.pid, url, multiaddr, peerId, p2pPort: p2pPort!, paths, logLines: () => lines },
    stop: async () => await child.stop(10_000)
  }
}

// --- probes -------------------------------------------------------------------------------------

interface PhaseFigures {
  rssPeak: number
  rssEnd: number
  health: Summary
  healthFailed: number
  viewer: Summary
  viewerFailed: number
}

/** RSS, /healthz and a viewer, from start() until stop(). */
function probe(victim: Victim): { stop: () => Promise<PhaseFigures> } {
  const stopping = new AbortController()
  const health: number[] = []
  const viewer: number[] = []
  let healthFailed = 0
  let viewerFailed = 0
  let rssPeak = rssMiB(victim.pid)
  const rssTimer = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMiB(victim.pid))
  }, 100)
  let inFlight = 0
  const healthProbes: Array<Promise<void>> = []
  const healthTimer = setInterval(() => {
    if (inFlight >= 20) return
    inFlight++
    healthProbes.push(
      get(`${victim.url}/healthz`).then(({ status, ms }) => {
        inFlight--
        health.push(ms)
        if (status !== 200) healthFailed++
      })
    )
  }, 50)
  const viewing = (async () => {
    const started = performance.now()
    let i = 0
    while (!stopping.signal.aborted) {
      const path = victim.paths[(i++ * 7919) % victim.paths.length]!
      const { status, ms } = await get(`${victim.url}${path}`)
      viewer.push(ms)
      if (status !== 200) viewerFailed++
      // Paced from the start, not from the last answer: a slow answer is not followed by a pause.
      const due = VIEWER_RATE > 0 ? started + (i * 1000) / VIEWER_RATE - performance.now() : 0
      if (due > 0) await sleep(due, stopping.signal)
    }
  })()
  return {
    stop: async () => {
      stopping.abort()
      clearInterval(healthTimer)
      clearInterval(rssTimer)
      await Promise.all([viewing, ...healthProbes])
      const rssEnd = rssMiB(victim.pid)
      return {
        rssPeak: Math.max(rssPeak, rssEnd),
        rssEnd,
        health: summarize(health),
        healthFailed,
        viewer: summarize(viewer),
        viewerFailed
      }
    }
  }
}

// --- attacks ------------------------------------------------------------------------------------

async function noAttack(): Promise<Attack> {
  return { stop: async () => {}, note: () => 'nothing sent' }
}

async function century(victim: Target, signal: AbortSignal): Promise<Attack> {
  const range = 'start=1685-01-01T00:00:00Z&end=2254-12-31T00:00:00Z'
  const kinds = (q: string): string[] => [
    `/cut/${CHANNEL}/${q}.ts?${range}&type=rough&allow_holes=true`,
    `/playlist/${CHANNEL}/${q}.m3u8?${range}`
  ]
  const statuses = new Map<number, number>()
  let sent = 0
  const loop = async (offset: number): Promise<void> => {
    for (let i = offset; !signal.aborted; i += 2) {
      const q = QUALITIES[i % QUALITIES.length]!
      const path = kinds(q)[Math.floor(i / QUALITIES.length) % 2]!
      sent++
      const { status } = await get(`${victim.url}${path}`, signal)
      if (!signal.aborted) statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  }
  const loops = [loop(0), loop(1)]
  return {
    stop: async () => {
      await Promise.all(loops)
    },
    note: () => `${sent} requests, finished: ${[...statuses].map(([s, n]) => `${n}× ${s}`).join(', ') || 'none'}`
  }
}

/** A raw peer of the victim whose gossip reaches it (a publish before the mesh forms goes nowhere). */
async function joinedRawPeer(
  victim: Target,
  http: FakePeerHttp,
  helloRoots?: Parameters<typeof startRawPeer>[0]['helloRoots']
): Promise<RawPeer> {
  const peer = await startRawPeer({ bootstrap: [victim.multiaddr], url: http.url, ...(helloRoots != null ? { helloRoots } : {}) })
  await peer.joined()
  return peer
}

/** Names that look like real hours of 2 s segments (1,800 an hour), going back from two hours ago. */
function fakeHours(hours: number): SegmentRef[] {
  return Array.from({ length: hours }, (_, h) =>
    fakeSegmentRefs(1800, { hourStart: hourStart(NOW) - (2 + h) * MICROS_PER_HOUR, duration: 2_000_000 })
  ).flat()
}

async function announceFlood(victim: Target, signal: AbortSignal): Promise<Attack> {
  const fake = await startFakePeerHttp({ segments: 'not-found' })
  const peer = await joinedRawPeer(victim, fake)
  // Just under the documented 20 messages/s per peer; enough names for the whole attack.
  const refs = fakeHours(Math.min(300, Math.ceil((19 * 256 * ATTACK_S) / 1800)))
  let sent = 0
  const sending = peer.announce(refs, { messagesPerSecond: 19, signal }).then((n) => {
    sent = n
  })
  return {
    stop: async () => {
      await sending
      await peer.stop()
      await fake.close()
    },
    note: () => `${sent} messages (${sent * 256} names), ${fake.segmentRequests()} segment requests to the liar`
  }
}

async function lyingListing(victim: Target): Promise<Attack> {
  const hourUs = hourStart(NOW) - 2 * MICROS_PER_HOUR
  const hour = formatHour(hourUs)
  const names = fakeSegmentRefs(50_000, { hourStart: hourUs, duration: 2_000_000 }).map((r) => r.file)
  const fake = await startFakePeerHttp({
    segments: 'not-found',
    digests: new Map([[`${CHANNEL}/source`, [lyingHourDigest(hour, names.length)]]]),
    listings: new Map([[`${CHANNEL}/source/${hour}`, names]])
  })
  const peer = await joinedRawPeer(victim, fake, [
    { channel: CHANNEL, quality: 'source', root: randomBytes(16).toString('base64url'), hours: 1, segments: names.length }
  ])
  return {
    stop: async () => {
      await peer.stop()
      await fake.close()
    },
    note: () => `${fake.segmentRequests()} segment requests to the liar`
  }
}

async function sybil(victim: Target, signal: AbortSignal): Promise<Attack> {
  const hourUs = hourStart(NOW) - 2 * MICROS_PER_HOUR
  const hour = formatHour(hourUs)
  const fake = await startFakePeerHttp({
    segments: 'not-found',
    digests: new Map([[`${CHANNEL}/source`, [lyingHourDigest(hour, 1800)]]]),
    listings: new Map([[`${CHANNEL}/source/${hour}`, fakeSegmentRefs(1800, { hourStart: hourUs, duration: 2_000_000 }).map((r) => r.file)]])
  })
  const relay = await startAuthorRelay({ target: victim.multiaddr, topic: LEGACY_TOPIC })
  const windowStart = hourStart(NOW) - 335 * MICROS_PER_HOUR
  let sent = 0
  // At most 1,000 messages a second (the issue saw 600/s), each from a new author with a root nobody has.
  const flooding = (async () => {
    const started = Date.now()
    while (!signal.aborted && sent < 1000 * ATTACK_S) {
      const author = await relay.freshAuthor()
      const message = encodeMessage({
        type: 'digest',
        from: { peerId: author.peerId, url: fake.url, addrs: [] },
        windowStart,
        roots: [{ channel: CHANNEL, quality: 'source', root: randomBytes(16).toString('base64url'), hours: 1, segments: 1800 }]
      })
      await relay.send(author.key, message).catch(() => {})
      sent++
      const due = started + sent - Date.now()
      if (due > 0) await sleep(due, signal)
      else if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  return {
    stop: async () => {
      await flooding
      await relay.stop()
      await fake.close()
    },
    note: () => `${sent} digests from ${sent} keys, ${fake.segmentRequests()} segment requests to the liar`
  }
}

async function idleSockets(victim: Target, signal: AbortSignal): Promise<Attack> {
  const sockets = holdIdleSockets({ port: victim.p2pPort, count: 100, maxOpens: 100 * (ATTACK_S + 10), localAddress: '127.0.0.2' })
  // A real peer arriving mid-attack: how long until it is connected (20 s at most).
  let joinedMs = Number.NaN
  const joining = (async () => {
    await sleep(2000, signal)
    const fake = await startFakePeerHttp()
    const started = Date.now()
    const peer = await startRawPeer({ bootstrap: [victim.multiaddr], url: fake.url })
    if (await until(() => peer.host.connectedPeers().includes(victim.peerId), 20_000)) joinedMs = Date.now() - started
    await peer.stop()
    await fake.close()
  })()
  return {
    stop: async () => {
      await joining
      sockets.stop()
    },
    note: () =>
      `${sockets.opened()} sockets opened; a real peer ${Number.isNaN(joinedMs) ? 'never connected (20 s)' : `connected in ${joinedMs} ms`}`,
    // A localhost handshake takes tens of ms; 5 s is libp2p's old handshake timeout halved.
    met: () => joinedMs <= 5_000
  }
}

async function slowBodies(victim: Target, signal: AbortSignal): Promise<Attack> {
  const liars: Array<{ http: FakePeerHttp; peer: RawPeer }> = []
  for (let i = 0; i < 3; i++) {
    const http = await startFakePeerHttp({ segments: 'never-ending' })
    liars.push({ http, peer: await joinedRawPeer(victim, http) })
  }
  for (const [i, { peer }] of liars.entries()) {
    await peer.announce(fakeSegmentRefs(256, { hourStart: hourStart(NOW) - (2 + i) * MICROS_PER_HOUR, duration: 2_000_000 }))
  }
  // An honest peer announces 10 real segments 2 s later: how long until the victim holds them all.
  const honestStart = hourStart(NOW) - 6 * MICROS_PER_HOUR
  const bodies = new Map<string, Uint8Array>()
  const honestRefs: SegmentRef[] = []
  for (const [i, file] of (await segmentFiles(10)).entries()) {
    const bytes = await readFile(file)
    const ref = formatSegmentRef({
      channel: CHANNEL,
      quality: 'source',
      start: honestStart + i * 2_000_000,
      duration: 2_000_000,
      type: 'full',
      hash: sha256(bytes)
    })
    bodies.set(segmentRelPath(ref), bytes)
    honestRefs.push(ref)
  }
  const honestHttp = await startFakePeerHttp({ segments: bodies })
  let copiedMs = Number.NaN
  const honest = (async () => {
    await sleep(2000, signal)
    const peer = await joinedRawPeer(victim, honestHttp)
    const started = Date.now()
    await peer.announce(honestRefs)
    const hour = `${victim.url}/files/${CHANNEL}/source/${formatHour(honestStart)}`
    const copied = async (): Promise<boolean> => {
      try {
        const res = await request(hour, { dispatcher: http })
        if (res.statusCode !== 200) {
          await res.body.dump()
          return false
        }
        const names = (await res.body.json()) as string[]
        return honestRefs.every((r) => names.includes(r.file))
      } catch {
        return false
      }
    }
    if (await until(copied, ATTACK_S * 1000, signal)) copiedMs = Date.now() - started
    await peer.stop()
  })()
  return {
    stop: async () => {
      await honest
      for (const { http, peer } of liars) {
        await peer.stop()
        await http.close()
      }
      await honestHttp.close()
    },
    note: () =>
      `${liars.reduce((n, l) => n + l.http.segmentRequests(), 0)} body requests to the liars; honest 10 segments ${Number.isNaN(copiedMs) ? `not copied in ${ATTACK_S} s` : `copied in ${fmt(copiedMs / 1000, 1)} s`}`,
    // Under 1 s on an idle node; 5 s leaves room for a busy machine and the fetcher's backoff.
    met: () => copiedMs <= 5_000
  }
}

// --- the attacker's process ---------------------------------------------------------------------

/**
 * The attack runs in its own process at a lower CPU priority (`nice`): on the two cores of a test
 * machine, an attacker in the probes' process delays the probes' own timers, and one at equal
 * priority takes a whole core from the node, which a remote attacker would not. The node still does
 * all the work the attack causes. The child prints `ready` once loaded, begins on SIGUSR1 (printing
 * `attacking` once its attack is under way) and, on SIGTERM, stops and prints one `result {json}` line.
 */
async function attackFromChild(name: string, target: Target): Promise<Attack & { begin: () => Promise<void> }> {
  let result: { note: string; met: boolean | null } | undefined
  let underWay: () => void = () => {}
  const attacking = new Promise<void>((resolve) => {
    underWay = resolve
  })
  const { child } = await startChild(
    `attacker ${name}`,
    'nice',
    [
      '-n',
      '10',
      process.execPath,
      ...TSX_ARGS,
      'bench/floods.ts',
      '--attacker',
      name,
      '--target',
      JSON.stringify(target),
      '--seconds',
      String(ATTACK_S)
    ],
    /^ready$/,
    60_000,
    (line) => {
      if (line === 'attacking') underWay()
      else if (line.startsWith('result ')) result = JSON.parse(line.slice(7)) as typeof result
      return line === 'attacking' || result != null
    }
  )
  return {
    begin: async () => {
      child.proc.kill('SIGUSR1')
      await attacking
    },
    stop: async () => {
      // 'exit' can come before the last stdout line is read; 'close' waits for the pipes.
      const closed = new Promise((resolve) => child.proc.once('close', resolve))
      await child.stop(60_000)
      await closed
    },
    note: () => result?.note ?? 'the attacker printed no result',
    met: () => result?.met ?? true
  }
}

async function runAttacker(name: string, target: Target): Promise<void> {
  // A signal listener does not keep Node alive, and some attacks hold only unref'd handles.
  const alive = setInterval(() => {}, 1000)
  const begin = new Promise((resolve) => process.once('SIGUSR1', resolve))
  console.log('ready')
  await begin
  const end = new AbortController()
  const attack = await ATTACKS[name]!.run(target, end.signal)
  console.log('attacking')
  await new Promise((resolve) => process.once('SIGTERM', resolve))
  clearInterval(alive)
  end.abort()
  await attack.stop()
  console.log(`result ${JSON.stringify({ note: attack.note(), met: attack.met?.() ?? null })}`)
  await http.close()
  process.exit(0)
}

// --- run ----------------------------------------------------------------------------------------

async function runBench(): Promise<void> {
  const dir = makeTempDir('segmesh-floods-')
  cleanupOnExit(dir)
  printMachine()
  console.log(
    `load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' '
      )} · attack ${ATTACK_S} s, idle ${IDLE_S} s, cool-down ${COOL_S} s · viewer ${VIEWER_RATE > 0 ? `${VIEWER_RATE} requests/s` : 'flat out'}`
  )
  const template = join(dir, 'template')
  const paths = await makeTemplate(template)
  const rows: string[][] = []
  const notes: string[] = []
  try {
    let n = 0
    const ratios = new Map<string, number[]>()
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of CHOSEN) {
        for (const { label, root } of VICTIMS) {
          const data = join(dir, `victim-${n++}`)
          cpSync(template, data, { recursive: true })
          const { victim, stop } = await startVictim(root, data, paths)
          try {
            const attack = await attackFromChild(name, {
              url: victim.url,
              multiaddr: victim.multiaddr,
              peerId: victim.peerId,
              p2pPort: victim.p2pPort,
              paths
            })
            const idleProbe = probe(victim)
            await sleep(IDLE_S * 1000)
            const idle = await idleProbe.stop()
            const linesBefore = victim.logLines()
            const attackProbe = probe(victim)
            await attack.begin()
            await sleep(ATTACK_S * 1000)
            const during = await attackProbe.stop()
            await attack.stop()
            await sleep(COOL_S * 1000)
            const after = rssMiB(victim.pid)
            const ratio = during.viewer.p99 / idle.viewer.p99
            const row = VICTIMS.length > 1 ? `${name} (${label})` : name
            ratios.set(row, [...(ratios.get(row) ?? []), ratio])
            const met =
              during.rssPeak <= GOALS.rssMiB &&
              during.health.p95 <= GOALS.healthP95Ms &&
              ratio <= GOALS.viewerRatio &&
              during.healthFailed === 0 &&
              (attack.met?.() ?? true)
            rows.push([
              ROUNDS > 1 ? `${row} #${round + 1}` : row,
              fmt(idle.rssPeak, 0),
              fmt(during.rssPeak, 0),
              fmt(after, 0),
              `${fmt(idle.health.p95, 0)} → ${fmt(during.health.p95, 0)}${during.healthFailed > 0 ? ` (${during.healthFailed} failed)` : ''}`,
              `${fmt(idle.viewer.p99, 0)} → ${fmt(during.viewer.p99, 0)}${during.viewerFailed > 0 ? ` (${during.viewerFailed} failed)` : ''}`,
              `${fmt(ratio, 2)}×`,
              String(victim.logLines() - linesBefore),
              met ? 'yes' : 'NO'
            ])
            notes.push(
              `${rows.at(-1)![0]}: ${ATTACKS[name]!.what}; ${attack.note()}; ${during.viewer.n} viewer requests, ${during.health.n} health probes`
            )
            console.log(`${rows.at(-1)![0]}: done (${rows.at(-1)!.join(' | ')})`)
          } finally {
            await stop()
          }
        }
      }
    }
    console.log()
    console.log(
      table(
        [
          'attack',
          'idle RSS MiB',
          'peak RSS MiB',
          'RSS after MiB',
          'healthz p95 ms idle → attack',
          'viewer p99 ms idle → attack',
          'viewer ×idle',
          'log lines',
          'goals met'
        ],
        rows
      )
    )
    if (ROUNDS > 1) {
      console.log()
      console.log(
        table(
          ['attack', 'viewer ×idle, each round', 'median'],
          [...ratios].map(([row, r]) => [row, r.map((x) => `${fmt(x, 2)}×`).join(', '), `${fmt(median(r), 2)}×`])
        )
      )
    }
    console.log()
    for (const note of notes) console.log(`- ${note}`)
    console.log(
      `\ngoals: RSS ≤ ${GOALS.rssMiB} MiB, healthz p95 ≤ ${GOALS.healthP95Ms} ms and never failing, viewer p99 ≤ ${GOALS.viewerRatio}× idle; idle-sockets: a real peer connects within 5 s; slow-bodies: the honest 10 segments arrive within 5 s`
    )
  } finally {
    await stopAll()
    await http.close()
  }
}

const ATTACKER = option('attacker')
if (ATTACKER != null) await runAttacker(ATTACKER, JSON.parse(option('target') ?? '{}') as Target)
else await runBench()
