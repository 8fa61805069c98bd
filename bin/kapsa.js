#!/usr/bin/env node
// A source checkout runs the TypeScript CLI as it is (Node strips the types). An installed package
// has only the compiled CLI, and Node refuses to strip types below node_modules anyway.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../hooks/cli/kapsa.ts', import.meta.url);
const installed = fileURLToPath(source).split(/[\\/]/).includes('node_modules');
await import(!installed && existsSync(source) ? source.href : new URL('../dist/cli/kapsa.js', import.meta.url).href);
