import { PharosError } from '../lib/index.ts';

/** A health check is configured with something that can never run (bad command, namespace name). */
export const HEALTH_INVALID_CONFIG = 'HealthInvalidConfig';

export class HealthConfigError extends PharosError {
  constructor(message: string, fields: Record<string, unknown> = {}) {
    super(HEALTH_INVALID_CONFIG, message, { fields });
  }
}
