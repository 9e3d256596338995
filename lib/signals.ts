/** Signal plumbing for host calls: one signal from many, detachable from long-lived ones. */
import { setMaxListeners } from 'node:events'

/**
 * A component's shutdown controller: every job in flight listens to it, so it may have many
 * listeners (the default cap of 10 warns with more than ten concurrent transfers).
 */
export function shutdownController(): AbortController {
  const controller = new AbortController()
  setMaxListeners(Infinity, controller.signal)
  return controller
}

export interface ClearableSignal {
  signal: AbortSignal
  /** Detach from the inputs and stop the timer; call it when the job ends. */
  clear: () => void
}

/**
 * A signal that aborts when any input does (with that input's reason), or after `timeoutMs`
 * with `onTimeout()` as the reason. Unlike `AbortSignal.any`, `clear()` removes the listeners
 * from the host's shutdown signal at once instead of leaving them to the GC.
 */
export function combineSignals(inputs: ReadonlyArray<AbortSignal | undefined>, timeoutMs: number, onTimeout: () => Error): ClearableSignal {
  const controller = new AbortController()
  setMaxListeners(Infinity, controller.signal)
  const cleanups: Array<() => void> = []
  const clear = (): void => {
    for (const cleanup of cleanups.splice(0)) cleanup()
  }
  const abort = (reason: unknown): void => {
    clear()
    if (!controller.signal.aborted) controller.abort(reason)
  }
  for (const input of inputs) {
    if (input == null) continue
    if (input.aborted) {
      abort(input.reason)
      return { signal: controller.signal, clear }
    }
    const onAbort = (): void => abort(input.reason)
    input.addEventListener('abort', onAbort, { once: true })
    cleanups.push(() => input.removeEventListener('abort', onAbort))
  }
  const timer = setTimeout(() => abort(onTimeout()), timeoutMs)
  cleanups.push(() => clearTimeout(timer))
  return { signal: controller.signal, clear }
}

/** Settle with the promise, or reject with the signal's reason if it aborts first. */
export async function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}
