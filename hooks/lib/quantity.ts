/**
 * Canonical Kubernetes resource quantities. The API server stores `1000m` as `1` and `1024Mi` as
 * `1Gi`; a hook that keeps sending the long form fights the server on every sync (a hot loop), so
 * children carry the form the server would store.
 */
const QUANTITY = /^([0-9]+)(?:\.([0-9]+))?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

const DECIMAL_EXPONENT: Record<string, number> = { m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_POWER: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_SUFFIXES: Array<[string, number]> = [
  ['E', 18],
  ['P', 15],
  ['T', 12],
  ['G', 9],
  ['M', 6],
  ['k', 3],
  ['', 0],
  ['m', -3],
];
const BINARY_SUFFIXES: Array<[string, number]> = [
  ['Ei', 60],
  ['Pi', 50],
  ['Ti', 40],
  ['Gi', 30],
  ['Mi', 20],
  ['Ki', 10],
];

/** Returns the canonical form, or the input unchanged when it is not a quantity we understand. */
export function canonicalQuantity(input: string): string {
  const match = QUANTITY.exec(input);
  if (!match) return input;
  const [, whole = '0', fraction = '', suffix = ''] = match;
  // Work in nano-units (10^-9), the finest precision Kubernetes keeps.
  const digits = BigInt(whole + fraction);
  const scale = fraction.length;
  const binary = BINARY_POWER[suffix];
  let nanos: bigint;
  if (binary !== undefined) {
    nanos = (digits * 2n ** BigInt(binary) * 10n ** 9n) / 10n ** BigInt(scale);
  } else {
    const exponent = (DECIMAL_EXPONENT[suffix] ?? 0) + 9 - scale;
    nanos = exponent >= 0 ? digits * 10n ** BigInt(exponent) : digits / 10n ** BigInt(-exponent);
  }
  if (nanos === 0n) return '0';
  if (binary !== undefined && nanos % 10n ** 9n === 0n) {
    const units = nanos / 10n ** 9n;
    for (const [name, power] of BINARY_SUFFIXES) {
      const size = 2n ** BigInt(power);
      if (units % size === 0n) return `${units / size}${name}`;
    }
    if (units < 1024n) return `${units}`;
  }
  for (const [name, exponent] of DECIMAL_SUFFIXES) {
    const size = 10n ** BigInt(exponent + 9);
    if (nanos % size === 0n) return `${nanos / size}${name}`;
  }
  return input;
}
