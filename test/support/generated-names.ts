// Names for tests that compare two implementations of one rule on many inputs.

/** A deterministic stream of names from characters the rules care about (mulberry32). */
export function generatedNames(count: number, alphabet: readonly string[], seed: number, maxLength = 9): string[] {
  let state = seed;
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const names = new Set<string>();
  while (names.size < count) {
    const length = 1 + Math.floor(next() * maxLength);
    let name = '';
    for (let index = 0; index < length; index++) name += alphabet[Math.floor(next() * alphabet.length)];
    names.add(name);
  }
  return [...names];
}
