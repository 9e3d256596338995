/**
 * The browser UI in Debian's Chromium (headless, driven by playwright-core) against real nodes
 * holding segments that ffmpeg made: the status page shows the peer and draws the coverage map with
 * the known hole and tombstone; the player plays a live range (the video's currentTime advances)
 * and turns its in/out marks into a cut link the node serves; both pages fit a phone's width and
 * show the node's errors. With SEGMESH_SCREENSHOTS=1 it also writes docs/status-page.png and
 * docs/player.png.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { it } from 'node:test'
import { type Browser, type Page, chromium } from 'playwright-core'
import { request } from 'undici'
import { timeParam } from '../http/params.ts'
import { segmentRelPath } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { MICROS_PER_HOUR, MICROS_PER_SECOND, formatHour, formatInstant, hourStart } from '../storage/time.ts'
import { recordSegments, segmentFiles } from './helpers/media.ts'
import { admin, startNode, until } from './helpers/network.ts'

const CHROMIUM = process.env.SEGMESH_CHROMIUM ?? '/usr/bin/chromium'
const SCREENSHOTS = process.env.SEGMESH_SCREENSHOTS === '1'
const S = MICROS_PER_SECOND
/** Segment indexes: 5 is never recorded (a hole), 10 is tombstoned. */
const HOLE = 5
const TOMBSTONED = 10

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: run bin/setup (it installs Debian's chromium) or point SEGMESH_CHROMIUM at a Chromium binary`
    )
  }
  return await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] })
}

/**
 * For the screenshot only: 20 minutes of a second channel in the previous hour, with a few
 * holes and a stretch the recorder marked suspect, so the picture shows every colour.
 */
async function recordScreenshotExtras(store: SegmentStore, now: number): Promise<void> {
  const files = await segmentFiles(40)
  const from = hourStart(now) - MICROS_PER_HOUR + 25 * 60 * S
  for (let i = 0; i < 600; i++) {
    if (i % 97 === 13 || (i >= 300 && i < 310)) continue
    const type = i >= 420 && i < 470 ? 'suspect' : 'full'
    await store.recordSegment(
      { channel: 'loadingreadyrun', quality: 'source', start: from + i * 2 * S, duration: 2 * S, type },
      await readFile(files[i % files.length]!)
    )
  }
}

/** A page that fails the test on any script error or console error (a CSP refusal, a 404). */
async function openPage(browser: Browser, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 820 } })
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`)
  })
  return page
}

it('status page draws the coverage map; the player plays live and makes a cut link', { timeout: 180_000 }, async (t) => {
  const browser = await launch()
  t.after(async () => await browser.close())
  const node = await startNode(t)
  const peer = await startNode(t, { bootstrap: [node] })
  // 40 segments of 2 s ending now: live data with a hole and a tombstone in it.
  const start = Date.now() * 1000 - 80 * S
  const written = await recordSegments(node.store, 'desertbus', 'source', start, 40, [HOLE])
  const dead = written.find((w) => w.ref.start === start + TOMBSTONED * 2 * S)!
  assert.equal((await admin(node, '/admin/tombstone', { segment: segmentRelPath(dead.ref) })).status, 201)
  if (SCREENSHOTS) await recordScreenshotExtras(node.store, start)
  await until(
    'the nodes to see each other',
    async () => {
      const status = (await (await request(`${node.url}/status`)).body.json()) as { peers: unknown[] }
      return status.peers.length > 0
    },
    60_000
  )

  const errors: string[] = []
  await t.test('status page', async () => {
    const page = await openPage(browser, errors)
    await page.goto(`${node.url}/`)
    await page.locator('svg rect.tombstoned').first().waitFor({ timeout: 30_000 })
    // The hole and the tombstone are drawn where they are, in their hour's row, in their colours.
    for (const [kind, at] of [
      ['holes', start + HOLE * 2 * S],
      ['tombstoned', start + TOMBSTONED * 2 * S]
    ] as const) {
      const rect = page.locator(`div.row[data-hour="${formatHour(at)}"] svg rect.${kind}[data-from="${at - hourStart(at)}"]`)
      assert.equal(await rect.count(), 1, `${kind} at ${at}`)
      assert.equal(await rect.getAttribute('data-to'), String(at - hourStart(at) + 2 * S))
    }
    // Each hour says how many nodes hold it as this one does (GET /copies): this one, and the peer once it has copied it.
    const copies = page.locator(`div.row[data-hour="${formatHour(start)}"] span.copies`)
    await until('the copies of the hour shown', async () => /^×[12]$/.test((await copies.textContent()) ?? ''), 30_000)
    // A 2 s hole or tombstone is drawn wide enough to see, and listed with its exact times under the map.
    const widths = await page.evaluate(() =>
      ['holes', 'tombstoned'].map((k) => document.querySelector(`rect.${k}`)!.getBoundingClientRect().width)
    )
    for (const w of widths) assert.ok(w >= 5, `short events drawn ${widths} px wide`)
    for (const [kind, at] of [
      ['holes', start + HOLE * 2 * S],
      ['tombstoned', start + TOMBSTONED * 2 * S]
    ] as const) {
      const from = formatInstant(at).slice(11, 19)
      await page.locator(`ul.events li.${kind}`, { hasText: from }).first().waitFor({ timeout: 5_000 })
    }
    const fills = await page.evaluate(() =>
      ['full', 'holes', 'tombstoned'].map((k) => getComputedStyle(document.querySelector(`rect.${k}`)!).fill)
    )
    assert.equal(new Set(fills).size, 3, `three colours: ${fills}`)
    // Before the first recording is its own shade, neither a hole nor the future (the row's background).
    const first = page.locator(`div.row[data-hour="${formatHour(start)}"] svg`)
    const before = first.locator('rect.before')
    if (start > hourStart(start)) {
      assert.equal(await before.count(), 1)
      assert.equal(Number(await before.getAttribute('width')), (start - hourStart(start)) / S)
      const [beforeFill, future] = await first.evaluate((svg) => [
        getComputedStyle(svg.querySelector('rect.before')!).fill,
        getComputedStyle(svg).backgroundColor
      ])
      assert.notEqual(beforeFill, future)
      assert.ok(!fills.includes(beforeFill!), `before recording drawn as ${beforeFill}, the colour of a kind`)
    }
    const peerId = peer.host!.peerId
    await page.locator('#peers tbody code', { hasText: peerId.slice(-12) }).waitFor({ timeout: 30_000 })
    assert.match((await page.locator('#node').textContent()) ?? '', new RegExp(node.host!.peerId))
    if (SCREENSHOTS) await page.screenshot({ path: 'docs/status-page.png', fullPage: true })
    // It refreshes itself: a stream that starts now shows up, with its map, without a reload.
    await recordSegments(node.store, 'later', 'source', start + 78 * S, 1)
    await page
      .locator(`div.map[data-key="later/source"] div.row[data-hour="${formatHour(start + 78 * S)}"] rect.full`)
      .waitFor({ timeout: 60_000 })
    await page.close()
  })

  await t.test('player', async () => {
    const page = await openPage(browser, errors)
    assert.ok(
      await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"')),
      'this Chromium cannot play H.264 through MSE'
    )
    await page.goto(`${node.url}/player`)
    await page.locator('#mode', { hasText: '(live)' }).waitFor({ timeout: 30_000 })
    // The defaults: the first channel, the last minutes of its data, no end (live).
    assert.equal(await page.locator('#channel').inputValue(), 'desertbus')
    assert.equal(await page.locator('#end').inputValue(), '')
    await page.waitForFunction(() => document.querySelector('video')!.currentTime > 0.2, null, { timeout: 60_000 })
    await page.selectOption('#type', 'rough')
    // Click and read the media time together, to compare the marks' wall-clock times with it.
    const mark = async (which: string): Promise<number> =>
      await page.evaluate((id) => {
        document.getElementById(id)!.click()
        return document.querySelector('video')!.currentTime
      }, `mark-${which}`)
    await page.locator('#mark-in:enabled').waitFor({ timeout: 30_000 })
    const tIn = await mark('in')
    await page.waitForFunction((t0) => document.querySelector('video')!.currentTime > t0 + 1.5, tIn, { timeout: 60_000 })
    const tOut = await mark('out')
    const href = await page
      .locator('#cut-link')
      .getAttribute('href', { timeout: 5000 })
      .catch(() => null)
    assert.ok(href != null, `a cut link, not: ${await page.locator('#cut').textContent()}`)
    const cut = new URL(href)
    assert.equal(cut.pathname, '/cut/desertbus/source.ts')
    assert.equal(cut.searchParams.get('type'), 'rough')
    const [a, b] = [cut.searchParams.get('start')!, cut.searchParams.get('end')!].map((v) => timeParam('mark', v))
    assert.ok(a! >= start && b! <= start + 80 * S, `marks inside the data: ${a} ${b}`)
    // The live edge has no discontinuity: wall-clock and media time advance together.
    assert.ok(Math.abs(b! - a! - (tOut - tIn) * S) < 50_000, `marks ${b! - a!} µs apart, media time ${tOut - tIn} s`)
    if (SCREENSHOTS) await page.screenshot({ path: 'docs/player.png', fullPage: true })
    const res = await request(href)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], 'video/mp2t')
    assert.ok((await res.body.arrayBuffer()).byteLength > 10_000)
    // An MP4 is a full cut: the type select says so (it showed the last choice while the link said full).
    await page.selectOption('#format', 'mp4')
    assert.equal(await page.locator('#type').inputValue(), 'full')
    assert.ok(await page.locator('#type').isDisabled())
    const mp4 = new URL((await page.locator('#cut-link').getAttribute('href'))!)
    assert.equal(mp4.pathname, '/cut/desertbus/source.mp4')
    assert.equal(mp4.searchParams.get('type'), 'full')
    await page.selectOption('#format', 'ts')
    assert.ok(await page.locator('#type').isEnabled())
    await page.close()
  })

  await t.test('a phone-sized screen, a range the node refuses and a node with nothing yet', async () => {
    // Its own error list: refused requests are logged to the console on purpose here.
    const page = await browser.newPage({ viewport: { width: 390, height: 800 } })
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`))
    for (const [path, ready] of [
      ['/', 'svg rect.full'],
      ['/player', '#mode:has-text("live")']
    ] as const) {
      await page.goto(`${node.url}${path}`)
      await page.locator(ready).first().waitFor({ timeout: 30_000 })
      // What sticks out (the peers table scrolls inside its own box), for the failure message.
      const wide = await page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth && e.closest('.table-wrap') == null)
          .map((e) => `${e.tagName}.${e.className}#${e.id}:${Math.round(e.getBoundingClientRect().right)}`)
          .slice(0, 8)
      )
      assert.ok(
        await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
        `${path} fits a 390 px screen: ${wide}`
      )
    }
    await page.goto(`${node.url}/player?channel=desertbus&quality=source&start=2026-01-01T10:00:00Z&end=2026-01-01T09:00:00Z`)
    await page.locator('#banner', { hasText: 'end: must be after start' }).waitFor({ timeout: 30_000 })
    const empty = await startNode(t)
    await page.goto(`${empty.url}/player`)
    await page.locator('#banner', { hasText: 'holds no video yet' }).waitFor({ timeout: 30_000 })
    await page.goto(`${empty.url}/`)
    await page.locator('#peers td', { hasText: 'no peers known' }).waitFor({ timeout: 30_000 })
    await page.close()
  })
  assert.deepEqual(errors, [])
})
