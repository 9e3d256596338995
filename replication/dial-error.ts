/**
 * Why a dial failed, in the operator's terms. libp2p reports a refused port by its socket code,
 * but a wrong peer id or a network key mismatch only as an EncryptionFailedError whose message
 * comes from noise or multistream-select, so those are told apart by the message (a libp2p
 * upgrade that rewords them degrades to the raw message, never to a wrong explanation).
 */

interface DialFailure {
  name?: string
  code?: string
  message?: string
  errors?: unknown[]
}

/**
 * One line per distinct reason (a dial tries every address of the peer). `withNetworkKey`: this
 * node has --network-key, so a handshake that stalls after the key exchange means another key.
 */
export function explainDialError(err: unknown, withNetworkKey: boolean): string {
  const reasons = new Set<string>()
  const visit = (e: unknown): void => {
    const f = (e ?? {}) as DialFailure
    if (Array.isArray(f.errors) && f.errors.length > 0) f.errors.forEach(visit)
    else reasons.add(explainOne(f, withNetworkKey))
  }
  visit(err)
  return [...reasons].join('; ')
}

function explainOne(f: DialFailure, withNetworkKey: boolean): string {
  const message = f.message ?? String(f)
  switch (f.code) {
    case 'ECONNREFUSED':
      return `connection refused (nothing listens there): ${message}`
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `address unreachable (${f.code}): ${message}`
    case 'ECONNRESET':
      return (
        'connection reset during the handshake: a network key mismatch ' +
        `(this node has ${withNetworkKey ? 'a --network-key, the peer none' : 'no --network-key, the peer one'}?)`
      )
  }
  const wrongId = /identity key (\S+) does not match expected remote identity key (\S+)/.exec(message)
  if (wrongId != null) return `wrong peer id: the node at that address is ${wrongId[1]}, not ${wrongId[2]}`
  const timedOut = f.name === 'TimeoutError' || /timed? ?out/i.test(message)
  if (f.name === 'EncryptionFailedError') {
    if (timedOut && withNetworkKey)
      return 'no answer to the encrypted handshake: the peer has another --network-key (or is not a segmesh node)'
    if (timedOut) return 'timeout: the peer accepted the connection but never answered the handshake'
    return (
      `handshake failed: a network key mismatch (this node has ${withNetworkKey ? 'a --network-key' : 'no --network-key'}; ` +
      `the peer ${withNetworkKey ? 'another or none' : 'has one'}?): ${message}`
    )
  }
  if (timedOut || f.name === 'AbortError') return `timeout: no answer (address unreachable or filtered): ${message}`
  return message
}
