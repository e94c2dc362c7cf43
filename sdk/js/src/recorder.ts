/**
 * Session recording with rrweb, sent as PostHog-compatible `$snapshot` events.
 *
 * rrweb's events are buffered per session and window and leave as one `$snapshot` event every
 * `flushIntervalMs` or as soon as the buffer holds `maxBufferBytes` of JSON, whichever comes
 * first. When the session changes (idle, 24 hours, reset, another tab), the old session's buffer
 * is sent and rrweb takes a new full snapshot, so every session's recording starts with one.
 * User interaction in the recording counts as session activity; DOM mutations do not.
 *
 * rrweb itself is passed in (`RecordFunction`), which keeps this module testable without it.
 */

import type { eventWithTime, RecordPlugin } from '@rrweb/types'
import type { recordOptions } from 'rrweb'
import type { Logger } from './logger'
import type { Platform, TimerHandle } from './platform'
import { LIB_NAME } from './properties'
import type { SessionIds } from './session'
import type { CaptureEvent } from './types'
import { VERSION } from './version'

export type RecordOptions = recordOptions<eventWithTime>

/** rrweb's `record` (with its `takeFullSnapshot`), or a stand-in in tests. */
export interface RecordFunction {
    (options: RecordOptions): (() => void) | undefined
    takeFullSnapshot(isCheckout?: boolean): void
    addCustomEvent?<T>(tag: string, payload: T): void
}

export type ConsoleLevel = 'error' | 'warn' | 'info' | 'log' | 'debug'

/** rrweb's console plugin factory (`getRecordConsolePlugin`). */
export type ConsolePluginFactory = (options: { level: ConsoleLevel[]; lengthThreshold: number }) => RecordPlugin

export interface RecordingOptions {
    /** Replace what is typed into every input, textarea and select with asterisks. */
    maskAllInputs: boolean
    /** Elements whose text is replaced with asterisks, besides `.rr-mask` and `.dv-mask`. */
    maskTextSelector: string | null
    /** Elements left out of the recording (drawn as an empty box), besides `.rr-block`, `.dv-no-capture`, `.ph-no-capture`. */
    blockSelector: string | null
    /** Console levels recorded through rrweb's console plugin; empty records none. */
    consoleLevels: ConsoleLevel[]
    flushIntervalMs: number
    maxBufferBytes: number
    /** rrweb sampling: mouse moves every N ms, scrolls every N ms; every input change (one per
     *  keystroke, masked) by default, which is what the server counts as keypresses. */
    sampling: { mousemove: number; scroll: number; input: 'last' | 'all' }
}

export const DEFAULT_RECORDING_OPTIONS: RecordingOptions = {
    maskAllInputs: true,
    maskTextSelector: null,
    blockSelector: null,
    consoleLevels: ['error', 'warn'],
    flushIntervalMs: 2000,
    maxBufferBytes: 900_000,
    sampling: { mousemove: 50, scroll: 150, input: 'all' },
}

export const BLOCK_CLASS = 'rr-block'
export const MASK_TEXT_CLASS = 'rr-mask'
const DEFAULT_BLOCK_SELECTOR = '.dv-no-capture, .ph-no-capture'
const DEFAULT_MASK_TEXT_SELECTOR = '.dv-mask'

// rrweb's EventType and IncrementalSource values (kept here to avoid importing rrweb at runtime).
const FULL_SNAPSHOT = 2
const INCREMENTAL_SNAPSHOT = 3
const META = 4
// Mouse move, mouse interaction, scroll, viewport resize, input, touch move, media, drag.
const INTERACTION_SOURCES = new Set([1, 2, 3, 4, 5, 6, 7, 12])

export function isUserInteraction(event: eventWithTime): boolean {
    if (event.type !== INCREMENTAL_SNAPSHOT) {
        return false
    }
    const source = (event.data as { source?: unknown }).source
    return typeof source === 'number' && INTERACTION_SOURCES.has(source)
}

function sameWindow(a: { sessionId: string; windowId: string }, b: { sessionId: string; windowId: string }): boolean {
    return a.sessionId === b.sessionId && a.windowId === b.windowId
}

function joinSelectors(...selectors: (string | null)[]): string {
    return selectors.filter((s): s is string => !!s && s.trim() !== '').join(', ')
}

/** The options given to rrweb's `record()`. */
export function buildRecordOptions(
    options: RecordingOptions,
    emit: (event: eventWithTime) => void,
    plugins: RecordPlugin[],
): RecordOptions {
    return {
        emit,
        maskAllInputs: options.maskAllInputs,
        // Passwords stay masked even when the other inputs are not.
        maskInputOptions: { password: true },
        maskTextClass: MASK_TEXT_CLASS,
        maskTextSelector: joinSelectors(DEFAULT_MASK_TEXT_SELECTOR, options.maskTextSelector),
        blockClass: BLOCK_CLASS,
        blockSelector: joinSelectors(DEFAULT_BLOCK_SELECTOR, options.blockSelector),
        sampling: {
            mousemove: options.sampling.mousemove,
            scroll: options.sampling.scroll,
            input: options.sampling.input,
        },
        inlineStylesheet: true,
        recordCrossOriginIframes: false,
        collectFonts: false,
        plugins,
    }
}

export interface RecorderHooks {
    /** The current session ids; `activity` extends the session. */
    ids(activity: boolean): SessionIds
    distinctId(): string
    /** The page's URL now (null outside a browser). */
    currentUrl(): string | null
    /** Hands a `$snapshot` event to the `/s/` queue, with its JSON size. */
    send(event: CaptureEvent, size: number): void
}

interface Buffer {
    sessionId: string
    windowId: string
    /** The page's URL when the buffer began: a navigation starts a new buffer. */
    url: string | null
    events: eventWithTime[]
    bytes: number
}

export class SessionRecorder {
    private buffer: Buffer | null = null
    /** The session and window the last recorded event belonged to. */
    private current: { sessionId: string; windowId: string } | null = null
    private flushTimer: TimerHandle | null = null
    private stopRecording: (() => void) | null = null
    private snapshotting = false
    /** rrweb has emitted its first full snapshot: before that it refuses custom events. */
    private rrwebReady = false
    private waitingCustomEvents: [string, Record<string, unknown>][] = []
    private readyTimer: TimerHandle | null = null

    constructor(
        private readonly platform: Platform,
        private readonly record: RecordFunction,
        private readonly consolePlugin: ConsolePluginFactory | null,
        private readonly options: RecordingOptions,
        private readonly token: string,
        private readonly hooks: RecorderHooks,
        private readonly newId: () => string,
        private readonly log: Logger,
    ) {}

    get recording(): boolean {
        return this.stopRecording !== null
    }

    /** Starts rrweb; returns false if it could not start. */
    start(): boolean {
        if (this.stopRecording) {
            return true
        }
        const plugins: RecordPlugin[] = []
        if (this.consolePlugin && this.options.consoleLevels.length > 0) {
            plugins.push(this.consolePlugin({ level: this.options.consoleLevels, lengthThreshold: 1000 }))
        }
        try {
            const stop = this.record(buildRecordOptions(this.options, (event) => this.onEmit(event), plugins))
            this.stopRecording = stop ?? (() => {})
            return true
        } catch (error) {
            this.log.warn('session recording could not start', error)
            return false
        }
    }

    stop(): void {
        const stop = this.stopRecording
        this.stopRecording = null
        this.current = null
        this.rrwebReady = false
        this.waitingCustomEvents = []
        if (this.readyTimer !== null) {
            this.platform.clearTimeout(this.readyTimer)
            this.readyTimer = null
        }
        try {
            stop?.()
        } catch (error) {
            this.log.debug('rrweb failed to stop', error)
        }
        this.flush()
    }

    /** The session this tab records changed: close the old one and start the new with a full snapshot. */
    sessionChanged(ids: SessionIds): void {
        if (!this.recording || this.current === null || sameWindow(this.current, ids)) {
            return
        }
        this.flush()
        this.current = { sessionId: ids.sessionId, windowId: ids.windowId }
        this.takeFullSnapshot()
    }

    /** Sends the buffer as one `$snapshot` event (if it holds anything). */
    flush(): void {
        if (this.flushTimer !== null) {
            this.platform.clearTimeout(this.flushTimer)
            this.flushTimer = null
        }
        const buffer = this.buffer
        this.buffer = null
        if (!buffer || buffer.events.length === 0) {
            return
        }
        const distinctId = this.hooks.distinctId()
        const first = buffer.events[0]!
        const event: CaptureEvent = {
            uuid: this.newId(),
            event: '$snapshot',
            distinct_id: distinctId,
            timestamp: new Date(first.timestamp).toISOString(),
            properties: {
                $snapshot_data: buffer.events,
                $session_id: buffer.sessionId,
                $window_id: buffer.windowId,
                // The JSON length of $snapshot_data: the events, their commas and the brackets.
                $snapshot_bytes: buffer.bytes + 1,
                $lib: LIB_NAME,
                $lib_version: VERSION,
                distinct_id: distinctId,
                token: this.token,
            },
        }
        if (buffer.url !== null) {
            // The replay service lists a recording's URLs from this and rrweb's meta events;
            // single-page-app navigations make no meta event.
            event.properties.$current_url = buffer.url
        }
        // The event's own size: its snapshot data plus a few hundred characters of envelope.
        this.hooks.send(event, buffer.bytes + 500)
    }

    /** rrweb's emit callback. */
    onEmit(event: eventWithTime): void {
        let ids: SessionIds
        try {
            ids = this.hooks.ids(isUserInteraction(event))
        } catch (error) {
            this.log.debug('no session for a recording event', error)
            return
        }
        if (this.current !== null && !sameWindow(this.current, ids)) {
            // A new session began (the session listener normally got here first).
            this.flush()
            this.current = { sessionId: ids.sessionId, windowId: ids.windowId }
            if (event.type !== META && event.type !== FULL_SNAPSHOT) {
                this.takeFullSnapshot()
            }
        }
        this.current = { sessionId: ids.sessionId, windowId: ids.windowId }
        let size: number
        try {
            size = JSON.stringify(event).length
        } catch {
            return // circular data from a plugin: not sendable
        }
        const url = this.hooks.currentUrl()
        if (this.buffer && this.buffer.events.length > 0 && (this.buffer.bytes + size > this.options.maxBufferBytes || this.buffer.url !== url)) {
            this.flush()
        }
        if (!this.buffer) {
            this.buffer = { sessionId: ids.sessionId, windowId: ids.windowId, url, events: [], bytes: 0 }
        }
        this.buffer.events.push(event)
        this.buffer.bytes += size + 1 // the comma between events in the JSON array
        if (this.buffer.bytes >= this.options.maxBufferBytes) {
            this.flush()
        } else if (this.flushTimer === null) {
            this.flushTimer = this.platform.setTimeout(() => {
                this.flushTimer = null
                this.flush()
            }, this.options.flushIntervalMs)
        }
        if (event.type === FULL_SNAPSHOT && !this.rrwebReady && this.readyTimer === null) {
            // rrweb counts itself started only once this first snapshot has been emitted.
            this.readyTimer = this.platform.setTimeout(() => {
                this.readyTimer = null
                this.rrwebReady = this.recording
                for (const [tag, payload] of this.waitingCustomEvents.splice(0)) {
                    this.addCustomEvent(tag, payload)
                }
            }, 0)
        }
    }

    /** Adds a custom event to the recording (a `$pageview`, so the player shows navigation). */
    addCustomEvent(tag: string, payload: Record<string, unknown>): void {
        if (!this.recording || typeof this.record.addCustomEvent !== 'function') {
            return
        }
        if (!this.rrwebReady) {
            // rrweb starts at DOMContentLoaded; the first pageview usually comes before.
            this.waitingCustomEvents.push([tag, payload])
            return
        }
        try {
            this.record.addCustomEvent(tag, payload)
        } catch (error) {
            this.log.debug('rrweb could not add a custom event', error)
        }
    }

    private takeFullSnapshot(): void {
        if (this.snapshotting) {
            return
        }
        this.snapshotting = true
        try {
            this.record.takeFullSnapshot(true)
        } catch (error) {
            this.log.debug('rrweb could not take a full snapshot', error)
        } finally {
            this.snapshotting = false
        }
    }
}
