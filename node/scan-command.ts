/** `segmesh scan`: reconcile the index with the disk and print what is there. */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../config/errors.ts'
import { resolveConfig } from '../config/load.ts'
import { Reconciler, type ReconcileReport } from '../storage/reconcile.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { type CommandFlag, configSources, formatHelp, parseCommand } from './cli-args.ts'
import { createLogger } from './logger.ts'

const FLAGS: CommandFlag[] = [
  { name: 'verify', type: 'boolean', describe: 're-hash every segment and report files whose bytes do not match their name' },
  { name: 'json', type: 'boolean', describe: 'print the report as JSON' }
]

export const scanHelp = (): string =>
  formatHelp(
    'segmesh scan --data DIR [--verify] [--json]',
    'Reconcile the index with the segment tree (files added or removed while no node ran, leftover temp\n' +
      'files) and print counts: channels, hours, segments by type, tombstones, bad names, bytes.',
    FLAGS
  )

export async function scanCommand(argv: string[]): Promise<number> {
  const args = parseCommand(argv, FLAGS)
  if (args.help) {
    console.log(scanHelp())
    return 0
  }
  const config = resolveConfig(configSources(args))
  // A typo'd backup path must not look like an empty backup: scan reads a folder that exists.
  const data = await stat(config.dataDir).catch(() => null)
  if (data == null)
    throw new ConfigError('--data', `${config.dataDir} does not exist (scan reads an existing data folder; \`start\` creates one)`)
  if (!data.isDirectory()) throw new ConfigError('--data', `${config.dataDir} is a file, not a folder`)
  const log = createLogger(config.logLevel)
  const index = SegmentIndex.open(join(config.dataDir, 'index'), { mapSize: config.indexMapSizeMb * 1024 * 1024 })
  try {
    const store = new SegmentStore({ segmentsDir: config.segmentsDir, index })
    const started = performance.now()
    const report = await new Reconciler(store, log).reconcileAll({
      verify: args.flags.verify === true,
      tempGraceMs: config.tempGraceSeconds * 1000,
      onProgress: (p) => log.info(p, 'scan progress')
    })
    const seconds = (performance.now() - started) / 1000
    if (args.flags.json === true) {
      // Milliseconds are all a duration needs (a float's tail, 0.052782534000000055, is noise).
      console.log(JSON.stringify({ ...report, seconds: Math.round(seconds * 1000) / 1000 }, null, 2))
    } else {
      console.log(formatReport(config.segmentsDir, report, seconds))
    }
    return report.corrupt > 0 ? 2 : 0
  } finally {
    await index.stop()
  }
}

function formatReport(dir: string, r: ReconcileReport, seconds: number): string {
  const total = r.segments.full + r.segments.suspect + r.segments.partial
  return [
    `segments folder  ${dir}`,
    `channels         ${r.channels}`,
    `hours            ${r.hours}`,
    `segments         ${total} (full ${r.segments.full}, suspect ${r.segments.suspect}, partial ${r.segments.partial})`,
    `tombstones       ${r.tombstones} (${r.hidden} segments hidden)`,
    `bytes            ${r.bytes}`,
    `bad names        ${r.badNames}`,
    `corrupt          ${r.corrupt}`,
    `temp files       ${r.tempFiles} left, ${r.recovered} recovered as partial`,
    `index changes    ${r.added} added, ${r.removed} removed; ${r.hashed} files hashed`,
    `took             ${seconds.toFixed(2)} s`
  ].join('\n')
}
