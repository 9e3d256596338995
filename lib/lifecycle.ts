/**
 * The one lifecycle of every long-lived part (js-libp2p's `Startable` is the model). A part is
 * constructed without side effects; `start()` opens what it needs and either resolves with the
 * part running or rejects with nothing left open; `stop()` closes it and is safe to call after any
 * `start()` that resolved. `beforeStop()`, when a part has it, runs on every started part before
 * any is stopped: a listener stops accepting while the parts behind it finish their work.
 */
export interface Startable {
  start: () => Promise<void>
  beforeStop?: () => void | Promise<void>
  stop: () => Promise<void>
}

/**
 * Parts started one after another, remembered in that order, stopped in reverse. A start that
 * fails halfway is undone by `stop()`: the parts started before it are stopped, the failed one is
 * not (its own `start()` cleans up after itself).
 */
export class StartOrder {
  readonly #started: Array<{ name: string; part: Startable }> = []
  #stopping: Promise<void> | null = null

  /** Start `part` and remember it as `name` (for the error of a stop that fails). */
  async start<T extends Startable>(name: string, part: T): Promise<T> {
    if (this.#stopping != null) throw new Error(`cannot start ${name}: stopping`)
    await part.start()
    this.#started.push({ name, part })
    return part
  }

  /**
   * `beforeStop()` on every part, then `stop()` on each in reverse start order. A part that fails
   * to stop does not keep the others running: every part is stopped, then the failures thrown.
   * Called twice, the second call waits for the first.
   */
  async stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    await this.#stopping
  }

  async #stop(): Promise<void> {
    const parts = this.#started.splice(0).reverse()
    const failures: Error[] = []
    const attempt = async (name: string, step: () => void | Promise<void>): Promise<void> => {
      try {
        await step()
      } catch (err) {
        failures.push(new Error(`${name} failed to stop: ${(err as Error).message}`, { cause: err }))
      }
    }
    for (const { name, part } of parts) if (part.beforeStop != null) await attempt(name, async () => await part.beforeStop!())
    for (const { name, part } of parts) await attempt(name, async () => await part.stop())
    if (failures.length === 1) throw failures[0]!
    if (failures.length > 1) throw new AggregateError(failures, failures.map((f) => f.message).join('; '))
  }
}
