// The acquire client's response reader: TCP hands bytes over in any slices, so the same response
// split anywhere must read the same, in each framing the lock servers (and proxies) use.
import { expect } from 'chai';
import fc from 'fast-check';
import { ResponseReader, type HttpAnswer } from '../../src/client/http.js';

type Framing = 'length' | 'chunked' | 'close';

function encode(status: number, body: string, framing: Framing, chunkSizes: number[]): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  const head = [`HTTP/1.1 ${status} Whatever`, 'Retry-After: 3'];
  if (framing === 'length') head.push(`Content-Length: ${bytes.length}`);
  if (framing === 'chunked') head.push('Transfer-Encoding: chunked');
  let payload = bytes;
  if (framing === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (const size of [...chunkSizes, bytes.length]) {
      const chunk = bytes.subarray(at, Math.min(bytes.length, at + Math.max(1, size)));
      if (chunk.length === 0) break;
      parts.push(Buffer.from(`${chunk.length.toString(16)};ext=1\r\n`), chunk, Buffer.from('\r\n'));
      at += chunk.length;
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    payload = Buffer.concat(parts);
  }
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), payload]);
}

/** Feeds the bytes cut at the given points; the answer from push(), or from end() for `close`. */
function read(bytes: Buffer, cuts: number[]): HttpAnswer | null {
  const reader = new ResponseReader();
  let answer: HttpAnswer | null = null;
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b).concat(bytes.length)) {
    answer ??= reader.push(bytes.subarray(from, cut));
    from = cut;
  }
  return answer;
}

describe('acquire client: HTTP response reader', () => {
  it('reads the same answer however the bytes are split (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(200, 400, 423, 429, 503),
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.constantFrom<Framing>('length', 'chunked', 'close'),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (status, body, framing, chunkSizes, rawCuts) => {
          const bytes = encode(status, body, framing, chunkSizes);
          const cuts = rawCuts.map((c) => c % (bytes.length + 1));
          const expected = { status, headers: { 'retry-after': '3' }, body };
          const pushed = read(bytes, cuts);
          if (framing === 'close') {
            // Without a length only the end of the connection ends the body.
            expect(pushed).to.equal(null);
            const reader = new ResponseReader();
            reader.push(bytes);
            expect(reader.end()).to.deep.include({ status, body });
          } else {
            expect(pushed).to.not.equal(null);
            expect(pushed!.status).to.equal(expected.status);
            expect(pushed!.body).to.equal(expected.body);
            expect(pushed!.headers['retry-after']).to.equal('3');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads a response split at every single byte, complete at its last chunk', () => {
    const bytes = encode(423, '{"position":3,"error":"busy – wait"}', 'chunked', [4, 7]);
    const reader = new ResponseReader();
    let answer: HttpAnswer | null = null;
    let completeAt = -1;
    for (let i = 0; i < bytes.length && answer === null; i++) {
      answer = reader.push(bytes.subarray(i, i + 1));
      completeAt = i;
    }
    expect(answer).to.deep.include({ status: 423, body: '{"position":3,"error":"busy – wait"}' });
    // The "0\r\n" that ends a chunked body is enough: the connection closes after it.
    expect(completeAt).to.equal(bytes.length - 3);
  });

  it('ignores whatever follows a complete answer', () => {
    const reader = new ResponseReader();
    const answer = reader.push(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'));
    expect(answer).to.deep.include({ status: 204, body: '' });
    expect(reader.push(Buffer.from('HTTP/1.1 500 Oops\r\n\r\n'))).to.equal(null);
  });

  it('keeps the first 64 KiB of a long body and still finds its end', () => {
    const body = 'y'.repeat(100 * 1024);
    const answer = read(encode(200, body, 'chunked', [9000, 30000]), [5000, 70000]);
    expect(answer!.body).to.equal(body.slice(0, 64 * 1024));
  });
});
