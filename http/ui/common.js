// Helpers shared by the status page and the player. Pages are built with DOM calls and
// textContent only (never innerHTML), so nothing a node or a peer reports can inject markup.

/** An element with attributes (null ones skipped) and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const e =
    tag === 'svg' || tag === 'rect' || tag === 'title' || tag === 'line'
      ? document.createElementNS('http://www.w3.org/2000/svg', tag)
      : document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) if (v != null) e.setAttribute(k, String(v))
  for (const c of children.flat()) if (c != null) e.append(c instanceof Node ? c : String(c))
  return e
}

/** A link only for http(s) URLs: a peer-supplied `javascript:` URL stays plain text. */
export function link(url, text = url) {
  return /^https?:\/\//i.test(url) ? h('a', { href: url }, text) : h('span', {}, text)
}

export async function getJson(url, signal) {
  const res = await fetch(url, { signal, cache: 'no-store' })
  const body = await res.json().catch(() => null)
  if (!res.ok) throw new Error(body?.message ?? `${res.status} ${res.statusText}`)
  return body
}

export function formatBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000
    i++
  }
  return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${units[i]}`
}

/** `1 hour`, `2 hours`. */
export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`

export function formatSeconds(s) {
  if (s < 120) return `${Math.round(s)} s`
  if (s < 7200) return `${Math.round(s / 60)} min`
  if (s < 172800) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`
  return `${Math.round(s / 86400)} days`
}

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/

/** An ISO UTC instant → integer µs since the epoch, from its digits (no float seconds). */
export function parseInstant(text) {
  const m = INSTANT.exec(text ?? '')
  if (m == null) return null
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
  return ms * 1000 + Number((m[7] ?? '').slice(0, 6).padEnd(6, '0'))
}

/** Integer µs since the epoch → `YYYY-MM-DDTHH:MM:SS.ffffffZ`, exact. */
export function formatInstant(us) {
  const micros = ((us % 1e6) + 1e6) % 1e6
  return `${new Date((us - micros) / 1000).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`
}

/** Shows a message in the page's alert banner; an empty message hides it. */
export function showProblem(message) {
  const banner = document.getElementById('banner')
  banner.textContent = message
  banner.classList.toggle('shown', message !== '')
}
