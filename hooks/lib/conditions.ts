/**
 * Kubernetes-style status conditions. The one rule that matters for a pure hook: the
 * lastTransitionTime of a condition only moves when its status moves, so a sync that observes the
 * same world returns byte-identical status and Metacontroller never sees a diff that is not real.
 */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Builds the next conditions from the ones previously written (`previous`, read from the observed
 * parent status) and the ones computed now. Output order follows `next`, which callers keep fixed.
 */
export function nextConditions(
  previous: readonly unknown[] | undefined,
  next: readonly ConditionInput[],
  now: Date,
  observedGeneration: number | undefined,
): Condition[] {
  const before = new Map<string, Condition>();
  for (const item of previous ?? []) {
    if (isCondition(item)) before.set(item.type, item);
  }
  const nowText = formatTime(now);
  return next.map((input) => {
    const old = before.get(input.type);
    const lastTransitionTime = old && old.status === input.status ? old.lastTransitionTime : nowText;
    const condition: Condition = {
      type: input.type,
      status: input.status,
      reason: input.reason,
      message: input.message,
      lastTransitionTime,
    };
    if (observedGeneration !== undefined) condition.observedGeneration = observedGeneration;
    return condition;
  });
}

export function findCondition(conditions: readonly unknown[] | undefined, type: string): Condition | undefined {
  return (conditions ?? []).find((item): item is Condition => isCondition(item) && item.type === type);
}

export function isConditionTrue(conditions: readonly unknown[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** RFC 3339 without fractional seconds, the form Kubernetes uses for metav1.Time. */
export function formatTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function isCondition(value: unknown): value is Condition {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.type === 'string' && typeof candidate.status === 'string';
}
