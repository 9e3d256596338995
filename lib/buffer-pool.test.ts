import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir } from '../test/helpers/tree.ts'
import { BufferPool, fileChunks } from './buffer-pool.ts'

describe('BufferPool', () => {
  it('lends at most its budget, reuses what comes back, and never lends for a larger body', () => {
    const pool = new BufferPool({ bufferBytes: 1024, maxBytes: 3 * 1024 })
    assert.equal(pool.take(1025), null)
    const lent = [pool.take(10), pool.take(1024), pool.take(1)]
    assert.ok(lent.every((b) => b != null && b.length === 1024))
    assert.equal(pool.take(10), null, 'over the budget')
    assert.equal(pool.out, 3)
    // A view comes back as the whole buffer, and is lent again.
    pool.give(lent[0]!.subarray(0, 10))
    const again = pool.take(500)
    assert.equal(again?.buffer, lent[0]!.buffer)
    assert.equal(again?.length, 1024)
    for (const b of [again!, lent[1]!, lent[2]!]) pool.give(b)
    assert.equal(pool.out, 0)
  })
})

describe('fileChunks', () => {
  it('reads a range through one reused buffer, given back at the end, early or not; without a pool it allocates one per file', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'f')
    const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251))
    await writeFile(path, bytes)
    const pool = new BufferPool({ bufferBytes: 1024, maxBytes: 1024 })
    const seen = new Set<ArrayBufferLike>()
    const parts: Buffer[] = []
    for await (const chunk of fileChunks(path, { pool, start: 100, end: 4_099 })) {
      seen.add(chunk.buffer)
      parts.push(Buffer.from(chunk))
      assert.equal(pool.out, 1)
    }
    assert.ok(Buffer.concat(parts).equals(bytes.subarray(100, 4_100)))
    assert.equal(parts.length, 4)
    assert.equal(seen.size, 1, 'one buffer for every chunk')
    assert.equal(pool.out, 0)
    // Stopped early: back too.
    for await (const _ of fileChunks(path, { pool })) break
    assert.equal(pool.out, 0)
    // The pool spent: the file still reads, into a buffer of its own.
    const held = pool.take(1)!
    let total = 0
    for await (const chunk of fileChunks(path, { pool })) total += chunk.length
    assert.equal(total, bytes.length)
    pool.give(held)
    await assert.rejects(async () => {
      for await (const _ of fileChunks(path, { pool, start: 9_000, end: 20_000 })) {
      }
    }, /ended at byte 10000/)
    assert.equal(pool.out, 0)
  })
})
