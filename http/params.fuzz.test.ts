/**
 * Property-based tests of the time and path parameters every route validates: arbitrary strings
 * give a value or a 400 HttpError (never another exception), and a valid ISO time round-trips
 * exactly in integer µs. Seed: test/helpers/fuzz.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { fuzzRuns, hostileString } from '../test/helpers/fuzz.ts'
import { formatInstant } from '../storage/time.ts'
import { HttpError } from './errors.ts'
import { boolParam, channelParam, hourParam, qualityParam, segmentFileParam, timeParam } from './params.ts'

/** 1970 to 2200, µs: the instants a stream can have. */
const instant = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) * 1000 })

/** Either a value, or a 400 with a message that names the parameter. */
function settles(name: string, fn: () => unknown): unknown {
  try {
    return fn()
  } catch (err) {
    assert.ok(err instanceof HttpError, `${name} threw ${String(err)}`)
    assert.equal(err.statusCode, 400)
    assert.ok(err.message.startsWith(`${name}: `), err.message)
    return undefined
  }
}

const timeLike = fc.oneof(
  instant.map(formatInstant),
  fc.stringMatching(/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$/),
  hostileString(['2020-01-01T00:00:00', '.123456789', 'Z', '+00:00', '0050-', '9999-12-31T23:59:59'])
)

describe('HTTP parameters under fuzzing', () => {
  it('arbitrary strings give a value or a 400, never another error', () => {
    fc.assert(
      fc.property(hostileString(['abc', '2020-01-01T00']), timeLike, (text, time) => {
        settles('channel', () => channelParam(text))
        settles('quality', () => qualityParam(text))
        settles('hour', () => hourParam(text))
        settles('file', () => segmentFileParam(text))
        settles('tombstones', () => boolParam('tombstones', text, false))
        const us = settles('start', () => timeParam('start', time))
        // An accepted time is an exact integer of µs whose text we can write back.
        if (us !== undefined) {
          assert.ok(Number.isSafeInteger(us), `${time} → ${String(us)}`)
          assert.equal(timeParam('start', formatInstant(us as number)), us)
        }
      }),
      fuzzRuns(5000)
    )
  })

  it('valid ISO times round-trip exactly in µs, with Z, +00:00 or no suffix', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom('Z', '+00:00', '+0000', '-00:00', ''), fc.integer({ min: 0, max: 999 }), (us, suffix, nanos) => {
        const text = formatInstant(us).slice(0, -1)
        assert.equal(timeParam('t', `${text}${suffix}`), us)
        // Digits beyond µs are cut, never rounded through a float.
        assert.equal(timeParam('t', `${text}${String(nanos).padStart(3, '0')}Z`), us)
        assert.equal(timeParam('t', `${text.replace('T', ' ')}Z`), us)
      }),
      fuzzRuns(3000)
    )
  })

  it('times whose µs are not exact integers, or before year 100, are refused', () => {
    for (const text of ['0050-01-01T00:00:00Z', '9999-12-31T23:59:59.999999Z', '2300-01-01T00:00:00Z']) {
      assert.throws(() => timeParam('start', text), { statusCode: 400 }, text)
    }
  })
})
