// Compact JWS (RS256 / PS256) with node:crypto: enough for the tokens the emulators issue and verify.
import { constants, createHash, type KeyObject, randomUUID, sign, verify } from 'node:crypto';

export interface JwtHeader {
  alg: string;
  typ?: string;
  kid?: string;
  x5t?: string;
  'x5t#S256'?: string;
  x5c?: string[];
}

export type JwtClaims = Record<string, unknown>;

export interface DecodedJwt {
  header: JwtHeader;
  claims: JwtClaims;
  signingInput: string;
  signature: Buffer;
}

export function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Signs claims with an RSA private key (RS256). */
export function signJwt(claims: JwtClaims, privateKey: KeyObject, header: Omit<JwtHeader, 'alg'> = {}): string {
  const fullHeader: JwtHeader = { alg: 'RS256', typ: 'JWT', ...header };
  const signingInput = `${base64url(JSON.stringify(fullHeader))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), privateKey);
  return `${signingInput}.${base64url(signature)}`;
}

/** Splits and parses a compact JWS; undefined when it is not one. Does not verify anything. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(claims) || typeof header.alg !== 'string') return undefined;
    return {
      header: header as unknown as JwtHeader,
      claims,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2], 'base64url'),
    };
  } catch {
    return undefined;
  }
}

/** Verifies the signature of a decoded token with an RSA public key; only RS256 and PS256 are accepted. */
export function verifySignature(jwt: DecodedJwt, publicKey: KeyObject): boolean {
  const data = Buffer.from(jwt.signingInput);
  if (jwt.header.alg === 'RS256') return verify('sha256', data, publicKey, jwt.signature);
  if (jwt.header.alg === 'PS256') {
    return verify(
      'sha256',
      data,
      { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
      jwt.signature,
    );
  }
  return false;
}

export type TimeCheck = 'valid' | 'expired' | 'notYetValid' | 'noExpiry';

/** Checks exp and nbf (seconds since the epoch) with a clock skew allowance. */
export function checkLifetime(claims: JwtClaims, nowSeconds: number, skewSeconds = 300): TimeCheck {
  if (typeof claims.exp !== 'number') return 'noExpiry';
  if (claims.exp + skewSeconds < nowSeconds) return 'expired';
  if (typeof claims.nbf === 'number' && claims.nbf - skewSeconds > nowSeconds) return 'notYetValid';
  return 'valid';
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Key id: base64url SHA-256 of the public key (stable for a persisted key). */
export function keyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return base64url(createHash('sha256').update(der).digest()).slice(0, 32);
}

/** The public JWK of an RSA key as a JWKS entry. */
export function publicJwk(publicKey: KeyObject): Record<string, unknown> {
  const jwk = publicKey.export({ format: 'jwk' });
  return { kty: jwk.kty, use: 'sig', alg: 'RS256', kid: keyId(publicKey), n: jwk.n, e: jwk.e };
}

export function newJwtId(): string {
  return randomUUID();
}

/** The audience claim as a list (a JWT may carry one string or an array). */
export function audiences(claims: JwtClaims): string[] {
  if (typeof claims.aud === 'string') return [claims.aud];
  if (Array.isArray(claims.aud)) return claims.aud.filter((value): value is string => typeof value === 'string');
  return [];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
