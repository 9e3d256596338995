import { createHash } from 'node:crypto'

/** A sha256 digest in the url-safe, unpadded base64 used in segment names: 43 characters. */
const HASH_TEXT = /^[A-Za-z0-9_-]{43}$/

/** sha256 bytes → url-safe base64 without padding (the form segment names carry). */
export function encodeHash(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('base64url')
}

/**
 * The 32 digest bytes of a name's hash field, or null when the text is not exactly the canonical
 * encoding of 32 bytes. Stricter than the original (which accepts any length): no correct writer
 * produces anything else, and a lenient decoder lets two names map to one digest.
 */
export function decodeHash(text: string): Buffer | null {
  if (!HASH_TEXT.test(text)) return null
  const bytes = Buffer.from(text, 'base64url')
  // The last character carries 2 spare bits; a non-canonical one decodes to the same bytes.
  if (bytes.length !== 32 || bytes.toString('base64url') !== text) return null
  return bytes
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}
