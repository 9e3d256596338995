/**
 * An `interface-datastore` over one LMDB database, so libp2p's peer store (the address book)
 * lives in the node's existing LMDB environment instead of a second database engine. Keys are
 * the datastore's string keys (`/peers/<id>`), values its bytes; a query walks the key range of
 * its prefix, and the base class applies filters, order, offset and limit.
 */
import { BaseDatastore } from 'datastore-core/base'
import { Key, type KeyQuery, type Pair, type Query } from 'interface-datastore'
import { NotFoundError } from 'interface-store'
import type { Database } from 'lmdb'

type Options = { signal?: AbortSignal } | undefined

export class LmdbDatastore extends BaseDatastore {
  readonly #db: Database<Uint8Array, string>
  #closed = false

  constructor(db: Database<Uint8Array, string>) {
    super()
    this.#db = db
  }

  /**
   * No reads or writes after this: libp2p may still save a peer after its own stop resolved, and
   * the LMDB environment closes right after. Later calls fail with a clear error instead. (Not
   * named stop(): libp2p stops a datastore that has one in the middle of its own stop.)
   */
  close(): void {
    this.#closed = true
  }

  #check(options: Options): void {
    if (this.#closed) throw new Error('the address book is closed')
    options?.signal?.throwIfAborted()
  }

  override async put(key: Key, value: Uint8Array, options?: Options): Promise<Key> {
    this.#check(options)
    await this.#db.put(key.toString(), value)
    return key
  }

  override get(key: Key, options?: Options): Uint8Array {
    this.#check(options)
    const value = this.#db.get(key.toString())
    if (value == null) throw new NotFoundError(`${key.toString()} not found`)
    return value
  }

  override has(key: Key, options?: Options): boolean {
    this.#check(options)
    return this.#db.doesExist(key.toString())
  }

  override async delete(key: Key, options?: Options): Promise<void> {
    this.#check(options)
    await this.#db.remove(key.toString())
  }

  override *_all(q: Query, options?: Options): Generator<Pair> {
    this.#check(options)
    for (const { key, value } of this.#db.getRange(range(q.prefix))) {
      this.#check(options)
      yield { key: new Key(key), value }
    }
  }

  override *_allKeys(q: KeyQuery, options?: Options): Generator<Key> {
    this.#check(options)
    for (const key of this.#db.getKeys(range(q.prefix))) {
      this.#check(options)
      yield new Key(key)
    }
  }
}

/** The key range a prefix covers ('\uffff' sorts after every character a key uses). */
function range(prefix: string | undefined): { start?: string; end?: string } {
  return prefix == null || prefix === '' ? {} : { start: prefix, end: `${prefix}\uffff` }
}
