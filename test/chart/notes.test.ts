// NOTES.txt: after `helm install` the user gets an initContainer to paste, and it must be a valid
// Container that matches this release (image, node port) and reads the node IP and pod identity.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { Container } from 'kubernetes-models/v1';
import { get, libraryChartDir, render, renderNotes, requireHelm, type RenderOptions } from './helm.js';
import { asDaemonSet, flagValue, validateContainer } from './models.js';

/** The YAML block indented under the line `key:` in the notes, parsed. */
function blockUnder(notes: string, key: string): unknown {
  const lines = notes.split('\n');
  const start = lines.findIndex((l) => l.trim() === `${key}:`);
  if (start < 0) throw new Error(`NOTES has no "${key}:" line:\n${notes}`);
  const indent = (lines[start] ?? '').search(/\S/);
  const block = [lines[start] ?? ''];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && line.search(/\S/) <= indent) break;
    block.push(line);
  }
  const parsed = parse(block.join('\n')) as Record<string, unknown>;
  return parsed[key];
}

function initContainerIn(notes: string): Container {
  const list = blockUnder(notes, 'initContainers');
  expect(list).to.be.an('array').with.length(1);
  return validateContainer((list as unknown[])[0]);
}

async function serverImage(opts: RenderOptions): Promise<string | undefined> {
  const ds = asDaemonSet(get(await render(opts), 'DaemonSet'));
  return ds.spec?.template.spec?.containers[0]?.image;
}

describe('chart: NOTES.txt', function () {
  before(function () {
    requireHelm(this);
  });

  it('prints a valid initContainer with this release image and port', async function () {
    const notes = await renderNotes();
    const init = initContainerIn(notes);
    expect(init.image).to.equal(await serverImage({}));
    expect(init.args?.[0]).to.equal('acquire');
    expect(flagValue(init.args, '--port')).to.equal('8888');
  });

  it('passes HOST_IP, POD_NAME, POD_NAMESPACE and POD_UID through the downward API', async function () {
    const init = initContainerIn(await renderNotes());
    const fieldPaths = Object.fromEntries((init.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(fieldPaths).to.deep.equal({
      HOST_IP: 'status.hostIP',
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      POD_UID: 'metadata.uid',
    });
  });

  it('runs the initContainer non-root with a read-only root filesystem and no capabilities', async function () {
    const sc = initContainerIn(await renderNotes()).securityContext;
    expect(sc?.runAsNonRoot).to.equal(true);
    expect(sc?.readOnlyRootFilesystem).to.equal(true);
    expect(sc?.allowPrivilegeEscalation).to.equal(false);
    expect(sc?.capabilities?.drop).to.deep.equal(['ALL']);
    expect(sc?.seccompProfile?.type).to.equal('RuntimeDefault');
  });

  it('follows a pinned image and the hostPort of a pod-network install', async function () {
    const values = {
      hostNetwork: false,
      port: 8080,
      hostPort: 18888,
      image: { repository: 'registry.example/lock', tag: '2.0.0', digest: `sha256:${'b'.repeat(64)}` },
    };
    const init = initContainerIn(await renderNotes({ values }));
    expect(init.image).to.equal(`registry.example/lock:2.0.0@sha256:${'b'.repeat(64)}`);
    expect(init.image).to.equal(await serverImage({ values }));
    expect(flagValue(init.args, '--port')).to.equal('18888');
  });

  it('with tokenSecret, mounts the token and prints the pod volume that goes with it', async function () {
    const notes = await renderNotes({ values: { tokenSecret: 'lock-token' } });
    const init = initContainerIn(notes);
    const mount = init.volumeMounts?.[0];
    expect(flagValue(init.args, '--token-file')).to.equal(`${mount?.mountPath}/token`);
    const volumes = blockUnder(notes, 'volumes') as { name: string; secret?: { secretName: string } }[];
    expect(volumes).to.deep.equal([
      { name: mount?.name, secret: { secretName: 'lock-token', items: [{ key: 'token', path: 'token' }] } },
    ]);
  });

  it('tells the user how to check the rollout and run the helm test', async function () {
    const notes = await renderNotes();
    expect(notes).to.include('rollout status daemonset/lock-startup-lock');
    expect(notes).to.include('helm test lock');
    expect(notes).to.include('include "startup-lock-client.initContainer"');
    const library = parse(readFileSync(path.join(libraryChartDir, 'Chart.yaml'), 'utf8')) as { version: string };
    expect(notes).to.include(`- name: startup-lock-client\n      version: ${library.version}\n`);
  });
});
