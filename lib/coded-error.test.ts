import assert from 'node:assert/strict'
import { it } from 'node:test'
import { FfmpegError } from '../cutter/errors.ts'
import { HttpError } from '../http/errors.ts'
import { StorageError, TombstonedError } from '../storage/errors.ts'
import { CodedError } from './coded-error.ts'

it('a coded error carries its class name and its own code, and is an instance of its bases', () => {
  const err = new TombstonedError('deleted', { cause: 'why' })
  assert.equal(err.name, 'TombstonedError')
  assert.equal(err.code, 'SEGMESH_ERR_TOMBSTONED')
  assert.equal(err.message, 'deleted')
  assert.equal(err.cause, 'why')
  assert.ok(err instanceof StorageError && err instanceof CodedError && err instanceof Error)
  assert.equal(new StorageError('x').code, 'SEGMESH_ERR_STORAGE')
  assert.match(String(err.stack), /^TombstonedError: deleted/)
  // Subclasses with constructors of their own keep both.
  const ffmpeg = new FfmpegError('ffmpeg', 'exited 1', { exitCode: 1 })
  assert.deepEqual([ffmpeg.name, ffmpeg.code, ffmpeg.exitCode], ['FfmpegError', 'SEGMESH_ERR_FFMPEG', 1])
  const http = new HttpError(400, 'bad_parameter', 'start: not a time')
  assert.deepEqual([http.name, http.code, http.statusCode], ['HttpError', 'bad_parameter', 400])
})
