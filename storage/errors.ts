/** Errors of the storage layer. Match on `code` (or `name`), never on the message. */

export class StorageError extends Error {
  static override name = 'StorageError'
  override name = 'StorageError'
  code = 'SEGMESH_ERR_STORAGE'
}

export class HashMismatchError extends StorageError {
  static override name = 'HashMismatchError'
  override name = 'HashMismatchError'
  override code = 'SEGMESH_ERR_HASH_MISMATCH'
}

export class TombstonedError extends StorageError {
  static override name = 'TombstonedError'
  override name = 'TombstonedError'
  override code = 'SEGMESH_ERR_TOMBSTONED'
}

export class ContainsHolesError extends StorageError {
  static override name = 'ContainsHolesError'
  override name = 'ContainsHolesError'
  override code = 'SEGMESH_ERR_CONTAINS_HOLES'
}

/** ENOSPC or EDQUOT while writing, or writes paused because the disk is (nearly) full. */
export class DiskFullError extends StorageError {
  static override name = 'DiskFullError'
  override name = 'DiskFullError'
  override code = 'SEGMESH_ERR_DISK_FULL'
}
