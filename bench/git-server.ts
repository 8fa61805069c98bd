/**
 * The local git smart-HTTP server of the git polling benchmark, run as a child of bench/run.ts so
 * the poller being measured does not share its event loop (git http-backend itself runs as CGI
 * processes either way).
 *
 *   node bench/git-server.ts --branches 10000 --repos 50 --repo-branches 20 [--max-seconds 600]
 *
 * Makes `many.git` (main + `--branches` feature branches + 500 tags the poller must not fetch) and
 * `--repos` small repositories `r-000.git`… (main + `--repo-branches` branches), then reports
 * `{ type: 'ready', baseUrl, hostPort, many, repos }` over IPC. It removes its repositories and
 * exits when the parent disconnects, and in any case after `--max-seconds`.
 */
import { createBareRepo, startGitServer, type BareRepo, type GitServer } from '../test/support/git-server.ts';

export type GitServerMessage = { type: 'ready'; baseUrl: string; hostPort: string; many: string; manyBranches: number; repos: string[]; repoBranches: number };

function numberArg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index > 0 ? Number(process.argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

const branches = numberArg('branches', 10_000);
const repoCount = numberArg('repos', 50);
const repoBranches = numberArg('repo-branches', 20);
const maxSeconds = numberArg('max-seconds', 600);

let server: GitServer | undefined;
let closing = false;

async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(code), 5000);
  force.unref();
  try {
    await server?.close();
  } finally {
    process.exit(code);
  }
}

const lifetime = setTimeout(() => void shutdown(3), Math.max(1, maxSeconds) * 1000);
lifetime.unref();
process.on('disconnect', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

async function withBranches(repo: BareRepo, count: number, prefix: string): Promise<void> {
  const sha = await repo.commit('main');
  const refs = Array.from({ length: count }, (_, i) => ({ ref: `refs/heads/${prefix}-${String(i).padStart(5, '0')}`, sha }));
  await repo.createRefs(refs);
}

try {
  server = await startGitServer();
  const root = server.root;
  const many = await createBareRepo(root, 'many.git');
  await withBranches(many, branches, 'feature/b');
  const sha = await many.head('main');
  if (sha) await many.createRefs(Array.from({ length: 500 }, (_, i) => ({ ref: `refs/tags/v0.${i}`, sha })));

  const names = Array.from({ length: repoCount }, (_, i) => `r-${String(i).padStart(3, '0')}.git`);
  // A few at a time: each repository is a handful of git invocations.
  for (let first = 0; first < names.length; first += 8) {
    await Promise.all(
      names.slice(first, first + 8).map(async (name) => {
        const repo = await createBareRepo(root, name);
        await withBranches(repo, repoBranches, 'feature/x');
      }),
    );
  }
  const ready: GitServerMessage = {
    type: 'ready',
    baseUrl: server.baseUrl,
    hostPort: server.hostPort,
    many: 'many.git',
    manyBranches: branches + 1,
    repos: names,
    repoBranches: repoBranches + 1,
  };
  process.send?.(ready);
} catch (error) {
  process.stderr.write(`git server failed: ${String(error)}\n`);
  await shutdown(1);
}
