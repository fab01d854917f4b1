import http from 'node:http';
import https from 'node:https';
import type { ClientOptions } from 'minio';

type Transport = NonNullable<ClientOptions['transport']>;

/**
 * The minio client's http(s) transport with a bound on silence: a request gives up (ETIMEDOUT,
 * which unavailableAs turns into StorageUnavailableError, a 503) once the server has sent nothing
 * for `timeoutMs`, whether it never answers or stops in the middle of a body. The minio client has
 * no timeout of its own, so a frozen S3 server would otherwise hold a request forever.
 *
 * It bounds silence, not duration: a large object keeps flowing as long as bytes do. A download
 * that our own reader holds back (a slow browser, backpressure) is idle on purpose, so while the
 * response's buffer is full the timer is re-armed instead of firing.
 */
export function timedTransport(useSSL: boolean, timeoutMs: number): Transport {
  const base = useSSL ? https : http;
  const request = (options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void): http.ClientRequest => {
    const req = base.request(options, callback);
    let response: http.IncomingMessage | undefined;
    req.once('response', (res) => {
      response = res;
    });
    req.on('timeout', () => {
      if (response && response.readableLength >= response.readableHighWaterMark) {
        req.setTimeout(timeoutMs);
        return;
      }
      req.destroy(Object.assign(new Error(`storage server sent nothing for ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    });
    req.setTimeout(timeoutMs);
    return req;
  };
  return { request } as Transport;
}
