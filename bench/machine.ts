import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { bytes, num } from './report.ts';

export interface Machine {
  cpu: string;
  cores: number;
  memory: number;
  node: string;
  os: string;
  load: number[];
  git: string;
}

function osName(): string {
  try {
    const release = readFileSync('/etc/os-release', 'utf8');
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release)?.[1];
    if (pretty) return `${pretty}, ${os.type()} ${os.release()} ${os.arch()}`;
  } catch {
    // not Linux, or no os-release
  }
  return `${os.type()} ${os.release()} ${os.arch()}`;
}

function gitVersion(): string {
  try {
    return execFileSync('git', ['--version'], { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    return 'git not found';
  }
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: os.availableParallelism(),
    memory: os.totalmem(),
    node: process.version,
    os: osName(),
    load: os.loadavg(),
    git: gitVersion(),
  };
}

/** One line that names the machine; the test looks for its `Machine:` prefix. */
export function machineLine(m: Machine): string {
  return `Machine: ${m.cpu}, ${m.cores} cores, ${bytes(m.memory)} memory, Node ${m.node}, ${m.os}, ${m.git}`;
}

export function loadLine(label: string, load: readonly number[]): string {
  return `${label} load average (1/5/15 min): ${load.map((value) => num(value, 2)).join(' / ')}`;
}
