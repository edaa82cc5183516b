// The ACR emulator: one instance serves every registry name of lab.json (contoso, fabrikam, ...).
import * as path from 'node:path';
import type { LabConfig } from '../config';
import type { EntraEmulator } from '../entra';
import type { Exchange } from '../http';
import type { SigningKey } from '../keys';
import { AcrApi } from './acrApi';
import { AcrAuth } from './auth';
import type { AcrContext } from './context';
import { acrError } from './errors';
import { RegistryV2 } from './registryV2';
import { AcrPolicies, AcrStore } from './store';

export class AcrEmulator {
  readonly store: AcrStore;
  readonly policies: AcrPolicies;
  readonly auth: AcrAuth;
  private readonly registryApi: RegistryV2;
  private readonly acrApi: AcrApi;

  constructor(config: LabConfig, key: SigningKey, entra: EntraEmulator) {
    this.store = new AcrStore(path.join(config.stateDir, 'acr-state.json'));
    this.policies = new AcrPolicies((registry) => config.registry(registry)?.quarantine);
    this.auth = new AcrAuth(config, key, entra, this.policies);
    const context: AcrContext = {
      config,
      store: this.store,
      policies: this.policies,
      auth: this.auth,
      backing: () => config.backingRegistry,
    };
    this.registryApi = new RegistryV2(context);
    this.acrApi = new AcrApi(context);
  }

  async handle(exchange: Exchange, registry: string): Promise<void> {
    const pathname = exchange.url.pathname;
    if (pathname.startsWith('/oauth2/')) return this.auth.handle(exchange, registry);
    if (pathname === '/v2' || pathname.startsWith('/v2/')) return this.registryApi.handle(exchange, registry);
    if (pathname.startsWith('/acr/v1/')) return this.acrApi.handle(exchange, registry);
    acrError(exchange.res, 404, 'NOT_FOUND', `${pathname} is not served by ${registry}.`);
  }
}
