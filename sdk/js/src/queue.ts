/**
 * Batching and retries for one endpoint.
 *
 * Events wait in memory until `flushIntervalMs` passes or a batch is full, then go out as one
 * request `{"api_key", "batch": [...], "sent_at"}`. A batch the server could not take (network
 * error, 408, 429, 5xx) moves to a retry list in localStorage and is sent again after an
 * exponential backoff with jitter (at least Retry-After when the server gives one); while a batch
 * waits, new batches join the list instead of hammering the server. The list is bounded: past
 * `maxStoredBytes` the oldest batches are dropped. A later page load picks the list up again.
 *
 * With `persistInFlight`, a batch is written to the list before its first attempt too (with a
 * lease so that no other tab sends it meanwhile), so that a page closed mid-request loses nothing:
 * the server de-duplicates events by uuid, so a batch sent twice is stored once.
 */

import type { Logger } from './logger'
import type { Platform, TimerHandle } from './platform'
import { type KeyValueStore, MemoryStore, readJSON } from './storage'
import { KEEPALIVE_LIMIT, type SendOutcome, type Transport } from './transport'
import type { CaptureEvent } from './types'

export interface QueueConfig {
    /** For log messages: "events", "recordings". */
    name: string
    url: string
    token: string
    storageKey: string
    flushIntervalMs: number
    maxBatchEvents: number
    /** Approximate JSON characters per request. */
    maxBatchBytes: number
    /** Bound on the persisted retry list (JSON characters); the oldest batches go first. */
    maxStoredBytes: number
    persistInFlight: boolean
    /** Ask for keepalive requests (small ones only): they survive the page closing. */
    keepalive: boolean
    retryBaseMs: number
    retryMaxMs: number
}

export interface StoredBatch {
    id: string
    events: CaptureEvent[]
    attempts: number
    /** Not to be sent before this time (ms). */
    due: number
}

interface Pending {
    event: CaptureEvent
    size: number
}

// How long a batch being sent by this tab is hidden from other tabs and later page loads.
export const LEASE_MS = 30_000
// The envelope around the events: api_key, sent_at, brackets.
const ENVELOPE_OVERHEAD = 200

export class BatchQueue {
    private pending: Pending[] = []
    private pendingBytes = 0
    private flushTimer: TimerHandle | null = null
    private retryTimer: TimerHandle | null = null
    private running: Promise<void> | null = null
    private rerun = false
    /** After a failure, nothing new is attempted before this time; batches wait in the list. */
    private pausedUntil = 0
    private store: KeyValueStore

    constructor(
        private readonly platform: Platform,
        private readonly transport: Transport,
        private readonly log: Logger,
        private readonly config: QueueConfig,
        private readonly newId: () => string,
    ) {
        this.store = platform.local
    }

    /** Batches restored from an earlier page load are sent (when due). */
    start(): void {
        if (this.stored().length > 0) {
            this.scheduleRetry()
        }
    }

    get pendingCount(): number {
        return this.pending.length
    }

    /** Adds an event; `size` (its JSON length) saves measuring it again when the caller knows it. */
    enqueue(event: CaptureEvent, size = JSON.stringify(event).length): void {
        this.pending.push({ event, size })
        this.pendingBytes += size
        if (this.pending.length >= this.config.maxBatchEvents || this.pendingBytes >= this.config.maxBatchBytes) {
            void this.flush()
        } else if (this.flushTimer === null) {
            this.flushTimer = this.platform.setTimeout(() => {
                this.flushTimer = null
                void this.flush()
            }, this.config.flushIntervalMs)
        }
    }

    /** Sends what is pending and any stored batch that is due; resolves when that is done. */
    flush(): Promise<void> {
        if (this.flushTimer !== null) {
            this.platform.clearTimeout(this.flushTimer)
            this.flushTimer = null
        }
        if (this.running) {
            this.rerun = true
            return this.running
        }
        this.running = this.drain().finally(() => {
            this.running = null
            this.scheduleRetry()
        })
        return this.running
    }

    /** Sends stored batches now, whatever their backoff (the browser came back online). */
    retryNow(): Promise<void> {
        this.pausedUntil = 0
        this.writeStored(this.stored().map((b) => ({ ...b, due: Math.min(b.due, this.platform.now()) })))
        return this.flush()
    }

    /**
     * The page is going away: pending events go out by `sendBeacon` (uncompressed, at most 60 KiB
     * a beacon); what the browser won't take is stored for the next page load.
     */
    unload(): void {
        if (this.flushTimer !== null) {
            this.platform.clearTimeout(this.flushTimer)
            this.flushTimer = null
        }
        const chunks: CaptureEvent[][] = []
        let chunk: CaptureEvent[] = []
        let chunkBytes = ENVELOPE_OVERHEAD
        for (const { event, size } of this.pending) {
            if (chunk.length > 0 && chunkBytes + size + 1 > KEEPALIVE_LIMIT) {
                chunks.push(chunk)
                chunk = []
                chunkBytes = ENVELOPE_OVERHEAD
            }
            chunk.push(event)
            chunkBytes += size + 1
        }
        if (chunk.length > 0) {
            chunks.push(chunk)
        }
        this.pending = []
        this.pendingBytes = 0
        for (const events of chunks) {
            if (!this.transport.beacon(this.config.url, this.envelope(events))) {
                this.upsert({ id: this.newId(), events, attempts: 0, due: this.platform.now() })
            }
        }
    }

    /** The persisted retry list, oldest first. */
    stored(): StoredBatch[] {
        const list = readJSON<StoredBatch[]>(this.store, this.config.storageKey)
        return Array.isArray(list) ? list.filter(isStoredBatch) : []
    }

    private async drain(): Promise<void> {
        do {
            this.rerun = false
            while (this.pending.length > 0) {
                const batch: StoredBatch = { id: this.newId(), events: this.takeBatch(), attempts: 0, due: this.platform.now() }
                if (this.platform.now() < this.pausedUntil) {
                    this.upsert({ ...batch, due: this.pausedUntil })
                    continue
                }
                if (this.config.persistInFlight) {
                    this.upsert({ ...batch, due: this.platform.now() + LEASE_MS })
                }
                await this.attempt(batch, this.config.persistInFlight)
            }
            for (;;) {
                if (this.platform.now() < this.pausedUntil) {
                    break
                }
                const due = this.nextDue()
                if (!due) {
                    break
                }
                this.upsert({ ...due, due: this.platform.now() + LEASE_MS })
                await this.attempt(due, true)
            }
        } while (this.rerun || this.pending.length >= this.config.maxBatchEvents)
    }

    private async attempt(batch: StoredBatch, stored: boolean): Promise<void> {
        let outcome: SendOutcome
        try {
            outcome = await this.transport.post(this.config.url, this.envelope(batch.events), this.config.keepalive)
        } catch (error) {
            this.log.debug(`${this.config.name}: send failed`, error)
            outcome = { kind: 'retry', status: null, retryAfterMs: null }
        }
        if (outcome.kind === 'retry') {
            const attempts = batch.attempts + 1
            const delay = Math.max(outcome.retryAfterMs ?? 0, this.backoff(attempts))
            const due = this.platform.now() + delay
            this.pausedUntil = due
            this.log.debug(`${this.config.name}: HTTP ${outcome.status ?? 'error'}, retry #${attempts} in ${delay} ms`)
            this.upsert({ ...batch, attempts, due })
            return
        }
        // Sent, or refused for good: either way this batch is done.
        if (stored) {
            this.remove(batch.id)
        }
    }

    /** Exponential backoff with jitter: the n-th retry waits between half and all of base·2^(n−1). */
    backoff(attempts: number): number {
        const ceiling = Math.min(this.config.retryMaxMs, this.config.retryBaseMs * 2 ** (attempts - 1))
        return Math.round(ceiling / 2 + (this.platform.random() * ceiling) / 2)
    }

    private takeBatch(): CaptureEvent[] {
        const events: CaptureEvent[] = []
        let bytes = ENVELOPE_OVERHEAD
        while (this.pending.length > 0 && events.length < this.config.maxBatchEvents) {
            const next = this.pending[0]!
            if (events.length > 0 && bytes + next.size > this.config.maxBatchBytes) {
                break
            }
            this.pending.shift()
            this.pendingBytes -= next.size
            bytes += next.size + 1
            events.push(next.event)
        }
        return events
    }

    private envelope(events: CaptureEvent[]): string {
        return JSON.stringify({
            api_key: this.config.token,
            batch: events,
            sent_at: new Date(this.platform.now()).toISOString(),
        })
    }

    private nextDue(): StoredBatch | null {
        const now = this.platform.now()
        let best: StoredBatch | null = null
        for (const batch of this.stored()) {
            if (batch.due <= now && (best === null || batch.due < best.due)) {
                best = batch
            }
        }
        return best
    }

    private scheduleRetry(): void {
        if (this.retryTimer !== null) {
            this.platform.clearTimeout(this.retryTimer)
            this.retryTimer = null
        }
        const list = this.stored()
        if (list.length === 0) {
            return
        }
        const now = this.platform.now()
        const next = Math.max(this.pausedUntil, Math.min(...list.map((b) => b.due)))
        this.retryTimer = this.platform.setTimeout(() => {
            this.retryTimer = null
            void this.flush()
        }, Math.max(0, next - now))
    }

    private upsert(batch: StoredBatch): void {
        const list = this.stored()
        const index = list.findIndex((b) => b.id === batch.id)
        if (index >= 0) {
            list[index] = batch
        } else {
            list.push(batch)
        }
        this.writeStored(list)
    }

    private remove(id: string): void {
        const list = this.stored()
        const kept = list.filter((b) => b.id !== id)
        if (kept.length !== list.length) {
            this.writeStored(kept)
        }
    }

    /** Writes the list within its bound, dropping the oldest batches first. */
    private writeStored(list: StoredBatch[]): void {
        let json = JSON.stringify(list)
        let dropped = 0
        while (list.length > 0 && json.length > this.config.maxStoredBytes) {
            dropped += list.shift()!.events.length
            json = JSON.stringify(list)
        }
        const bounded = json
        // The quota is shared with the page: make room by dropping ours, oldest first.
        while (!this.store.set(this.config.storageKey, json)) {
            if (list.length === 0) {
                // Not even an empty list can be written: storage is unusable, not just full.
                this.log.warn(`${this.config.name}: storage refuses writes, keeping retries in memory`)
                this.store = new MemoryStore()
                this.store.set(this.config.storageKey, bounded)
                return
            }
            dropped += list.shift()!.events.length
            json = JSON.stringify(list)
        }
        if (dropped > 0) {
            this.log.warn(`${this.config.name}: retry queue full, dropped ${dropped} oldest event(s)`)
        }
    }
}

function isStoredBatch(value: unknown): value is StoredBatch {
    const b = value as Partial<StoredBatch> | null
    return typeof b === 'object' && b !== null && typeof b.id === 'string' && Array.isArray(b.events) && typeof b.due === 'number' && typeof b.attempts === 'number'
}
