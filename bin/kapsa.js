#!/usr/bin/env node
// A source checkout runs the TypeScript CLI as it is (Node strips the types). An installed package
// has only the compiled CLI, and Node refuses to strip types below node_modules anyway.
import { existsSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';

// The CLI loads some seventy modules; Node's compile cache (in the system's temp folder, or where
// NODE_COMPILE_CACHE points) makes every run after the first start several times faster.
enableCompileCache();

const source = new URL('../hooks/cli/kapsa.ts', import.meta.url);
const installed = fileURLToPath(source).split(/[\\/]/).includes('node_modules');
await import(!installed && existsSync(source) ? source.href : new URL('../dist/cli/kapsa.js', import.meta.url).href);
