/**
 * fast-check settings shared by the fuzz tests: a fixed seed (SEGMESH_FUZZ_SEED overrides it, to
 * explore or to replay), bounded runs, and arbitraries for the inputs hostile clients send.
 * fast-check prints the seed and the shrunk counterexample when a property fails.
 */
import fc from 'fast-check'

export const FUZZ_SEED = process.env.SEGMESH_FUZZ_SEED != null ? Number(process.env.SEGMESH_FUZZ_SEED) : 20261123

/** Parameters for fc.assert: the run's seed and a bounded number of runs. */
export function fuzzRuns(numRuns: number): { seed: number; numRuns: number } {
  return { seed: FUZZ_SEED, numRuns }
}

/** Pieces that break parsers and paths: traversal, separators, NUL, encodings, unicode. */
const NASTY = [
  '..',
  '.',
  '/',
  '\\',
  '\u0000',
  '%2e%2e',
  '%2F',
  '%00',
  '%',
  '~',
  ':',
  '-',
  '.ts',
  '.tombstone',
  '.m3u8',
  'T',
  'Z',
  '+00:00',
  '-',
  '9999',
  '00',
  '60',
  '24',
  '\u202e',
  'é',
  '\uFFFD',
  ' ',
  '\n',
  '?',
  '#',
  '&',
  '='
]

/** Strings mixing arbitrary text with fragments of valid names and known-bad pieces. */
export function hostileString(valid: readonly string[] = []): fc.Arbitrary<string> {
  const piece = fc.oneof(
    fc.string({ maxLength: 12, unit: 'binary' }),
    fc.constantFrom(...NASTY),
    ...(valid.length > 0 ? [fc.constantFrom(...valid)] : [])
  )
  return fc.array(piece, { maxLength: 6 }).map((parts) => parts.join(''))
}
