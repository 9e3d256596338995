import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ResponseTooLargeError, transportFailure } from './http-client.ts'

const coded = (code: string): Error => Object.assign(new Error(code), { code })

describe('transportFailure', () => {
  it('counts a connect timeout as a failure to connect, not as a silent server', () => {
    assert.equal(transportFailure(coded('UND_ERR_CONNECT_TIMEOUT')), 'connect')
    assert.equal(transportFailure(coded('ETIMEDOUT')), 'connect')
    assert.equal(transportFailure(new AggregateError([coded('ECONNREFUSED'), coded('EHOSTUNREACH')])), 'connect')
    assert.equal(transportFailure(coded('UND_ERR_HEADERS_TIMEOUT')), 'timeout')
    assert.equal(transportFailure(new DOMException('too long', 'TimeoutError')), 'timeout')
  })

  it('names the other transport failures and nothing else', () => {
    assert.equal(transportFailure(coded('ECONNRESET')), 'network')
    assert.equal(transportFailure(coded('UND_ERR_SOCKET')), 'network')
    assert.equal(transportFailure(coded('UND_ERR_ABORTED')), 'aborted')
    assert.equal(transportFailure(new ResponseTooLargeError('big')), 'too_large')
    assert.equal(transportFailure(coded('SEGMESH_ERR_DISK_FULL')), undefined)
    assert.equal(transportFailure(new Error('no code')), undefined)
  })
})
