/**
 * `segmesh demo` through the launcher: a segment recorded by node 1 from the live ffmpeg stream
 * appears on nodes 2 and 3, node 2 serves a playlist of it, every URL the demo prints answers 2xx
 * with its content type, and Ctrl-C (SIGINT to the process group) stops everything (no ffmpeg
 * left, the temp folder removed, exit 0). Bounded: four minutes at most.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { until } from './helpers/network.ts'

const SEGMESH = fileURLToPath(new URL('../bin/segmesh', import.meta.url))

async function json(url: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, { headers })
  if (!res.ok) throw new Error(`${url} answered ${res.status}`)
  return await res.json()
}

/** What each URL the demo prints must answer with; a URL matching none fails the test. */
const CONTENT_TYPES: Array<[RegExp, RegExp]> = [
  [/\/$/, /^text\/html\b/],
  [/\/player\?/, /^text\/html\b/],
  [/\.m3u8(\?|$)/, /^application\/vnd\.apple\.mpegurl\b/],
  [/\/cut\/\S+\.mp4\?/, /^video\/mp4\b/]
]

/** Processes whose command line mentions `text` (ours: the demo's own temp folder). */
function processesMentioning(text: string): number[] {
  const out: number[] = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) out.push(Number(pid))
    } catch {}
  }
  return out
}

describe('segmesh demo', () => {
  it('records on node 1, replicates to nodes 2 and 3, serves every URL it prints, and stops cleanly on SIGINT', {
    timeout: 240_000
  }, async (t) => {
    // Its own process group, as in a terminal: Ctrl-C there signals the demo and its ffmpeg alike.
    const child = spawn(SEGMESH, ['demo'], {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s
    })
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s
    })
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    t.after(() => {
      if (child.exitCode == null) process.kill(-child.pid!, 'SIGKILL')
    })

    await until('the demo printed its URLs', () => stdout.includes('Ctrl-C stops') || child.exitCode != null, 90_000)
    assert.equal(child.exitCode, null, `demo exited early: ${stderr}`)
    const nodes = [...stdout.matchAll(/^ {2}node (\d) +(http:\/\/127\.0\.0\.1:\d+)\/ +\(status page\)/gm)].map((m) => m[2]!)
    assert.equal(nodes.length, 3, stdout)
    const dir = /^ {2}data +(\S+) \(removed on exit\)$/m.exec(stdout)?.[1]
    assert.ok(dir != null && existsSync(dir), stdout)
    assert.match(stdout, /\/player\?channel=demo&quality=source/)
    // Every link; the example command's `--node URL` is a command's argument, not a page.
    const printed = stdout.slice(0, stdout.indexOf('Ctrl-C stops')).match(/(?<!--node )https?:\/\/\S+/g) ?? []
    assert.ok(
      printed.some((url) => url.includes('/cut/')),
      stdout
    )

    // The first segment node 1 recorded from the live stream, then the same name on 2 and 3.
    let first = ''
    await until(
      'node 1 recorded a segment',
      async () => {
        const hours = (await json(`${nodes[0]}/files/demo/source`).catch(() => [])) as string[]
        if (hours.length === 0) return false
        const files = (await json(`${nodes[0]}/files/demo/source/${hours[0]}`)) as string[]
        if (files.length > 0) first = `${hours[0]}/${files[0]}`
        return first !== ''
      },
      60_000
    )
    const [hour, file] = first.split('/') as [string, string]
    // Copied to 2 and 3 (their own listings: a listing would otherwise include what their peers hold).
    for (const node of nodes.slice(1)) {
      await until(
        `${first} on ${node}`,
        async () =>
          ((await json(`${node}/files/demo/source/${hour}`, { 'cache-control': 'only-if-cached' }).catch(() => [])) as string[]).includes(
            file
          ),
        60_000
      )
    }
    const playlist = await (await fetch(`${nodes[1]}/playlist/demo/source.m3u8`)).text()
    assert.match(playlist, /#EXT-X-PROGRAM-DATE-TIME/)
    assert.ok(playlist.includes(`/${hour}/${file.replace(/:/g, '%3A')}`), 'node 2 plays the replicated segment')

    for (const url of printed) {
      const expected = CONTENT_TYPES.find(([pattern]) => pattern.test(url))?.[1]
      assert.ok(expected != null, `no expectation for the printed URL ${url}`)
      // The cut's range is recorded about 30 s in: until then it is 404 no_segments or 406 contains_holes.
      let res = await fetch(url)
      await until(
        `${url} answering`,
        async () => {
          if (res.status !== 404 && res.status !== 406) return true
          await res.body?.cancel()
          await new Promise((resolve) => setTimeout(resolve, 1000))
          res = await fetch(url)
          return false
        },
        120_000
      )
      const body = Buffer.from(await res.arrayBuffer())
      assert.ok(res.ok, `${url} answered ${res.status}: ${body.toString('utf8', 0, 300)}`)
      assert.match(res.headers.get('content-type') ?? '', expected, url)
      assert.ok(body.length > 0, `${url} answered an empty body`)
    }

    // The example tombstone command, as printed, from another folder; no token among its flags (ps shows them).
    const example = /e\.g\. (SEGMESH_ADMIN_TOKEN=\S+ \S+ tombstone .*)$/m.exec(stdout)?.[1]
    assert.ok(example != null && !example.includes('--token'), stdout)
    const tombstone = spawnSync('sh', ['-c', example], {
      cwd: tmpdir(),
      encoding: 'utf8',
      env: { PATH: process.env.PATH! },
      timeout: 60_000
    })
    assert.equal(tombstone.status, 0, `${example}\n${tombstone.stdout}${tombstone.stderr}`)
    assert.match(tombstone.stdout, /\d+ tombstoned/)

    assert.ok(processesMentioning(dir).length > 0, 'ffmpeg runs while the demo does')
    process.kill(-child.pid!, 'SIGINT')
    const [code] = await exited
    assert.equal(code, 0, stderr)
    assert.match(stdout, /segmesh demo: stopping/)
    assert.equal(existsSync(dir), false, 'temp folder removed')
    assert.deepEqual(processesMentioning(dir), [], 'no ffmpeg left behind')
  })
})
