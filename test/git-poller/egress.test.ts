import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  checkUrl,
  checkUrlSyntax,
  classifyAddress,
  classifyHostname,
  isHostAllowed,
  parseIPv4Loose,
  pinnedLookup,
  redactUrl,
} from '../../hooks/git-poller/egress.ts';
import type { EgressPolicy, Resolver } from '../../hooks/git-poller/egress.ts';

const strict: EgressPolicy = { allowHttp: false, allowedHosts: [] };
const withHttp: EgressPolicy = { allowHttp: true, allowedHosts: [] };

function resolverOf(map: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (hostname: string): Promise<LookupAddress[]> => {
    calls.push(hostname);
    const list = map[hostname];
    if (!list) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(fn, { calls });
}

describe('classifyAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '169.254.0.1',
    '100.64.0.1',
    '100.127.255.255',
    '0.0.0.0',
    '0.1.2.3',
    '224.0.0.1',
    '239.255.255.250',
    '255.255.255.255',
    '240.0.0.1',
    '192.0.2.1',
    '198.18.0.1',
    // numeric spellings of loopback
    '2130706433',
    '0x7f000001',
    '0x7F.0.0.1',
    '0177.0.0.1',
    '0177.0.0.01',
    '127.1',
    '127.0.1',
    '017700000001',
    // IPv6
    '::1',
    '[::1]',
    '::',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'fe80::1%eth0',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '[::ffff:7f00:1]',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    '0:0:0:0:0:ffff:7f00:0001',
    '::127.0.0.1',
    '64:ff9b::127.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:0001::',
    '2002:a9fe:a9fe::1',
    '2001:0:4136:e378::1',
    '2001:db8::1',
  ])('refuses %s', (address) => {
    expect(classifyAddress(address)).toBeTypeOf('string');
  });

  it.each(['1.1.1.1', '8.8.8.8', '140.82.112.3', '172.32.0.1', '100.128.0.1', '169.255.0.1', '2606:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    'accepts public %s',
    (address) => {
      expect(classifyAddress(address)).toBeUndefined();
    },
  );

  it('parses inet_aton forms like the URL parser', () => {
    expect(parseIPv4Loose('2130706433')).toBe(0x7f000001);
    expect(parseIPv4Loose('0x7f000001')).toBe(0x7f000001);
    expect(parseIPv4Loose('0177.0.0.1')).toBe(0x7f000001);
    expect(parseIPv4Loose('127.1')).toBe(0x7f000001);
    expect(parseIPv4Loose('256.0.0.1')).toBeUndefined();
    expect(parseIPv4Loose('1.2.3.4.5')).toBeUndefined();
    expect(parseIPv4Loose('github.com')).toBeUndefined();
    expect(parseIPv4Loose('08.0.0.1')).toBeUndefined();
  });
});

describe('classifyHostname', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    'localhost.',
    'foo.localhost',
    'kubernetes',
    'kubernetes.',
    'gitea',
    'kubernetes.default.svc',
    'kubernetes.default.svc.',
    'gitea.gitea.svc.cluster.local',
    'x.cluster.local',
    'printer.local',
    'metadata.google.internal',
    '2130706433',
    '0x7f000001',
    '127.1',
    '0177.0.0.1',
    '[::1]',
  ])('refuses %s without DNS', (host) => {
    expect(classifyHostname(host)).toBeTypeOf('string');
  });

  it.each(['github.com', 'gitlab.example.org', 'git.example.co.uk'])('leaves %s to DNS', (host) => {
    expect(classifyHostname(host)).toBeUndefined();
  });
});

describe('checkUrlSyntax', () => {
  it.each([
    'http://2130706433/repo.git',
    'http://0x7f000001/repo.git',
    'http://0177.0.0.1/repo.git',
    'http://127.1/repo.git',
    'http://[::ffff:127.0.0.1]/repo.git',
    'http://[::ffff:7f00:1]/repo.git',
    'http://[::1]/repo.git',
    'http://169.254.169.254/latest/meta-data',
    'http://[fd00::1]/x.git',
    'http://kubernetes.default.svc/x.git',
    'http://localhost:3000/x.git',
  ])('refuses %s (WHATWG-normalised numeric and internal forms)', (url) => {
    const result = checkUrlSyntax(url, withHttp);
    expect(result.ok).toBe(false);
  });

  it('refuses http without allowHttp, and other schemes always', () => {
    expect(checkUrlSyntax('http://github.com/a/b.git', strict)).toMatchObject({ ok: false, message: expect.stringContaining('scheme http:') });
    expect(checkUrlSyntax('http://github.com/a/b.git', withHttp).ok).toBe(true);
    for (const url of ['ftp://github.com/x', 'file:///etc/passwd', 'git://github.com/a/b', 'ssh://git@github.com/a/b', 'gopher://x.example/']) {
      expect(checkUrlSyntax(url, withHttp).ok).toBe(false);
    }
    expect(checkUrlSyntax('not a url', withHttp)).toEqual({ ok: false, message: 'repository URL is not a valid URL' });
  });

  it('refuses userinfo without echoing it', () => {
    const result = checkUrlSyntax('https://bob:hunter2@github.com/a/b.git', strict);
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain('hunter2');
    expect(JSON.stringify(result)).not.toContain('bob');
  });

  it('allow list: host or host:port skips name and address checks, not the scheme', () => {
    const policy: EgressPolicy = { allowHttp: false, allowedHosts: ['127.0.0.1:8443', 'gitea.gitea.svc'] };
    expect(checkUrlSyntax('https://127.0.0.1:8443/x.git', policy)).toMatchObject({ ok: true, allowListed: true });
    expect(checkUrlSyntax('https://127.0.0.1:9443/x.git', policy).ok).toBe(false);
    expect(checkUrlSyntax('https://gitea.gitea.svc/x.git', policy)).toMatchObject({ ok: true, allowListed: true });
    expect(checkUrlSyntax('https://gitea.gitea.svc:3000/x.git', policy)).toMatchObject({ ok: true, allowListed: true });
    expect(checkUrlSyntax('http://127.0.0.1:8443/x.git', policy).ok).toBe(false);
    expect(isHostAllowed(new URL('https://GitHub.com/x'), { allowHttp: false, allowedHosts: ['github.com:443'] })).toBe(true);
  });
});

describe('checkUrl (DNS)', () => {
  it('refuses a public-looking name that resolves to a private address', async () => {
    const resolve = resolverOf({ 'git.evil.example': ['10.0.0.5'] });
    const result = await checkUrl('https://git.evil.example/x.git', strict, { resolve });
    expect(result).toMatchObject({ ok: false, message: expect.stringContaining('10.0.0.5') });
  });

  it('refuses when ANY resolved address is internal (rebinding with mixed answers)', async () => {
    const resolve = resolverOf({ 'mixed.example.com': ['93.184.216.34', '127.0.0.1'] });
    expect((await checkUrl('https://mixed.example.com/x.git', strict, { resolve })).ok).toBe(false);
    const v6 = resolverOf({ 'v6.example.com': ['2606:4700::1111', '::ffff:169.254.169.254'] });
    expect((await checkUrl('https://v6.example.com/x.git', strict, { resolve: v6 })).ok).toBe(false);
  });

  it('returns the checked addresses for pinning', async () => {
    const resolve = resolverOf({ 'git.example.com': ['93.184.216.34', '2606:2800:220:1::248'] });
    const result = await checkUrl('https://git.example.com/x.git', strict, { resolve });
    expect(result).toMatchObject({ ok: true, allowListed: false, addresses: [{ address: '93.184.216.34' }, { address: '2606:2800:220:1::248' }] });
  });

  it('does no DNS for refused names, literals or allow-listed hosts', async () => {
    const resolve = resolverOf({});
    await checkUrl('https://kubernetes.default.svc/x.git', strict, { resolve });
    await checkUrl('https://169.254.169.254/x.git', strict, { resolve });
    await checkUrl('https://140.82.112.3/x.git', strict, { resolve });
    await checkUrl('https://git.internal.example/x.git', { allowHttp: false, allowedHosts: ['git.internal.example'] }, { resolve });
    expect(resolve.calls).toEqual([]);
  });

  it('reports an unresolvable name as a lookup error, not a block', async () => {
    await expect(checkUrl('https://nowhere.example.com/x.git', strict, { resolve: resolverOf({}) })).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('pinnedLookup', () => {
  const lookup = pinnedLookup([
    { address: '93.184.216.34', family: 4 },
    { address: '2606:2800:220:1::248', family: 6 },
  ]);
  it('answers with the checked addresses whatever the name now resolves to', async () => {
    const single = await new Promise<[unknown, unknown, unknown]>((resolve) => lookup('rebind.example.com', {}, (e, a, f) => resolve([e, a, f])));
    expect(single).toEqual([null, '93.184.216.34', 4]);
    const all = await new Promise<unknown>((resolve) => lookup('rebind.example.com', { all: true }, (_e, a) => resolve(a)));
    expect(all).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::248', family: 6 },
    ]);
    const v6 = await new Promise<unknown>((resolve) => lookup('rebind.example.com', { family: 6 }, (_e, a) => resolve(a)));
    expect(v6).toBe('2606:2800:220:1::248');
  });
});

describe('redactUrl', () => {
  it('drops userinfo, query and fragment', () => {
    expect(redactUrl('https://u:secret@github.com/a/b.git?token=x#y')).toBe('https://github.com/a/b.git');
  });
});
