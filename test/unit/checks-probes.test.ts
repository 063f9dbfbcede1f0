import { expect } from 'chai';
import { down, reasonOf } from '../../src/checks/probe.js';
import { CheckScheduler, redact } from '../../src/checks/scheduler.js';
import { parseTcpTarget } from '../../src/checks/tcp.js';
import { ManualClock, settle } from '../support/fake-clock.js';

describe('check targets and reasons', () => {
  it('reads host and port from tcp:// URLs, unbracketing IPv6 literals', () => {
    expect(parseTcpTarget('tcp://db.default.svc:5432')).to.deep.equal({ host: 'db.default.svc', port: 5432 });
    expect(parseTcpTarget('tcp://[::1]:5432')).to.deep.equal({ host: '::1', port: 5432 });
    expect(parseTcpTarget('tcp://[fd00::10]:6379')).to.deep.equal({ host: 'fd00::10', port: 6379 });
  });

  it('refuses anything that is not tcp://host:port', () => {
    expect(() => parseTcpTarget('tcp://db')).to.throw(TypeError, /tcp:\/\/host:port/);
    expect(() => parseTcpTarget('http://db:80')).to.throw(TypeError);
  });

  it('turns errors into one-line reasons with their code', () => {
    const refused = Object.assign(new Error('connect refused\nstack'), { code: 'ECONNREFUSED' });
    expect(reasonOf(refused)).to.equal('ECONNREFUSED: connect refused');
    const withCode = Object.assign(new Error('connect ECONNRESET 127.0.0.1:1'), { code: 'ECONNRESET' });
    expect(reasonOf(withCode)).to.equal('connect ECONNRESET 127.0.0.1:1');
    expect(reasonOf('plain')).to.equal('plain');
    expect(down('HTTP 503')).to.deep.equal({ up: false, error: 'HTTP 503' });
  });
});

describe('check targets in logs, metrics and status', () => {
  it('hide a password given in the URL but probe with it', async () => {
    expect(redact('https://probe:s3cret@db.internal/health')).to.equal(
      'https://probe:***@db.internal/health',
    );
    expect(redact('tcp://[::1]:5432')).to.equal('tcp://[::1]:5432');
    const probed: string[] = [];
    const scheduler = new CheckScheduler({
      targets: ['http://probe:s3cret@127.0.0.1:1/'],
      failHcMs: 1000,
      passHcMs: 1000,
      timeoutMs: 1000,
      clock: new ManualClock(),
      probeFor: () => async (url) => {
        probed.push(url);
        return { up: true, error: null };
      },
    });
    scheduler.start();
    await settle();
    await scheduler.close();
    expect(probed).to.deep.equal(['http://probe:s3cret@127.0.0.1:1/']);
    expect(scheduler.states()[0]!.target).to.equal('http://probe:***@127.0.0.1:1/');
  });
});
