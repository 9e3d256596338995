/** A started P2PHost on 127.0.0.1 (a free port, a fresh key) subscribed to one topic, for tests of the host alone. */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { P2PHostInit } from '../../replication/host-config.ts'
import { P2PHost } from '../../replication/host.ts'

export async function startTestHost(topic: string, init: Partial<P2PHostInit> = {}): Promise<P2PHost> {
  const host = new P2PHost({
    privateKey: await generateKeyPair('Ed25519'),
    listenHost: '127.0.0.1',
    listenPort: 0,
    topics: [topic],
    ...init
  })
  await host.start()
  return host
}
