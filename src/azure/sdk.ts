// The parts of the Azure SDKs the tasks use, in one module: the build carries it as one string compiled only when
// a run signs in with an Azure connection (scripts/build.mjs, deferredModules), so no task parses the SDKs at start.
export { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
export { createHttpHeaders } from '@azure/core-rest-pipeline';
export { TaskApi } from 'azure-devops-node-api/TaskApi';
export { BearerCredentialHandler } from 'azure-devops-node-api/handlers/bearertoken';
export { PersonalAccessTokenCredentialHandler } from 'azure-devops-node-api/handlers/personalaccesstoken';
