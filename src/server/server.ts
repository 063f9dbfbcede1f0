// Assembles the lock service: engine, HTTP edge, metrics, logs, state file, dependency checks and load
// limit; starts them in order and stops them in reverse. main.ts adds signals around it.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { systemClock, type Clock } from '../clock.js';
import type { DependencyGate } from '../checks/types.js';
import type { ServerConfig } from '../config/server.js';
import { LockEngine } from '../lock/engine.js';
import { listen } from '../listen.js';
import type { Logger } from '../log.js';
import { createMetrics } from '../metrics.js';
import { createApp } from './app.js';
import { ConnectionLimit, IDLE_KEEP_ALIVE_MS } from './connections.js';
import { drainHttp, ServerLifecycle } from './lifecycle.js';
import { LoadMonitor } from './load.js';
import { StateFile } from './state-file.js';
import { statusOf } from './status.js';
import { BearerToken } from './token.js';

export interface RunningServer {
  port: number;
  engine: LockEngine;
  /** Drain and stop: readiness 503, polls answered, in-flight finished, then everything closed. */
  shutdown(): Promise<void>;
}

export interface ServerDeps {
  clock?: Clock;
  /** Dependency checks; none when the config names no --check. */
  checks?: DependencyGate;
}

const noChecks: DependencyGate = {
  allUp: () => true,
  states: () => [],
  start: () => undefined,
  close: async () => undefined,
};

export async function startServer(
  config: ServerConfig,
  log: Logger,
  deps: ServerDeps = {},
): Promise<RunningServer> {
  const clock = deps.clock ?? systemClock;
  const cores = availableParallelism();
  const slots = config.locksPerCore > 0 ? Math.max(1, Math.floor(cores * config.locksPerCore)) : config.locks;
  // DependencyGate: the dependency checks are wired here (src/checks). The observer runs only after
  // start(), once metrics and engine below exist: probes feed metrics, a change logs once and re-pumps.
  const checks =
    deps.checks ??
    (config.check.length === 0
      ? noChecks
      : // Loaded only when needed: the http client behind the checks costs memory on every node.
        await (
          await import('../checks/create.js')
        ).createCheckScheduler(config, clock, {
          onProbe: (check, _up, ms) => metrics.checkDuration.observe({ check }, ms / 1000),
          onChange: (s) => {
            metrics.checkUp.set({ check: s.target }, s.up ? 1 : 0);
            if (s.up) log.info({ check: s.target }, 'dependency check up');
            else log.warn({ check: s.target, reason: s.lastError }, 'dependency check down');
            engine.reconsider();
          },
        }));
  // The engine asks the gate on every decision; the load monitor and the state file, which need the
  // engine, are made after it, so the lifecycle reads them through these variables.
  let load: LoadMonitor | null = null;
  let state: StateFile | null = null;
  const life = new ServerLifecycle({
    persisting: () => state?.healthy ?? true,
    checksUp: () => checks.allUp(),
    loadTooHigh: () => load?.tooHigh() ?? false,
  });

  const engine = new LockEngine({
    slots,
    maxQueue: config.maxQueue,
    queueGraceMs: config.queueGrace,
    clock,
    newId: randomUUID,
    gate: () => life.gate(),
  });
  load = new LoadMonitor(config.maxLoad, cores, () => engine.reconsider(), config.loadavgFile);
  // --release-on-ready / --events (src/server/pods); the Kubernetes client is loaded only when one is on.
  const kube =
    config.releaseOnReady || config.events
      ? await (await import('./pods/features.js')).createKubeFeatures(config, engine, clock, log)
      : null;
  const connections = new ConnectionLimit(config.maxConnections, log);
  const metrics = createMetrics(engine, connections);

  engine.listen({
    granted(lease, waitedMs) {
      metrics.grants.inc({ api: lease.api });
      if (lease.api === 'v1') metrics.queueWait.observe(waitedMs / 1000);
      log.info({ holder: lease.holder, lease: lease.id, slot: lease.slot, waitedMs }, 'lease granted');
    },
    released(lease, reason, heldMs, note) {
      metrics.releases.inc({ reason });
      metrics.leaseHeld.observe(heldMs / 1000);
      const startedAt = note?.appStartedAt;
      const startToReleaseMs = startedAt === undefined ? undefined : Math.max(0, clock.now() - startedAt);
      if (startToReleaseMs !== undefined && (reason === 'probe' || reason === 'ready')) {
        metrics.startToRelease.observe({ reason }, startToReleaseMs / 1000);
      }
      log.info(
        {
          holder: lease.holder,
          lease: lease.id,
          slot: lease.slot,
          reason,
          heldMs,
          ...(note?.detail ? { detail: note.detail } : {}),
          ...(startToReleaseMs !== undefined ? { startToReleaseMs } : {}),
        },
        'lease released',
      );
    },
    queued(entry, position) {
      log.info({ holder: entry.holder, position }, 'holder queued');
    },
    left(entry, why) {
      log.info({ holder: entry.holder, why }, 'holder left the queue');
    },
    unleasedBegan(start) {
      metrics.unleasedCounted.inc({ kind: start.kind });
      log.info(
        { pod: start.pod, kind: start.kind, boundMs: start.bound - start.since },
        'start-up without a lease takes a slot',
      );
    },
    unleasedEnded(start, why, countedMs) {
      log.info(
        { pod: start.pod, kind: start.kind, why, countedMs },
        'start-up without a lease no longer takes a slot',
      );
    },
  });

  if (config.stateFile !== '') {
    state = new StateFile(config.stateFile, () => engine.snapshot(), log, clock, {
      failed: () => metrics.stateWriteFailures.inc(),
      recovered: () => engine.reconsider(),
    });
    await state.prepare();
    const saved = await state.load();
    if (saved) {
      const { dropped, ...restored } = engine.restore(saved);
      for (const d of dropped) {
        // Leases beyond --locks and waiters beyond --max-queue are ended here; their pods poll again.
        const level = d.why === 'over_capacity' || d.why === 'queue_full' ? 'warn' : 'info';
        log[level]({ holder: d.holder, kind: d.kind, why: d.why }, 'state entry not restored');
      }
      log.info({ ...restored, dropped: dropped.length, path: config.stateFile }, 'state restored');
    }
    // Fail at start, with one line, rather than run without the persistence that was asked for.
    await state.checkWritable();
    engine.listen({ changed: () => state?.markDirty() });
  }

  const token = config.tokenFile === '' ? null : await BearerToken.open(config.tokenFile, clock, log);

  const app = createApp({
    engine,
    metrics,
    life,
    clock,
    // `ready` in the status says what /readyz says, a failing state file included.
    status: () =>
      statusOf(engine, { ready: life.readiness().ready, draining: life.draining }, checks, load, clock.now()),
    defaultDurationMs: config.timeout,
    maxDurationMs: config.maxDuration,
    maxWaitMs: config.maxWait,
    legacyApi: config.legacyApi,
    token,
    bootId: randomUUID().slice(0, 8),
    saved: state ? () => state!.saved() : undefined,
    log,
  });

  await load.start();
  const http: Server = createServer(
    { keepAliveTimeout: IDLE_KEEP_ALIVE_MS },
    connections.guard(app.listener),
  );
  connections.attach(http);
  // Long polls outlive the default request timeout; bound them by max-wait plus a margin instead.
  http.requestTimeout = config.maxWait + 30_000;
  http.headersTimeout = 20_000;
  const port = await listen(http, config.host, config.port);

  checks.start();
  kube?.start();
  life.ready = true;
  engine.reconsider();
  log.info(
    { host: config.host, port, slots, checks: config.check.length, stateFile: config.stateFile || null },
    'startup-lock server ready',
  );

  let stopping: Promise<void> | null = null;
  const shutdown = () =>
    (stopping ??= (async () => {
      life.draining = true;
      await drainHttp(http, app.polls, config.shutdownTimeout, log);
      await kube?.stop();
      await checks.close();
      token?.close();
      load?.stop();
      try {
        if (state) {
          // Throws when the final save fails: the exit code says so, the next server starts stale.
          await state.flush();
        } else {
          engine.releaseAll('shutdown');
        }
      } finally {
        state?.close();
        engine.close();
        log.info('stopped');
      }
    })());

  return { port, engine, shutdown };
}
