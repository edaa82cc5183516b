/** The user name that tells ACR the password is an ACR refresh token (docs/AAD-OAuth.md). */
export const ACR_TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';

/** What every registry client and `docker login` need: a user name and a secret for one login server. */
export interface RegistryCredentials {
  /** Login server, e.g. contoso.azurecr.io. */
  registry: string;
  username: string;
  password: string;
}
