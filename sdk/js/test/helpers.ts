/** Fakes for the SDK's platform: a clock with timers, a scripted server, storage and beacons. */

import { gunzipSync, gzipSync } from 'node:zlib'
import { randomBytes } from 'node:crypto'
import type { HttpRequest, HttpResponse, Platform } from '../src/platform'
import { gzipWithCompressionStream } from '../src/platform'
import { MemoryStore } from '../src/storage'

interface Timer {
    id: number
    at: number
    callback: () => void
}

/** Lets pending promise callbacks (fetch, gzip) run. */
export async function settle(): Promise<void> {
    for (let i = 0; i < 20; i++) {
        await new Promise<void>((resolve) => setImmediate(resolve))
    }
}

/** Waits (in real time) until `condition` holds, for work that settles outside the event loop. */
export async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
    const start = Date.now()
    while (!condition()) {
        if (Date.now() - start > timeoutMs) throw new Error('condition not met in time')
        await new Promise((resolve) => setTimeout(resolve, 5))
    }
}

export class FakeClock {
    private timers: Timer[] = []
    private nextId = 1

    constructor(public now = Date.UTC(2026, 0, 15, 12, 0, 0)) {}

    setTimeout = (callback: () => void, ms: number): number => {
        const id = this.nextId++
        this.timers.push({ id, at: this.now + Math.max(0, ms), callback })
        return id
    }

    clearTimeout = (handle: unknown): void => {
        this.timers = this.timers.filter((t) => t.id !== handle)
    }

    get pendingTimers(): number {
        return this.timers.length
    }

    /** Moves time forward, running each timer due on the way (and the promises it starts). */
    async advance(ms: number): Promise<void> {
        const end = this.now + ms
        await settle()
        for (;;) {
            const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0]
            if (!due) break
            this.timers = this.timers.filter((t) => t !== due)
            this.now = Math.max(this.now, due.at)
            due.callback()
            await settle()
        }
        this.now = end
        await settle()
    }
}

export interface RecordedRequest {
    url: string
    keepalive: boolean
    headers: Record<string, string>
    body: string | Uint8Array
    at: number
    /** The JSON body, gunzipped if it was compressed. */
    json(): any
    text(): string
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'network-error'

export class FakeServer {
    requests: RecordedRequest[] = []
    /** Flags /flags answers with unless `handler` is replaced. */
    flags: Record<string, unknown> = {}
    /** Decides each reply: by default 200, with `flags` for /flags. */
    handler: (request: RecordedRequest) => Reply | Promise<Reply> = (request) =>
        new URL(request.url).pathname === '/flags'
            ? { status: 200, body: JSON.stringify({ flags: this.flags, errorsWhileComputingFlags: false, requestId: 'req-1' }) }
            : { status: 200, body: '{"status":1}' }

    constructor(private readonly clock: FakeClock) {}

    fetch = async (url: string, request: HttpRequest): Promise<HttpResponse> => {
        const body = request.body
        const recorded: RecordedRequest = {
            url,
            keepalive: request.keepalive === true,
            headers: request.headers,
            body,
            at: this.clock.now,
            text: () => (typeof body === 'string' ? body : gunzipSync(body).toString('utf8')),
            json: () => JSON.parse(recorded.text()),
        }
        this.requests.push(recorded)
        const reply = await this.handler(recorded)
        if (reply === 'network-error') {
            throw new TypeError('Failed to fetch')
        }
        const headers = Object.fromEntries(Object.entries(reply.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
        return {
            status: reply.status,
            headers: { get: (name: string) => headers[name.toLowerCase()] ?? null },
            text: async () => reply.body ?? '',
        }
    }

    to(path: string): RecordedRequest[] {
        return this.requests.filter((r) => new URL(r.url).pathname === path)
    }

    /** All events sent to a path, in order. */
    events(path = '/batch/'): any[] {
        return this.to(path).flatMap((r) => r.json().batch as any[])
    }
}

export interface Beacon {
    url: string
    body: string
}

export interface TestPlatform extends Platform {
    clock: FakeClock
    server: FakeServer
    beacons: Beacon[]
    beaconAccepts: boolean
    local: MemoryStore
    session: MemoryStore
}

/** A platform on a fake clock and server; pass `local`/`session` to simulate a page reload. */
export function testPlatform(options: { local?: MemoryStore; session?: MemoryStore; window?: Window | null; clock?: FakeClock; gzip?: 'sync' | 'stream' | 'none' } = {}): TestPlatform {
    const clock = options.clock ?? new FakeClock()
    const server = new FakeServer(clock)
    const platform: TestPlatform = {
        clock,
        server,
        beacons: [],
        beaconAccepts: true,
        now: () => clock.now,
        random: () => 0.5,
        randomBytes: (n) => new Uint8Array(randomBytes(n)),
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
        fetch: server.fetch,
        sendBeacon: (url, body) => {
            if (!platform.beaconAccepts) return false
            platform.beacons.push({ url, body })
            return true
        },
        // zlib's sync gzip keeps tests deterministic; 'stream' uses the browser's CompressionStream
        // path (Node has it too), whose work finishes on the thread pool at its own pace.
        gzip:
            options.gzip === 'none'
                ? null
                : options.gzip === 'stream'
                  ? gzipWithCompressionStream
                  : async (text) => new Uint8Array(gzipSync(text)),
        local: options.local ?? new MemoryStore(),
        session: options.session ?? new MemoryStore(),
        window: options.window ?? null,
    }
    return platform
}

export const silent = { debug: () => {}, warn: () => {} }

export const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A v2 flag as services/flags sends it (schemas/flags.py FlagDetail). */
export function v2Flag(key: string, enabled: boolean, variant: string | null = null, payload: unknown = null) {
    return {
        key,
        enabled,
        variant,
        reason: { code: enabled ? 'condition_match' : 'no_condition_match', condition_index: enabled ? 0 : null, description: '' },
        metadata: { id: 7, version: 3, payload: payload === null ? null : JSON.stringify(payload), description: null },
    }
}
