// Registers resolve-hook.mjs so that shipstation-node 1.5.6 can be imported on
// Node 20. Load it with `node --import ./register.mjs`.

import { register } from 'node:module';

register('./resolve-hook.mjs', import.meta.url);
