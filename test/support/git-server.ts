/**
 * A real git smart-HTTP server for tests: node:http on 127.0.0.1 (random port) running
 * `git http-backend` as a CGI program over bare repositories in a temp directory.
 *
 * Per-server switches (mutable between tests):
 *  - `auth[repo]` = {username, password}: basic auth required for that repository (401 otherwise);
 *  - `protocolV2` (default true): forward the `Git-Protocol` header as GIT_PROTOCOL. Off = a
 *    server that only speaks v0/v1;
 *  - `hang` paths: the request is accepted and never answered;
 *  - `garbage` paths: 200 with nonsense;
 *  - `stall` paths: 200 with the right content type and a first line, then the body never ends;
 *  - `redirects[prefix]` = base URL: 302 to `<base><rest of the path>?<query>`.
 * Every request is recorded (method, path, query, Authorization header) for assertions.
 *
 * Repository helpers use the git CLI directly on the bare repositories (commit-tree, update-ref),
 * so 10,000 branches is one `git update-ref --stdin` call.
 */
import { spawn, execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const GIT_HTTP_BACKEND = process.env.GIT_HTTP_BACKEND ?? '/usr/lib/git-core/git-http-backend';

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  authorization: string | undefined;
  gitProtocol: string | undefined;
}

export interface GitServer {
  readonly root: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** The host:port entry tests put in the egress allow list. */
  readonly hostPort: string;
  auth: Record<string, { username: string; password: string }>;
  protocolV2: boolean;
  hang: Set<string>;
  garbage: Set<string>;
  /** Paths answered with a valid status line and a first pkt-line, then never finished. */
  stall: Set<string>;
  redirects: Record<string, string>;
  readonly requests: RecordedRequest[];
  /** Requests whose path starts with `prefix` (e.g. `/app.git/`). */
  count(prefix: string): number;
  resetRequests(): void;
  url(repo: string): string;
  close(): Promise<void>;
}

export interface GitServerOptions {
  /** Share another server's repositories (a second host for redirect tests). */
  root?: string;
  host?: string;
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Kapsa Test',
  GIT_AUTHOR_EMAIL: 'test@kapsa.invalid',
  GIT_COMMITTER_NAME: 'Kapsa Test',
  GIT_COMMITTER_EMAIL: 'test@kapsa.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export async function startGitServer(options: GitServerOptions = {}): Promise<GitServer> {
  const ownsRoot = options.root === undefined;
  const root = options.root ?? (await mkdtemp(path.join(tmpdir(), 'kapsa-git-')));
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  const state = {
    auth: {} as Record<string, { username: string; password: string }>,
    protocolV2: true,
    hang: new Set<string>(),
    garbage: new Set<string>(),
    stall: new Set<string>(),
    redirects: {} as Record<string, string>,
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const pathname = decodeURIComponent(url.pathname);
    requests.push({
      method: req.method ?? 'GET',
      path: pathname,
      query: url.search.slice(1),
      authorization: req.headers.authorization,
      gitProtocol: req.headers['git-protocol'] as string | undefined,
    });
    const repo = pathname.split('/')[1] ?? '';

    for (const prefix of state.hang) {
      if (pathname.startsWith(prefix)) return; // never answer
    }
    for (const prefix of state.garbage) {
      if (pathname.startsWith(prefix)) {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html><body>this is not git, just some nonsense \u0000\u0001 ####</body></html>');
        return;
      }
    }
    for (const prefix of state.stall) {
      if (pathname.startsWith(prefix)) {
        res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement' });
        res.write('001e# service=git-upload-pack\n');
        return; // the body never ends
      }
    }
    for (const [prefix, base] of Object.entries(state.redirects)) {
      if (pathname.startsWith(prefix)) {
        res.writeHead(302, { location: `${base}${pathname.slice(prefix.length)}${url.search}` });
        res.end();
        return;
      }
    }
    const creds = state.auth[repo];
    let remoteUser = '';
    if (creds) {
      const expected = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="kapsa-test"', 'content-type': 'text/plain' });
        res.end('authentication required\n');
        return;
      }
      remoteUser = creds.username;
    }

    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        PATH_INFO: pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        CONTENT_LENGTH: String(body.length),
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
        SERVER_PROTOCOL: 'HTTP/1.1',
        GATEWAY_INTERFACE: 'CGI/1.1',
      };
      if (remoteUser) env.REMOTE_USER = remoteUser;
      const gitProtocol = req.headers['git-protocol'];
      if (state.protocolV2 && typeof gitProtocol === 'string') env.GIT_PROTOCOL = gitProtocol;
      const child = spawn(GIT_HTTP_BACKEND, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', () => {});
      child.on('error', () => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      child.on('close', () => {
        const all = Buffer.concat(out);
        const split = findHeaderEnd(all);
        if (!split) {
          res.writeHead(502);
          res.end();
          return;
        }
        const headerText = all.subarray(0, split.index).toString('latin1');
        let status = 200;
        let statusMessage = 'OK';
        const headers: Record<string, string> = {};
        for (const line of headerText.split(/\r?\n/)) {
          const colon = line.indexOf(':');
          if (colon < 0) continue;
          const name = line.slice(0, colon).trim();
          const value = line.slice(colon + 1).trim();
          if (name.toLowerCase() === 'status') {
            status = Number(value.split(' ')[0]);
            statusMessage = value.split(' ').slice(1).join(' ') || statusMessage;
          } else {
            headers[name] = value;
          }
        }
        res.writeHead(status, statusMessage, headers);
        res.end(all.subarray(split.index + split.length));
      });
      child.stdin.on('error', () => {});
      child.stdin.end(body);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;

  return {
    root,
    port,
    baseUrl,
    hostPort: `127.0.0.1:${port}`,
    get auth() {
      return state.auth;
    },
    set auth(value) {
      state.auth = value;
    },
    get protocolV2() {
      return state.protocolV2;
    },
    set protocolV2(value) {
      state.protocolV2 = value;
    },
    get hang() {
      return state.hang;
    },
    set hang(value) {
      state.hang = value;
    },
    get garbage() {
      return state.garbage;
    },
    set garbage(value) {
      state.garbage = value;
    },
    get stall() {
      return state.stall;
    },
    set stall(value) {
      state.stall = value;
    },
    get redirects() {
      return state.redirects;
    },
    set redirects(value) {
      state.redirects = value;
    },
    requests,
    count(prefix: string) {
      return requests.filter((r) => r.path.startsWith(prefix)).length;
    },
    resetRequests() {
      requests.length = 0;
    },
    url(repo: string) {
      return `${baseUrl}/${repo}`;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownsRoot) await rm(root, { recursive: true, force: true });
    },
  };
}

function findHeaderEnd(buffer: Buffer): { index: number; length: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { index: crlf, length: 4 };
  if (lf >= 0) return { index: lf, length: 2 };
  return undefined;
}

// -------------------------------------------------------------------------------------------------
// Repository helpers (git CLI on the bare repositories)

export async function git(cwd: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) {
    const { stdout } = await run('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  }
  return new Promise<string>((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, ...GIT_ENV } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8').trim());
      else reject(new Error(`git ${args.join(' ')} failed (${code}): ${Buffer.concat(err).toString('utf8')}`));
    });
    child.stdin.end(input);
  });
}

export class BareRepo {
  readonly dir: string;
  readonly name: string;
  private counter = 0;
  constructor(dir: string, name: string) {
    this.dir = dir;
    this.name = name;
  }

  /** Creates a commit on `branch` (on top of its current head, if any) and returns its sha. */
  async commit(branch: string, message?: string): Promise<string> {
    const parent = await this.head(branch);
    this.counter++;
    const blob = await git(this.dir, ['hash-object', '-w', '--stdin'], `${branch} ${this.counter} ${Date.now()}\n`);
    const tree = await git(this.dir, ['mktree'], `100644 blob ${blob}\tREADME\n`);
    const args = ['commit-tree', tree, '-m', message ?? `commit ${this.counter} on ${branch}`];
    if (parent) args.push('-p', parent);
    const sha = await git(this.dir, args);
    await git(this.dir, ['update-ref', `refs/heads/${branch}`, sha]);
    return sha;
  }

  async head(branch: string): Promise<string | undefined> {
    try {
      return await git(this.dir, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
    } catch {
      return undefined;
    }
  }

  /** Creates (or moves) `branch` to `sha`. */
  async branch(branch: string, sha: string): Promise<void> {
    await git(this.dir, ['update-ref', `refs/heads/${branch}`, sha]);
  }

  async deleteBranch(branch: string): Promise<void> {
    await git(this.dir, ['update-ref', '-d', `refs/heads/${branch}`]);
  }

  /**
   * Creates many refs at once by writing them into `packed-refs` (what `git pack-refs` produces),
   * merged with the refs already packed there: 10,000 refs in milliseconds, no git invocation per ref.
   */
  async createRefs(refs: Array<{ ref: string; sha: string }>): Promise<void> {
    const file = path.join(this.dir, 'packed-refs');
    const existing = new Map<string, string>();
    try {
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        if (line === '' || line.startsWith('#') || line.startsWith('^')) continue;
        const [sha, ref] = line.split(' ');
        if (sha && ref) existing.set(ref, sha);
      }
    } catch {
      // no packed-refs yet
    }
    for (const { ref, sha } of refs) existing.set(ref, sha);
    const names = [...existing.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const body = names.map((ref) => `${existing.get(ref)} ${ref}\n`).join('');
    await writeFile(`${file}.tmp`, `# pack-refs with: peeled fully-peeled sorted \n${body}`);
    await rename(`${file}.tmp`, file);
  }

  /** Same as createRefs, through `git update-ref --stdin` (one git call; slower for many refs). */
  async updateRefs(refs: Array<{ ref: string; sha: string }>): Promise<void> {
    const input = refs.map(({ ref, sha }) => `update ${ref} ${sha}\n`).join('');
    await git(this.dir, ['update-ref', '--stdin'], input);
  }

  async tag(name: string, sha: string): Promise<void> {
    await git(this.dir, ['update-ref', `refs/tags/${name}`, sha]);
  }

  /** Pushes a commit from a real work tree (clone-free: init + push to the bare path). */
  async pushFromWorkTree(branch: string, file: string, content: string): Promise<string> {
    const work = await mkdtemp(path.join(tmpdir(), 'kapsa-work-'));
    try {
      await git(work, ['init', '-q', '-b', branch]);
      const parent = await this.head(branch);
      if (parent) {
        await git(work, ['fetch', '-q', this.dir, `refs/heads/${branch}`]);
        await git(work, ['reset', '-q', '--hard', 'FETCH_HEAD']);
      }
      await writeFile(path.join(work, file), content);
      await git(work, ['add', file]);
      await git(work, ['commit', '-q', '-m', `update ${file}`]);
      await git(work, ['push', '-q', this.dir, `HEAD:refs/heads/${branch}`]);
      return await git(work, ['rev-parse', 'HEAD']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** `git init --bare <root>/<name>` (name should end in `.git`). */
export async function createBareRepo(root: string, name: string): Promise<BareRepo> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  await git(dir, ['init', '-q', '--bare', '-b', 'main']);
  return new BareRepo(dir, name);
}
