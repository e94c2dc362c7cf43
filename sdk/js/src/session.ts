/**
 * Session and window ids, PostHog's way.
 *
 * A session is shared by the tabs of one browser (its state is in localStorage) and ends after
 * `idleTimeoutMs` without activity or `maxLengthMs` after it began; the next id asked for then
 * starts a new one. A window id names one tab (sessionStorage) and changes with the session.
 * Activity is what the caller says it is: captured events and user interaction in the recording.
 * Reads that are not activity (a DOM mutation in the recording) never extend a session and only
 * end it once it is past its maximum length, so an idle page does not keep making sessions.
 */

import type { Platform } from './platform'
import { readJSON, writeJSON } from './storage'

export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60 * 1000
export const MAX_SESSION_LENGTH_MS = 24 * 60 * 60 * 1000
// Activity is written at most this often; the timeouts are minutes, so a second is precise enough.
const ACTIVITY_WRITE_INTERVAL_MS = 1000

export interface SessionIds {
    sessionId: string
    windowId: string
    /** When the session began (ms). */
    sessionStartedAt: number
}

interface StoredSession {
    id: string
    start: number
    last: number
}

export type SessionListener = (ids: SessionIds, previous: SessionIds | null) => void

export class SessionManager {
    private readonly sessionKey: string
    private readonly windowKey: string
    private readonly primaryKey: string
    private windowId: string | null = null
    private readonly listeners: SessionListener[] = []
    private lastSeen: SessionIds | null = null

    constructor(
        private readonly platform: Platform,
        token: string,
        private readonly newId: () => string,
        private readonly idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS,
        private readonly maxLengthMs = MAX_SESSION_LENGTH_MS,
    ) {
        this.sessionKey = `dv_${token}_session`
        this.windowKey = `dv_${token}_window_id`
        this.primaryKey = `dv_${token}_primary_window`
        this.windowId = this.restoreWindowId()
    }

    /**
     * The current ids, starting a new session when the old one has ended. `activity` marks the
     * session as active now (extending it).
     */
    ids(activity: boolean): SessionIds {
        const now = this.platform.now()
        let stored = readJSON<StoredSession>(this.platform.local, this.sessionKey)
        const valid = stored !== null && typeof stored.id === 'string' && typeof stored.start === 'number'
        const idle = valid && activity && now - stored!.last > this.idleTimeoutMs
        const tooLong = valid && now - stored!.start > this.maxLengthMs
        if (!valid || idle || tooLong) {
            stored = { id: this.newId(), start: now, last: now }
            this.windowId = null
            writeJSON(this.platform.local, this.sessionKey, stored)
        } else if (activity && now - stored!.last >= ACTIVITY_WRITE_INTERVAL_MS) {
            stored = { ...stored!, last: now }
            writeJSON(this.platform.local, this.sessionKey, stored)
        }
        const session = stored!
        if (this.windowId === null || (this.lastSeen !== null && this.lastSeen.sessionId !== session.id)) {
            // A new session gets a new window id, whichever tab started it.
            this.windowId = this.newId()
            this.platform.session.set(this.windowKey, this.windowId)
        }
        const ids: SessionIds = { sessionId: session.id, windowId: this.windowId, sessionStartedAt: session.start }
        const previous = this.lastSeen
        this.lastSeen = ids
        if (previous === null || previous.sessionId !== ids.sessionId) {
            for (const listener of this.listeners) {
                listener(ids, previous)
            }
        }
        return ids
    }

    /** Calls `listener` whenever the session id this tab sees changes (including the first). */
    onChange(listener: SessionListener): void {
        this.listeners.push(listener)
    }

    /** Ends the session now; the next `ids()` starts a new one. */
    reset(): void {
        this.platform.local.remove(this.sessionKey)
        this.windowId = null
    }

    /** The tab is going away: a reload of it keeps its window id, a duplicate of it does not. */
    pageUnloading(): void {
        this.platform.session.remove(this.primaryKey)
    }

    /** The page came back from the back/forward cache: it is this tab's live page again. */
    pageShown(): void {
        this.platform.session.set(this.primaryKey, '1')
    }

    private restoreWindowId(): string | null {
        const stored = this.platform.session.get(this.windowKey)
        // sessionStorage is copied into a duplicated tab. The flag is cleared when a page unloads,
        // so finding it set means another live tab owns this window id.
        const duplicated = this.platform.session.get(this.primaryKey) !== null
        this.platform.session.set(this.primaryKey, '1')
        return stored !== null && !duplicated ? stored : null
    }
}
