/**
 * Start-up failures as an operator reads them: one line naming what to change and a sysexits
 * code. Errors a test cannot cause on a machine where it runs as root (a folder it may not write)
 * or at all (a failing disk) are built here as the system reports them.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { resolveConfig } from '../config/load.ts'
import { explainStartFailure } from './start-failure.ts'

const config = resolveConfig({ flags: { data: '/srv/segmesh', 'http-port': '8080', 'p2p-port': '4001' } })
const systemError = (code: string, fields: Record<string, unknown> = {}): Error =>
  Object.assign(new Error(`${code}: something`), { code, ...fields })

describe('start failures', () => {
  it('name the flag or the limit to change, with exit 64, 73, 74 or 70', () => {
    const cases: Array<[unknown, RegExp, number]> = [
      [systemError('EACCES', { path: '/srv/segmesh/index' }), /cannot write \/srv\/segmesh\/index \(permission denied\).*--data/, 73],
      [systemError('EACCES', { port: 80 }), /ports below 1024.*--http-port, --p2p-port or --admin-port/, 73],
      [systemError('EADDRINUSE', { port: 4001 }), /port 4001 is already in use.*--p2p-port/, 73],
      // libp2p keeps only the message of its listener's error, wrapped.
      [
        new AggregateError([new Error('listen EADDRINUSE: address already in use 0.0.0.0:8080')], 'no listener'),
        /port 8080.*--http-port/,
        73
      ],
      [systemError('ENOTDIR', { path: '/srv/segmesh/index' }), /--data must be a folder/, 64],
      [systemError('EMFILE'), /too many open files \(EMFILE\): raise the limit/, 74],
      [new Error('opening the index', { cause: systemError('EIO') }), /EIO: something: an I\/O error under --data \/srv\/segmesh/, 74],
      [new TypeError('x is not a function'), /^could not start: x is not a function \(--log-level debug shows where\)$/, 70]
    ]
    for (const [err, line, code] of cases) {
      const failure = explainStartFailure(err, config)
      assert.match(failure.line, line, String(err))
      assert.equal(failure.exitCode, code, String(err))
      assert.ok(!failure.line.includes('\n') && !/\bat .*:\d+:\d+/.test(failure.line), 'one line, no stack')
    }
  })
})
