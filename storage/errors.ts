/** Errors of the storage layer. Match on `code` (or `name`), never on the message. */
import { CodedError } from '../lib/coded-error.ts'

export class StorageError extends CodedError {
  override readonly code: string = 'SEGMESH_ERR_STORAGE'
}

export class HashMismatchError extends StorageError {
  override readonly code: string = 'SEGMESH_ERR_HASH_MISMATCH'
}

export class TombstonedError extends StorageError {
  override readonly code: string = 'SEGMESH_ERR_TOMBSTONED'
}

export class ContainsHolesError extends StorageError {
  override readonly code: string = 'SEGMESH_ERR_CONTAINS_HOLES'
}

/** ENOSPC or EDQUOT while writing, or writes paused because the disk is (nearly) full. */
export class DiskFullError extends StorageError {
  override readonly code: string = 'SEGMESH_ERR_DISK_FULL'
}

/** A download into an hour the disk budget evicted: not fetched back unless a client reads it. */
export class EvictedError extends StorageError {
  override readonly code: string = 'SEGMESH_ERR_EVICTED'
}
