/**
 * Everything the SDK takes from its surroundings: time, randomness, timers, HTTP and storage.
 * The browser build uses `browserPlatform()`; tests pass fakes, so that retries, session expiry
 * and flushing run on a fake clock against a fake server.
 */

import { type KeyValueStore, webStoreOrMemory } from './storage'

/** The parts of a fetch `Response` the SDK reads. */
export interface HttpResponse {
    status: number
    headers: { get(name: string): string | null }
    text(): Promise<string>
}

export interface HttpRequest {
    method: 'POST'
    headers: Record<string, string>
    body: string | Uint8Array
    keepalive?: boolean
}

export type TimerHandle = unknown

export interface Platform {
    /** Milliseconds since the epoch. */
    now(): number
    /** A float in [0, 1), for backoff jitter. */
    random(): number
    /** Cryptographically random bytes, for identifiers. */
    randomBytes(length: number): Uint8Array
    setTimeout(callback: () => void, ms: number): TimerHandle
    clearTimeout(handle: TimerHandle): void
    fetch(url: string, request: HttpRequest): Promise<HttpResponse>
    /** `navigator.sendBeacon` with a text body; null where the browser has none. */
    sendBeacon: ((url: string, body: string) => boolean) | null
    /** gzip through `CompressionStream`; null where the browser has none. */
    gzip: ((text: string) => Promise<Uint8Array>) | null
    /** Persists across page loads (localStorage). */
    local: KeyValueStore
    /** Lasts as long as the tab (sessionStorage). */
    session: KeyValueStore
    /** The page, for properties, autocapture and unload hooks; null outside a browser. */
    window: Window | null
}

export function hasCompressionStream(): boolean {
    return typeof CompressionStream === 'function' && typeof Response === 'function'
}

export async function gzipWithCompressionStream(text: string): Promise<Uint8Array> {
    const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'))
    return new Uint8Array(await new Response(stream).arrayBuffer())
}

function randomBytesFromCrypto(length: number): Uint8Array {
    const bytes = new Uint8Array(length)
    if (typeof crypto !== 'undefined' && typeof crypto.getRandomValues === 'function') {
        crypto.getRandomValues(bytes)
    } else {
        for (let i = 0; i < length; i++) {
            bytes[i] = Math.floor(Math.random() * 256)
        }
    }
    return bytes
}

export function browserPlatform(win: Window = window): Platform {
    const nav = win.navigator
    const beacon =
        nav && typeof nav.sendBeacon === 'function'
            ? (url: string, body: string): boolean => {
                  try {
                      // A plain string goes as text/plain, which needs no CORS preflight.
                      return nav.sendBeacon(url, body)
                  } catch {
                      return false
                  }
              }
            : null
    return {
        now: () => Date.now(),
        random: () => Math.random(),
        randomBytes: randomBytesFromCrypto,
        setTimeout: (callback, ms) => win.setTimeout(callback, ms),
        clearTimeout: (handle) => win.clearTimeout(handle as number),
        fetch: (url, request) => win.fetch(url, request as RequestInit),
        sendBeacon: beacon,
        gzip: hasCompressionStream() ? gzipWithCompressionStream : null,
        local: webStoreOrMemory(win, 'localStorage'),
        session: webStoreOrMemory(win, 'sessionStorage'),
        window: win,
    }
}
