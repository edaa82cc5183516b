import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError } from './errors';

const ALGORITHMS: Record<string, string> = { sha256: 'sha256', sha512: 'sha512' };

function algorithmOf(digest: string): string {
  const name = digest.slice(0, digest.indexOf(':'));
  const algorithm = ALGORITHMS[name];
  if (!algorithm) throw new Error(`Cannot verify the digest '${digest}': only sha256 and sha512 digests are supported.`);
  return algorithm;
}

/** `sha256:<hex>` of the bytes (or another algorithm the digest names). */
export function digestOf(bytes: Buffer, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Throws DigestMismatchError unless the bytes hash to `expected`. */
export function verifyDigest(what: string, expected: string, bytes: Buffer): void {
  const actual = digestOf(bytes, algorithmOf(expected));
  if (actual !== expected) throw new DigestMismatchError(what, expected, actual);
}

/** A pass-through stream that fails at its end when what went through does not hash to `expected`. */
export function verifyingStream(what: string, expected: string): Transform {
  const algorithm = algorithmOf(expected);
  const hash = createHash(algorithm);
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      const actual = `${algorithm}:${hash.digest('hex')}`;
      callback(actual === expected ? null : new DigestMismatchError(what, expected, actual));
    },
  });
}
