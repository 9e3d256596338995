/**
 * The address book: libp2p's peer store, kept in a datastore that survives restarts (the node
 * gives it lmdb-datastore.ts on its index's LMDB environment). What it adds to the peer store:
 * which saved peers to dial when the node starts (it may have come back on new ports, with no
 * bootstrap list), and a bound on how many peers are saved.
 */
import type { PeerId, PeerStore } from '@libp2p/interface'

/** The peer store writes this on every save (not in the `Peer` type, but kept by its decoder). */
type SavedPeer = Awaited<ReturnType<PeerStore['get']>> & { updated?: number }

/** Peers with at least one address, most recently updated first; never `exclude`d ones. */
export async function savedPeers(store: PeerStore, exclude: (peerId: string) => boolean): Promise<PeerId[]> {
  const out: SavedPeer[] = []
  for (const peer of await store.all()) {
    if (peer.addresses.length > 0 && !exclude(peer.id.toString())) out.push(peer)
  }
  return out.sort((a, b) => (b.updated ?? 0) - (a.updated ?? 0)).map((p) => p.id)
}

/**
 * Forget the least recently updated peers past `max`, never a `keep` one (connected, bootstrap).
 * The peer store itself has no bound: every peer that ever connected would stay. Returns how many
 * went.
 */
export async function pruneAddressBook(store: PeerStore, max: number, keep: (peerId: string) => boolean): Promise<number> {
  const peers = (await store.all()) as SavedPeer[]
  if (peers.length <= max) return 0
  const candidates = peers.filter((p) => !keep(p.id.toString())).sort((a, b) => (a.updated ?? 0) - (b.updated ?? 0))
  const victims = candidates.slice(0, peers.length - max)
  for (const p of victims) await store.delete(p.id)
  return victims.length
}
