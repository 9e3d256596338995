// Loaded by simulations/child-node.ts through NODE_OPTIONS=--import into `bin/segmesh start`.
// Node 20 runs NODE_OPTIONS imports before the launcher's own tsx loader, so this plain module
// registers tsx itself, then loads the TypeScript shim (which does nothing unless SEGSIM_DIR is set).
// NODE_OPTIONS also reaches worker threads (the store's file hash worker): the hook belongs to the
// node's main thread only. A second copy in the worker wrote its own, empty stats.json over the
// node's, and the two threads' renames of the same temp file raced until one threw and the node
// died.
import { isMainThread } from 'node:worker_threads'

if (isMainThread) {
  const { register } = await import('tsx/esm/api')
  register()
  await import('./shim.ts')
}
