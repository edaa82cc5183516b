// Azure Blob Storage through SAS URLs, the two ways ACR Tasks uses it: the build context PUT as one block blob
// (Put Blob: `x-ms-blob-type: BlockBlob`), and the run's log read from where the last read stopped (Range).
// A SAS URL is a secret: it never appears in a message (redactUrl).
import { type HttpClient, type HttpRequest, errorDetail, fetchClient, redactUrl } from '../http/client';

/** The version of the Blob service REST API the requests speak. */
export const BLOB_API_VERSION = '2021-08-06';

export async function uploadBlockBlob(uploadUrl: string, body: Buffer, http: HttpClient = fetchClient): Promise<void> {
  const request: HttpRequest = {
    method: 'PUT',
    url: uploadUrl,
    headers: {
      'x-ms-blob-type': 'BlockBlob',
      'x-ms-version': BLOB_API_VERSION,
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(body.length),
    },
    body,
    timeoutMs: 10 * 60_000,
  };
  const response = await http(request);
  if (response.status !== 201) {
    const said = errorDetail(response) ?? '';
    throw new Error(`Uploading the build context to ${redactUrl(uploadUrl)} answered ${response.status}${said ? `: ${said}` : ''}`);
  }
}

/**
 * What the log blob holds from `offset` on: empty when nothing new (416) or no log yet (404). The caller keeps the
 * offset.
 */
export async function readBlobFrom(url: string, offset: number, http: HttpClient = fetchClient): Promise<Buffer> {
  const response = await http({ method: 'GET', url, headers: { Range: `bytes=${offset}-`, 'x-ms-version': BLOB_API_VERSION } });
  if (response.status === 416 || response.status === 404) return Buffer.alloc(0);
  if (response.status === 206) return response.body;
  if (response.status === 200) return response.body.subarray(offset);
  throw new Error(`Reading the run's log at ${redactUrl(url)} answered ${response.status}`);
}
