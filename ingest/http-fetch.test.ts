import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DiskFullError, TombstonedError } from '../storage/errors.ts'
import { HttpStatusError } from './errors.ts'
import { errorKind, rangeHeaders } from './http-fetch.ts'

describe('errorKind', () => {
  it('gives every failure one of the bounded kinds', () => {
    const coded = (code: string): Error => Object.assign(new Error(code), { code })
    assert.equal(errorKind(new HttpStatusError('http://o/s.ts', 500)), 'http')
    assert.equal(errorKind(coded('UND_ERR_HEADERS_TIMEOUT')), 'timeout')
    assert.equal(errorKind(coded('UND_ERR_BODY_TIMEOUT')), 'timeout')
    assert.equal(errorKind(new DOMException('attempt took too long', 'TimeoutError')), 'timeout')
    assert.equal(errorKind(coded('ECONNREFUSED')), 'network')
    // A connect timeout is a failure to reach the origin, not an origin gone silent.
    assert.equal(errorKind(coded('UND_ERR_CONNECT_TIMEOUT')), 'network')
    // A happy-eyeballs connect fails with an AggregateError: its first part's code counts.
    assert.equal(errorKind(new AggregateError([coded('ECONNREFUSED'), coded('EHOSTUNREACH')])), 'network')
    assert.equal(errorKind(coded('ECONNRESET')), 'network')
    assert.equal(errorKind(coded('UND_ERR_SOCKET')), 'network')
    assert.equal(errorKind(new DiskFullError('no space')), 'disk_full')
    assert.equal(errorKind(new TombstonedError('deleted')), 'tombstoned')
    assert.equal(errorKind(new Error('EIO writing')), 'store')
  })
})

describe('rangeHeaders', () => {
  it('asks for exactly the range, end inclusive', () => {
    assert.deepEqual(rangeHeaders({ offset: 1000, length: 500 }), { range: 'bytes=1000-1499' })
    assert.deepEqual(rangeHeaders(null), {})
  })
})
