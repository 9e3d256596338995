/**
 * The micro-benchmark behind costs.ts (not part of the model, which never loads libp2p): two real
 * P2PHosts on loopback, configured as a node's, and the bytes both ends write to their sockets for
 * a connection's setup, an idle minute without pings, a ping round, a hello exchange (beyond its
 * 1,000 B answer) and a gossip message (beyond its 410 B payload), with the process's CPU.
 *
 *   node --import tsx --import ./node/compat.ts simulations/model/measure-wire.ts   (about 80 s)
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type net from 'node:net'
import { P2PHost } from '../../replication/host.ts'
import { watchSockets } from '../socket-bytes.ts'

const ports = new Set<number>()
const sockets = new Set<net.Socket>()
watchSockets({ accepted: (s) => sockets.add(s), opening: () => (s) => sockets.add(s) })
const written = (): number => {
  let n = 0
  for (const s of sockets) if (ports.has(s.localPort ?? -1) || ports.has(s.remotePort ?? -1)) n += s.bytesWritten
  return n
}
const cpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

async function host(pingIntervalMs: number, bootstrap?: string): Promise<P2PHost> {
  const h = new P2PHost({
    privateKey: await generateKeyPair('Ed25519'),
    listenHost: '127.0.0.1',
    listenPort: 0,
    topics: ['segmesh/v1'],
    pingIntervalMs,
    sameIpPeers: 0,
    inboundConnectionsPerIpPerSecond: 1000,
    ...(bootstrap != null ? { bootstrap: [bootstrap] } : {})
  })
  await h.start()
  for (const a of h.multiaddrs()) ports.add(Number(/tcp\/(\d+)/.exec(a)![1]))
  return h
}

const out: Record<string, number> = {}
{
  const before = written()
  const a = await host(3_600_000)
  const b = await host(3_600_000, a.multiaddrs()[0])
  const answer = new Uint8Array(1000).fill(65)
  a.handleHello(() => answer)
  b.handleHello(() => answer)
  await sleep(5000)
  out.connectBytes = written() - before
  let w = written()
  let c = cpuMs()
  await sleep(30_000)
  out.idleBytesPerConnectionMinute = (written() - w) * 2
  out.idleCpuMsPerHostMinute = cpuMs() - c
  w = written()
  c = cpuMs()
  for (let i = 0; i < 100; i++) await b.requestHello(a.peerId)
  out.helloOverheadBytes = (written() - w) / 100 - answer.byteLength
  out.helloCpuMs = (cpuMs() - c) / 100
  let delivered = 0
  a.onMessage(() => delivered++)
  await sleep(3000)
  w = written()
  c = cpuMs()
  for (let i = 0; i < 100; i++) {
    const m = new Uint8Array(410).fill(66)
    m[0] = i
    await b.publish(m, 'segmesh/v1')
    await sleep(20)
  }
  await sleep(3000)
  out.gossipDelivered = delivered
  out.gossipHopOverheadBytes = (written() - w) / 100 - 410
  out.gossipHopCpuMs = (cpuMs() - c - 6 * (out.idleCpuMsPerHostMinute / 60) * 2) / 100
  await a.stop()
  await b.stop()
}
{
  const a = await host(2000)
  const b = await host(2000, a.multiaddrs()[0])
  await sleep(5000)
  const w = written()
  await sleep(30_000)
  out.pingBytesPerConnectionRound = ((written() - w) * 2 - out.idleBytesPerConnectionMinute!) / 30
  await a.stop()
  await b.stop()
}
console.log(JSON.stringify(out, null, 1))
process.exit(0)
