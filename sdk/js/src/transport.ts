/**
 * HTTP to the platform: one POST, gzip-compressed where the browser can, and what its answer
 * means for the events in it. The only module that calls `fetch` or `sendBeacon`.
 */

import type { Logger } from './logger'
import type { HttpResponse, Platform } from './platform'

/** What became of a request. */
export type SendOutcome =
    /** Stored by the server (2xx). */
    | { kind: 'ok' }
    /** Worth sending again: network error, 408, 429 or 5xx; `retryAfterMs` from Retry-After. */
    | { kind: 'retry'; status: number | null; retryAfterMs: number | null }
    /**
     * Refused for good (another 4xx). With a 400 problem body the server names the events it
     * rejected in `rejected` and has stored the rest, so nothing of the request is sent again.
     */
    | { kind: 'rejected'; status: number; rejected: number[] | null }

// Browsers refuse keepalive requests and beacons over 64 KiB; stay under it with some margin.
export const KEEPALIVE_LIMIT = 60 * 1024

export function withQuery(url: string, params: Record<string, string>): string {
    const query = Object.entries(params)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
        .join('&')
    if (!query) {
        return url
    }
    return url + (url.includes('?') ? '&' : '?') + query
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from `now`. */
export function parseRetryAfter(value: string | null, now: number): number | null {
    if (value === null || value.trim() === '') {
        return null
    }
    const trimmed = value.trim()
    if (/^\d+(\.\d+)?$/.test(trimmed)) {
        return Math.round(parseFloat(trimmed) * 1000)
    }
    const date = Date.parse(trimmed)
    return Number.isNaN(date) ? null : Math.max(0, date - now)
}

export class Transport {
    constructor(
        private readonly platform: Platform,
        private readonly log: Logger,
        private readonly compress: boolean,
    ) {}

    /**
     * POSTs a JSON body, gzipped (with `?compression=gzip-js`) when compression is on and possible.
     * With `keepalive`, a small request outlives the page; browsers allow only 64 KiB of such
     * requests in flight at once, so only the small, important ones should ask for it.
     */
    async post(url: string, json: string, keepalive = false): Promise<SendOutcome> {
        let body: string | Uint8Array = json
        let target = url
        if (this.compress && this.platform.gzip) {
            try {
                body = await this.platform.gzip(json)
                target = withQuery(url, { compression: 'gzip-js' })
            } catch (error) {
                this.log.debug('gzip failed, sending uncompressed', error)
                body = json
            }
        }
        let response
        try {
            response = await this.platform.fetch(target, {
                method: 'POST',
                // text/plain is a "simple" content type: no CORS preflight. The server reads the
                // JSON (or the gzip magic bytes) whatever the type says.
                headers: { 'Content-Type': 'text/plain' },
                body,
                keepalive: keepalive && byteLength(body) < KEEPALIVE_LIMIT / 2,
            })
        } catch (error) {
            this.log.debug('request failed', target, error)
            return { kind: 'retry', status: null, retryAfterMs: null }
        }
        return this.outcome(response)
    }

    /** Hands a body to the browser to send after the page is gone; false if it would not take it. */
    beacon(url: string, json: string): boolean {
        if (!this.platform.sendBeacon || byteLength(json) > KEEPALIVE_LIMIT) {
            return false
        }
        return this.platform.sendBeacon(withQuery(url, { beacon: '1' }), json)
    }

    private async outcome(response: HttpResponse): Promise<SendOutcome> {
        const status = response.status
        if (status >= 200 && status < 300) {
            return { kind: 'ok' }
        }
        if (status === 408 || status === 429 || status >= 500 || status === 0) {
            const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'), this.platform.now())
            return { kind: 'retry', status, retryAfterMs }
        }
        let rejected: number[] | null = null
        try {
            const problem: unknown = JSON.parse(await response.text())
            const indexes = (problem as { rejected?: unknown } | null)?.rejected
            if (Array.isArray(indexes)) {
                rejected = indexes.filter((i): i is number => typeof i === 'number')
            }
        } catch {
            // Not a problem+json body: the whole request was refused.
        }
        this.log.warn(`the server refused ${rejected ? `events ${rejected.join(', ')}` : 'a request'} (HTTP ${status})`)
        return { kind: 'rejected', status, rejected }
    }
}

function byteLength(body: string | Uint8Array): number {
    if (typeof body !== 'string') {
        return body.byteLength
    }
    // UTF-8 is never shorter than the UTF-16 length, so only short strings need encoding.
    return body.length >= KEEPALIVE_LIMIT ? body.length : new TextEncoder().encode(body).byteLength
}
