// The herd benchmark's options (bench/herd.ts): flags, then BENCH_HERD_* variables, then defaults,
// every problem reported at once; and which Node runs the apps, clients and server.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CORES = availableParallelism();

export const MODES = [
  'none',
  'legacy',
  'legacy-tuned',
  'ready-only',
  'own-probe',
  'unmanaged-counted',
  'unmanaged-unseen',
  'startup-lock',
  'lease-api',
] as const;
export type ModeName = (typeof MODES)[number];

/** Modes run in the modelled cluster (fake API server, kubelet model), once per probe period. */
export const KUBELET_MODES: readonly ModeName[] = [
  'ready-only',
  'own-probe',
  'unmanaged-counted',
  'unmanaged-unseen',
];

/** Kubelet modes in which --unmanaged of the apps have no client (they start at once, without a lease). */
export const UNMANAGED_MODES: readonly ModeName[] = ['unmanaged-counted', 'unmanaged-unseen'];

export interface HerdOptions {
  apps: number;
  /** CPU-seconds of start-up work per app (W), from process start to ready. */
  workS: number;
  slots: number;
  /** Probe deadline on an app's start-up wall time (D). */
  deadlineS: number;
  /** The original server's fixed lease (its --timeout). */
  legacyTimeoutS: number;
  /** The kubelet model's readiness-probe periods (periodSeconds); each kubelet mode runs at each. */
  probePeriodsS: number[];
  modes: ModeName[];
  /** Rounds of every mode; each mode reports the median of its quietest rounds (least background CPU). */
  repeat: number;
  /** In the unmanaged-* modes, how many of the apps have no client. */
  unmanaged: number;
  /** Cores another workload on the node wants (busy loops) through every mode (0: none). */
  neighbour: number;
  /** The Node binary that runs the apps, the acquire clients and the lock server. */
  node: string;
}

export class HerdUsageError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export const HELP = `Usage: npm run bench:herd -- [options]   (tsx bench/herd.ts [options])

  --apps N          apps starting at once             default 8;        env BENCH_HERD_APPS
  --work S          CPU-seconds of start-up per app   default 1;        env BENCH_HERD_WORK
  --slots N         lock slots (server --locks)       default cores (${CORES}); env BENCH_HERD_SLOTS
  --deadline S      probe deadline on start-up wall   default 2 × work; env BENCH_HERD_DEADLINE
  --legacy-timeout S  the original's fixed lease      default 10;       env BENCH_HERD_LEGACY_TIMEOUT
  --probe-period LIST the kubelet model's readiness periodSeconds, comma-separated; the ready-only and
                    own-probe modes run at each     default 10,5,1 (10 is Kubernetes' default);
                                                      env BENCH_HERD_PROBE_PERIOD
  --modes LIST      comma-separated subset of ${MODES.join(',')}; env BENCH_HERD_MODES
  --unmanaged K     in the unmanaged-counted/-unseen modes, K of the apps have no client: they start at
                    once, and the server counts them as start-ups without a lease (--count-unleased) or
                    not                             default 3;        env BENCH_HERD_UNMANAGED
  --repeat K        rounds of every mode, interleaved; each mode reports the median of its
                    quietest rounds (least CPU used by the rest of the machine)
                                                      default 1;        env BENCH_HERD_REPEAT
  --neighbour C     another workload wants C cores (busy loops) throughout (what tuned leases do
                    when start-ups run slower than tuned)   default 0;  env BENCH_HERD_NEIGHBOUR
  --node WHICH      Node for the apps, the acquire clients and the lock server: image (the Node 24
                    the container image runs, from scripts/image-node.sh), current (the Node running
                    this), or a path to a node binary   default image;  env BENCH_HERD_NODE
Seconds accept 1.5, 1500ms, 2s.`;

/** Options from flags, then BENCH_HERD_* environment variables, then defaults. */
export function herdOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): HerdOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      apps: { type: 'string' },
      work: { type: 'string' },
      slots: { type: 'string' },
      deadline: { type: 'string' },
      'legacy-timeout': { type: 'string' },
      'probe-period': { type: 'string' },
      modes: { type: 'string' },
      repeat: { type: 'string' },
      neighbour: { type: 'string' },
      unmanaged: { type: 'string' },
      node: { type: 'string' },
    },
  });
  const problems: string[] = [];
  const pick = (flag: keyof typeof values, name: string) => {
    const v = values[flag] ?? env[`BENCH_HERD_${name}`];
    return v === undefined || v === '' ? undefined : v;
  };
  const whole = (flag: keyof typeof values, name: string, dflt: number) => {
    const raw = pick(flag, name);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 1 && n <= 1000) return n;
    problems.push(`--${flag} (BENCH_HERD_${name}): "${raw}" is not a whole number from 1 to 1000`);
    return dflt;
  };
  const secs = (flag: keyof typeof values, name: string, dflt: number) => {
    const raw = pick(flag, name);
    if (raw === undefined) return dflt;
    const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(raw.trim());
    const s = m ? Number(m[1]) / (m[2] === 'ms' ? 1000 : 1) : NaN;
    if (s > 0 && s <= 3600) return s;
    problems.push(
      `--${flag} (BENCH_HERD_${name}): "${raw}" is not a duration above 0 and up to 1h (1.5, 1500ms, 2s)`,
    );
    return dflt;
  };
  const apps = whole('apps', 'APPS', 8);
  const workS = secs('work', 'WORK', 1);
  const slots = whole('slots', 'SLOTS', CORES);
  const deadlineS = secs('deadline', 'DEADLINE', 2 * workS);
  const legacyTimeoutS = whole('legacy-timeout', 'LEGACY_TIMEOUT', 10);
  const rawPeriods = pick('probe-period', 'PROBE_PERIOD') ?? '10,5,1';
  const probePeriodsS = rawPeriods.split(',').map((p) => Number(p.trim()));
  if (probePeriodsS.some((p) => !Number.isInteger(p) || p < 1 || p > 300))
    problems.push(
      `--probe-period (BENCH_HERD_PROBE_PERIOD): "${rawPeriods}" must list whole seconds from 1 to 300 (periodSeconds)`,
    );
  const repeat = whole('repeat', 'REPEAT', 1);
  const rawNeighbour = pick('neighbour', 'NEIGHBOUR');
  const neighbour = rawNeighbour === undefined ? 0 : Number(rawNeighbour);
  if (!(neighbour >= 0 && neighbour <= CORES))
    problems.push(
      `--neighbour (BENCH_HERD_NEIGHBOUR): "${rawNeighbour}" is not a number of cores from 0 to ${CORES}`,
    );
  const rawUnmanaged = pick('unmanaged', 'UNMANAGED');
  const unmanaged = rawUnmanaged === undefined ? Math.min(3, apps - 1) : Number(rawUnmanaged);
  if (!(Number.isInteger(unmanaged) && unmanaged >= 0 && unmanaged < apps))
    problems.push(
      `--unmanaged (BENCH_HERD_UNMANAGED): "${rawUnmanaged}" is not a whole number of apps from 0 to ${apps - 1}`,
    );
  const rawModes = pick('modes', 'MODES');
  const modes = rawModes === undefined ? [...MODES] : rawModes.split(',').map((m) => m.trim());
  const unknown = modes.filter((m) => !(MODES as readonly string[]).includes(m));
  if (unknown.length > 0 || modes.length === 0)
    problems.push(`--modes (BENCH_HERD_MODES): "${rawModes}" must list some of ${MODES.join(', ')}`);
  const rawNode = pick('node', 'NODE') ?? 'image';
  const node = rawNode === 'current' ? process.execPath : rawNode === 'image' ? imageNode(problems) : rawNode;
  if (node !== '' && nodeVersion(node) === null)
    problems.push(
      `--node (BENCH_HERD_NODE): "${node}" does not run as a Node binary (\`${node} --version\` failed)`,
    );
  if (problems.length > 0) throw new HerdUsageError(problems);
  return {
    apps,
    workS,
    slots,
    deadlineS,
    legacyTimeoutS,
    probePeriodsS,
    modes: modes as ModeName[],
    repeat,
    unmanaged,
    neighbour,
    node,
  };
}

/** The image's Node (scripts/image-node.sh fetches the pinned binary once); '' with a problem noted. */
function imageNode(problems: string[]): string {
  try {
    return execFileSync('bash', [fileURLToPath(new URL('../scripts/image-node.sh', import.meta.url))], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 300_000,
    }).trim();
  } catch {
    problems.push(
      '--node image: scripts/image-node.sh could not provide the image’s Node (no npm registry?); pass --node current to measure on this process’s Node',
    );
    return '';
  }
}

/** `v24.1.0` from `node --version`; null when the binary does not run. */
export function nodeVersion(node: string): string | null {
  if (node === process.execPath) return process.version;
  try {
    return execFileSync(node, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}
