import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ByteBudget } from './bulk-rate.ts'

const MiB = 1024 ** 2

async function* chunks(total: number, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += size) yield Buffer.alloc(Math.min(size, total - sent))
}

async function drain(stream: AsyncIterable<Buffer>): Promise<number> {
  let bytes = 0
  for await (const chunk of stream) bytes += (chunk as Buffer).length
  return bytes
}

describe('ByteBudget', () => {
  it('lets a burst through at once, then asks to wait for what is over it', () => {
    const budget = new ByteBudget(MiB, 250)
    assert.ok(budget.take(MiB / 4) < 1)
    // A second quarter puts the clock 500 ms ahead: 250 ms over the burst.
    const wait = budget.take(MiB / 4)
    assert.ok(wait > 200 && wait <= 250, `wait ${wait} ms`)
  })

  it('paces a stream to the rate, and streams running together share it (lower bounds only)', async () => {
    const budget = new ByteBudget(4 * MiB, 100)
    const signal = new AbortController().signal
    let started = performance.now()
    assert.equal(await drain(budget.pace(chunks(2 * MiB), signal)), 2 * MiB)
    // 2 MiB at 4 MiB/s with 100 ms of burst: at least 400 ms.
    assert.ok(performance.now() - started >= 390, `one stream took ${performance.now() - started} ms`)
    started = performance.now()
    await Promise.all([drain(budget.pace(chunks(MiB), signal)), drain(budget.pace(chunks(MiB), signal))])
    // Two of 1 MiB share the 4 MiB/s: again at least 400 ms for both.
    assert.ok(performance.now() - started >= 390, `two streams took ${performance.now() - started} ms`)
  })

  it('stops waiting when the client leaves', async () => {
    const budget = new ByteBudget(64 * 1024, 0)
    const leaving = new AbortController()
    const reading = drain(budget.pace(chunks(MiB), leaving.signal))
    setTimeout(() => leaving.abort(), 50)
    await assert.rejects(reading, { name: 'AbortError' })
  })
})
