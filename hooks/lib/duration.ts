/**
 * Go-style durations (`90s`, `5m`, `1h30m`, `168h`), the form Kubernetes users already write in
 * other resources. Only whole units h/m/s are accepted: sub-second polling or TTLs make no sense here.
 */
export const DURATION_PATTERN = '^([0-9]+h)?([0-9]+m)?([0-9]+s)?$';

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Seconds in `text`, or undefined when it is not a duration (empty strings included). */
export function parseDurationSeconds(text: string): number | undefined {
  if (text === '') return undefined;
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const [, hours = '0', minutes = '0', seconds = '0'] = match;
  return Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
}
