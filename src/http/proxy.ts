// The agent's network settings: its proxy (Agent.ProxyUrl, credentials, bypass list) and its certificates
// (Agent.CAInfo, client certificate), as azure-pipelines-task-lib reads them (getHttpProxyConfiguration,
// getHttpCertConfiguration). Pure: which URL goes through the proxy, what a child process is told, how the proxy is
// named in a message (never with its credentials).
export interface ProxySettings {
  /** Agent.ProxyUrl, e.g. http://proxy.corp:8080 */
  url: string;
  username?: string;
  password?: string;
  /** Agent.ProxyBypassList: regular expressions tested against the whole request URL, case-insensitively. */
  bypass: string[];
}

export interface CertSettings {
  /** Agent.CAInfo: PEM file of the CA(s) to trust. */
  caFile?: string;
  /** Agent.ClientCert / ClientCertKey / ClientCertArchive / ClientCertPassword. */
  certFile?: string;
  keyFile?: string;
  archiveFile?: string;
  passphrase?: string;
}

export interface AgentNetwork {
  proxy?: ProxySettings;
  cert?: CertSettings;
}

/** The proxy a request to this URL goes through: none when the agent has none or a bypass entry matches the URL. */
export function proxyFor(network: AgentNetwork | undefined, url: string): ProxySettings | undefined {
  const proxy = network?.proxy;
  if (!proxy?.url) return undefined;
  for (const entry of proxy.bypass) {
    try {
      if (new RegExp(entry, 'i').test(url)) return undefined;
    } catch {
      // task-lib would throw on an invalid expression; an entry we cannot read bypasses nothing
    }
  }
  return proxy;
}

/** The proxy's URL as it may be printed: scheme, host and port, never credentials. */
export function describeProxy(proxy: Pick<ProxySettings, 'url'>): string {
  try {
    const url = new URL(proxy.url);
    return `${url.protocol}//${url.host}`;
  } catch {
    return '(the agent proxy, whose URL cannot be read)';
  }
}

function credentialsOf(proxy: ProxySettings): { username: string; password: string } | undefined {
  if (proxy.username) return { username: proxy.username, password: proxy.password ?? '' };
  try {
    const url = new URL(proxy.url);
    if (url.username) return { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  } catch {
    // no credentials in an unreadable URL
  }
  return undefined;
}

/** The Proxy-Authorization header value (Basic), when the proxy has credentials. */
export function proxyAuthorization(proxy: ProxySettings): string | undefined {
  const credentials = credentialsOf(proxy);
  return credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
}

/** The proxy URL with its credentials, as HTTPS_PROXY carries them to curl-like and Go programs. */
export function proxyUrlWithCredentials(proxy: ProxySettings): string {
  const url = new URL(proxy.url);
  const credentials = credentialsOf(proxy);
  url.username = credentials ? encodeURIComponent(credentials.username) : '';
  url.password = credentials ? encodeURIComponent(credentials.password) : '';
  return url.toString().replace(/\/$/, '');
}

/** Every form in which the proxy's password could appear, for the log's masker. */
export function proxySecrets(network: AgentNetwork | undefined): string[] {
  const secrets: string[] = [];
  const proxy = network?.proxy;
  const credentials = proxy ? credentialsOf(proxy) : undefined;
  if (credentials?.password) {
    secrets.push(credentials.password, encodeURIComponent(credentials.password));
    secrets.push(Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64'));
  }
  if (network?.cert?.passphrase) secrets.push(network.cert.passphrase);
  return [...new Set(secrets.filter(Boolean))];
}

/**
 * NO_PROXY entries for bypass expressions that name hosts (`github\.com`, `.*\.corp\.example`, `^https?://10\.1\.2\.3`);
 * expressions that are not a host pattern are returned apart, for a warning (NO_PROXY cannot express them).
 */
export function noProxyEntries(bypass: readonly string[]): { hosts: string[]; untranslatable: string[] } {
  const hosts: string[] = [];
  const untranslatable: string[] = [];
  for (const entry of bypass) {
    let text = entry.trim().replace(/^\^/, '').replace(/\$$/, '');
    // a scheme: http://, https?://, (https?://)?, .*:// (slashes escaped or not)
    text = text.replace(/^\(?(https?\??|\.\*)\)?:(\\?\/){2}\)?\??/i, '');
    text = text.replace(/(\\?\/\.\*|\.\*|\\?\/)$/, '');
    const suffix = /^(\.\*\\?\.|\(\.\*\\?\.\)\?|\.\*)/.exec(text);
    if (suffix) text = text.slice(suffix[0].length);
    const host = text.replace(/\\([.-])/g, '$1');
    if (/^[a-z0-9-]+(\.[a-z0-9-]+)*(:\d+)?$/i.test(host)) hosts.push(suffix ? `.${host}` : host);
    else untranslatable.push(entry);
  }
  return { hosts: [...new Set(hosts)], untranslatable };
}

/**
 * What a child process (docker, buildx, trivy) needs to use the agent's proxy and CA: HTTPS_PROXY/HTTP_PROXY (with
 * credentials; environment, never argv), NO_PROXY from the bypass list added to the job's own, SSL_CERT_FILE.
 */
export function childProxyEnv(network: AgentNetwork | undefined, base: NodeJS.ProcessEnv, caBundle?: string): Record<string, string> {
  const env: Record<string, string> = {};
  const proxy = network?.proxy;
  if (proxy?.url) {
    const url = proxyUrlWithCredentials(proxy);
    for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy']) env[name] = url;
    const existing = (base.NO_PROXY ?? base.no_proxy ?? '')
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    // a daemon reached over tcp is the job's own, never behind the proxy (docker's CLI would send it there)
    const dockerHost = /^tcp:\/\/\[?([^\]/:]+)/.exec(base.DOCKER_HOST ?? '')?.[1];
    const noProxy = [...new Set([...existing, ...(dockerHost ? [dockerHost] : []), ...noProxyEntries(proxy.bypass).hosts])].join(',');
    if (noProxy) {
      env.NO_PROXY = noProxy;
      env.no_proxy = noProxy;
    }
  }
  if (caBundle) env.SSL_CERT_FILE = caBundle;
  return env;
}
