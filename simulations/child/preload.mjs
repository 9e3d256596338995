// Loaded by simulations/child-node.ts through NODE_OPTIONS=--import into `bin/segmesh start`.
// Node 20 runs NODE_OPTIONS imports before the launcher's own tsx loader, so this plain module
// registers tsx itself, then loads the TypeScript shim (which does nothing unless SEGSIM_DIR is set).
import { register } from 'tsx/esm/api'

register()
await import('./shim.ts')
