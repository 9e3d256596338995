/**
 * docs/METRICS.md and docs/grafana-dashboard.json against a live `/metrics`: a node with every
 * metric group on (replication, recording, retention, disk space, disk budget) is scraped. Every metric it
 * exposes must be in the table with the same type and help text, its labels listed, and every row
 * must be a metric the node exposes (on a mismatch the message carries the rows to paste). Every
 * metric the dashboard queries must exist.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { startNode } from './helpers/network.ts'

interface Metric {
  name: string
  type: string
  help: string
  labels: Set<string>
}

/** Metrics of a Prometheus text exposition: HELP, TYPE and the label names seen in samples. */
function parseExposition(text: string): Map<string, Metric> {
  const metrics = new Map<string, Metric>()
  const get = (name: string): Metric => {
    let m = metrics.get(name)
    if (m == null) metrics.set(name, (m = { name, type: '', help: '', labels: new Set() }))
    return m
  }
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
    if (meta != null) {
      if (meta[1] === 'HELP') get(meta[2]!).help = meta[3]!.replaceAll('\\\\', '\\').replaceAll('\\n', '\n')
      else get(meta[2]!).type = meta[3]!
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/.exec(line)
    if (sample == null) continue
    // A histogram's samples are NAME_bucket/_sum/_count.
    const name = metrics.has(sample[1]!) ? sample[1]! : sample[1]!.replace(/_(bucket|sum|count)$/, '')
    for (const [, label] of sample[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) {
      if (label !== 'le') get(name).labels.add(label!)
    }
  }
  return metrics
}

/** Rows of the tables in docs/METRICS.md: | `name` | type | labels | help |. */
async function documented(): Promise<Map<string, { type: string; labels: Set<string>; help: string }>> {
  const text = await readFile(new URL('../docs/METRICS.md', import.meta.url), 'utf8')
  const rows = new Map<string, { type: string; labels: Set<string>; help: string }>()
  for (const line of text.split('\n')) {
    const m = /^\| `([a-z_:0-9]+)` \| (\w+) \| ([^|]*) \| (.*) \|$/.exec(line)
    if (m == null) continue
    const labels = new Set(
      m[3]!
        .split(',')
        .map((l) => l.trim().replaceAll('`', ''))
        .filter((l) => l !== '' && l !== '–')
    )
    rows.set(m[1]!, { type: m[2]!, labels, help: m[4]!.replaceAll('\\|', '|') })
  }
  return rows
}

const row = (m: Metric): string =>
  `| \`${m.name}\` | ${m.type} | ${[...m.labels].map((l) => `\`${l}\``).join(', ') || '–'} | ${m.help.replaceAll('|', '\\|')} |`

/** Grafana fills this in with the data source chosen on import. */
const DATASOURCE = ['$', '{DS_PROMETHEUS}'].join('')

interface Panel {
  type: string
  title: string
  id: number
  datasource?: { uid: string }
  targets?: Array<{ expr: string; datasource?: { uid: string } }>
}

/** Metric names in a PromQL expression (a histogram's _bucket/_sum/_count mapped to its name). */
function metricsIn(expr: string, known: ReadonlyMap<string, Metric>): string[] {
  const words = expr.replace(/\{[^}]*\}|"[^"]*"/g, ' ').match(/\b(?:segmesh|http|process|nodejs)_[a-z0-9_]+/g) ?? []
  return words.map((w) => (known.has(w) ? w : w.replace(/_(bucket|sum|count)$/, '')))
}

describe('metrics documentation', () => {
  it('matches a live node', { timeout: 60_000 }, async (t) => {
    // A recorder whose source never answers still registers its metrics (and counts the failures).
    const node = await startNode(t, {
      extra: { record: ['metricsdoc=http://127.0.0.1:9/live.m3u8'], 'retention-days': '30', 'max-disk-bytes': '1T', 'http-workers': '1' }
    })
    // Some traffic, so the labelled request metrics have samples to read labels from.
    for (const path of ['/files', '/status', '/nope']) await (await request(`${node.url}${path}`)).body.dump()
    const res = await request(`${node.url}/metrics`)
    assert.equal(res.statusCode, 200)
    const live = parseExposition(await res.body.text())
    assert.ok(live.size > 40, `only ${live.size} metrics parsed`)

    await t.test('docs/METRICS.md lists exactly the metrics a node exposes, with their type, labels and help', async () => {
      const docs = await documented()
      const problems: string[] = []
      for (const m of live.values()) {
        const d = docs.get(m.name)
        if (d == null) problems.push(`missing: ${row(m)}`)
        else if (d.type !== m.type || d.help !== m.help || [...m.labels].some((l) => !d.labels.has(l))) problems.push(`differs: ${row(m)}`)
      }
      for (const name of docs.keys()) if (!live.has(name)) problems.push(`not exposed by the node: ${name}`)
      assert.deepEqual(problems, [])
    })

    await t.test('docs/grafana-dashboard.json is an importable dashboard of metrics that exist', async () => {
      const dashboard = JSON.parse(await readFile(new URL('../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
        __inputs: Array<{ name: string; pluginId: string }>
        panels: Panel[]
        templating: { list: Array<{ query: { query: string }; datasource: { uid: string } }> }
      }
      assert.deepEqual(
        dashboard.__inputs.map((i) => [i.name, i.pluginId]),
        [['DS_PROMETHEUS', 'prometheus']]
      )
      const ids = dashboard.panels.map((p) => p.id)
      assert.equal(new Set(ids).size, ids.length, 'panel ids are unique')
      const exprs: string[] = dashboard.templating.list.map((v) => {
        assert.equal(v.datasource.uid, DATASOURCE)
        return v.query.query
      })
      for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
        assert.equal(panel.datasource?.uid, DATASOURCE, panel.title)
        assert.ok((panel.targets ?? []).length > 0, `${panel.title} has no query`)
        for (const target of panel.targets!) {
          assert.equal(target.datasource?.uid, DATASOURCE, panel.title)
          exprs.push(target.expr)
        }
      }
      const used = new Set(exprs.flatMap((e) => metricsIn(e, live)))
      assert.deepEqual(
        [...used].filter((name) => !live.has(name)),
        [],
        'the dashboard queries metrics no node exposes'
      )
      // Each area the dashboard is for has a chart.
      for (const name of [
        'http_request_duration_seconds',
        'http_response_bytes_total',
        'segmesh_index_segments',
        'segmesh_index_hours',
        'segmesh_index_tombstones',
        'segmesh_coverage_holes',
        'segmesh_segments_fetched_total',
        'segmesh_replication_lag_seconds',
        'segmesh_ingest_segments_total',
        'process_resident_memory_bytes',
        'process_cpu_seconds_total'
      ]) {
        assert.ok(used.has(name), `no panel shows ${name}`)
      }
    })
  })
})
