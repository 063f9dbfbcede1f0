// The project's rule for a test whose prerequisite (a tool, IPv6, a container engine) is missing:
// with CI=true it fails, so CI can never pass by skipping; elsewhere it is skipped, loudly.

export const inCi = process.env.CI === 'true';

export class MissingPrerequisiteError extends Error {
  override name = 'MissingPrerequisiteError';
}

/** Skip the current test (or the hook's tests) with `why` on stderr; under CI=true throw instead. */
export function skipOrFail(ctx: Mocha.Context, why: string): never {
  if (inCi) throw new MissingPrerequisiteError(`${why} (CI=true: not skipping)`);
  console.warn(`\n  !!! SKIPPING ${ctx.test?.parent?.fullTitle() ?? ''}: ${why}\n`);
  ctx.skip();
}
