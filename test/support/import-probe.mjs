// Imports the module named on the command line while watching for what an import must not do:
// read the environment, start timers or handles, add globals, print. Then calls two pure hooks
// with the watch still on (they must not read the environment either) and prints one JSON line.
const reads = [];
const realEnv = process.env;
// Node reads a few variables itself while it loads modules; a read counts when the code that
// made it (the first frame past this probe's trap) is not Node's own.
const note = (key) => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 100;
  const frames = new Error().stack.split('\n').slice(1);
  Error.stackTraceLimit = limit;
  const reader = frames.find((frame) => !frame.includes(import.meta.url) && !frame.endsWith('(<anonymous>)')) ?? '';
  if (!reader.includes('node:')) reads.push(`${String(key)} ${reader.trim()}`);
};
process.env = new Proxy(realEnv, {
  get: (target, key) => (note(key), Reflect.get(target, key)),
  has: (target, key) => (note(key), Reflect.has(target, key)),
  ownKeys: (target) => (note('<all keys>'), Reflect.ownKeys(target)),
  getOwnPropertyDescriptor: (target, key) => (note(key), Reflect.getOwnPropertyDescriptor(target, key)),
});
const globalsBefore = new Set(Object.getOwnPropertyNames(globalThis));
// Whatever the module prints is recorded, not passed on: stdout carries the report alone.
const written = [];
const printReport = process.stdout.write.bind(process.stdout);
for (const stream of [process.stdout, process.stderr]) {
  stream.write = (chunk, ...rest) => {
    written.push(String(chunk));
    const callback = rest.find((item) => typeof item === 'function');
    if (callback) callback();
    return true;
  };
}
// Timers are counted as they are set: an unref'd one does not show among the active resources.
const timersSet = [];
const realTimers = {};
for (const name of ['setTimeout', 'setInterval', 'setImmediate']) {
  realTimers[name] = globalThis[name];
  globalThis[name] = (...args) => (timersSet.push(name), realTimers[name](...args));
}
const resourcesBefore = process.getActiveResourcesInfo().length;

const library = await import(process.argv[2]);
const afterImport = {
  envReads: [...reads],
  newGlobals: Object.getOwnPropertyNames(globalThis).filter((name) => !globalsBefore.has(name)),
  newResources: process.getActiveResourcesInfo().slice(resourcesBefore),
  timersSet: [...timersSet],
  output: [...written],
};
Object.assign(globalThis, realTimers);

const request = JSON.parse(process.argv[3]);
const now = new Date('2026-11-26T12:00:00Z');
const environmentReply = library.syncEnvironment(request, { now });
const projectReply = library.syncProject(
  { parent: { apiVersion: 'kapsa-project.io/v1alpha1', kind: 'Project', metadata: { name: 'shop', generation: 1 }, spec: {} }, children: {} },
  { now, settings: library.projectSettings(library.defaultConfig()) },
);
const afterCalls = { envReads: reads.slice(afterImport.envReads.length) };
process.env = realEnv;
printReport(
  `${JSON.stringify({
    afterImport,
    afterCalls,
    exports: Object.keys(library).sort(),
    environmentReply,
    projectPhase: projectReply.status.phase,
  })}\n`,
);
