export { checkDetached, DetachedSignatureError } from './detached.js';
export type { CandidateKey, DetachedCheck, DetachedFailure } from './detached.js';
export { exportPublicKey, extendSigningKey, generateSigningKey, loadSigningKey, pinnedKeys, readPublicKeys } from './keys.js';
export type { GeneratedKey, GenerateKeyOptions, PublicKeyInfo, SigningKey, TrustedKeys } from './keys.js';
export { signFile, writeSignature } from './sign.js';
export { refuseUnusable, verifyPinned } from './verify.js';
export type { SignatureCheck, VerifyPinnedOptions } from './verify.js';
export { signingKeyFrom, signingKeyText } from './key-source.js';
export type { SigningKeySource } from './key-source.js';
