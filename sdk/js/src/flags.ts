/**
 * Feature flags: evaluated by the server (`POST /flags?v=2`), cached in localStorage so that a
 * page load has last visit's values before the request returns, and reported when read: the
 * first read of each (distinct id, flag, value) sends `$feature_flag_called`, which is what
 * experiments count as an exposure.
 */

import { isObject } from './identity'
import type { Logger } from './logger'
import type { Platform } from './platform'
import { readJSON, writeJSON } from './storage'
import type { FeatureFlagsCallback, FlagValue, Properties } from './types'

export interface FlagDetail {
    value: FlagValue
    payload: unknown
    /** Metadata the server sent with it, copied into the exposure event. */
    id?: number
    version?: number
    reason?: string
}

export interface ParsedFlags {
    flags: Record<string, FlagDetail>
    errors: boolean
    requestId: string | null
    /** Keys the server failed to evaluate this time (their old values are kept). */
    failed: string[]
}

/** Who the flags are evaluated for. */
export interface FlagSubject {
    distinct_id: string
    groups: Record<string, string>
    $device_id?: string
}

export type ExposureSender = (properties: Properties) => void

interface CachedFlags {
    flags: Record<string, FlagDetail>
}

const MAX_REPORTED = 1000

/**
 * Reads both of the server's answers: v2 (`flags: {key: {enabled, variant, metadata: {payload}}}`)
 * and the older `featureFlags` / `featureFlagPayloads` maps. Returns null for anything else.
 */
export function parseFlagsResponse(body: unknown): ParsedFlags | null {
    if (!isObject(body)) {
        return null
    }
    const errors = body.errorsWhileComputingFlags === true
    const requestId = typeof body.requestId === 'string' ? body.requestId : null
    const flags: Record<string, FlagDetail> = {}
    const failed: string[] = []
    if (isObject(body.flags)) {
        for (const [key, raw] of Object.entries(body.flags)) {
            if (!isObject(raw)) {
                continue
            }
            if (raw.failed === true) {
                failed.push(key)
                continue
            }
            const enabled = raw.enabled === true
            const variant = typeof raw.variant === 'string' ? raw.variant : null
            const metadata = isObject(raw.metadata) ? raw.metadata : {}
            const reason = isObject(raw.reason) && typeof raw.reason.code === 'string' ? raw.reason.code : undefined
            const detail: FlagDetail = {
                value: enabled ? (variant ?? true) : false,
                payload: enabled ? decodePayload(metadata.payload) : null,
            }
            if (typeof metadata.id === 'number') detail.id = metadata.id
            if (typeof metadata.version === 'number') detail.version = metadata.version
            if (reason !== undefined) detail.reason = reason
            flags[key] = detail
        }
        return { flags, errors, requestId, failed }
    }
    if (isObject(body.featureFlags)) {
        const payloads = isObject(body.featureFlagPayloads) ? body.featureFlagPayloads : {}
        for (const [key, value] of Object.entries(body.featureFlags)) {
            if (typeof value !== 'boolean' && typeof value !== 'string') {
                continue
            }
            flags[key] = { value, payload: value === false ? null : decodePayload(payloads[key]) }
        }
        return { flags, errors, requestId, failed }
    }
    return null
}

/** Payloads travel as JSON text; an object already decoded, or text that isn't JSON, is kept as is. */
function decodePayload(payload: unknown): unknown {
    if (typeof payload !== 'string') {
        return payload ?? null
    }
    try {
        return JSON.parse(payload) as unknown
    } catch {
        return payload
    }
}

export class FeatureFlags {
    private flags: Record<string, FlagDetail> | null = null
    private loadedFromServer = false
    private lastErrors = false
    /** A request has been answered (or has failed) on this page. */
    private settled = false
    private requestSeq = 0
    private reloadQueued = false
    private pendingAnonId: string | null = null
    private personProperties: Properties = {}
    private readonly callbacks: FeatureFlagsCallback[] = []
    private readonly cacheKey: string
    private readonly reportedKey: string
    private reported: string[]

    constructor(
        private readonly platform: Platform,
        private readonly log: Logger,
        private readonly url: string,
        private readonly token: string,
        private readonly subject: () => FlagSubject,
        private readonly sendExposure: ExposureSender,
        private readonly enabled: boolean,
    ) {
        this.cacheKey = `dv_${token}_flags`
        this.reportedKey = `dv_${token}_flag_calls`
        const cached = readJSON<CachedFlags>(platform.local, this.cacheKey)
        if (cached && isObject(cached.flags)) {
            this.flags = cached.flags as Record<string, FlagDetail>
        }
        const reported = readJSON<string[]>(platform.local, this.reportedKey)
        this.reported = Array.isArray(reported) ? reported.filter((r) => typeof r === 'string') : []
        const person = readJSON<Properties>(platform.local, `dv_${token}_flag_person_properties`)
        this.personProperties = isObject(person) ? person : {}
    }

    /** Flags are known (from the server, or cached from an earlier page). */
    get loaded(): boolean {
        return this.flags !== null
    }

    get fromServer(): boolean {
        return this.loadedFromServer
    }

    /**
     * Fetches the flags again. Calls in the same task are merged into one request; a response to
     * an older request than the latest is ignored. `anonDistinctId` goes with the request that
     * follows an identify, so the server can keep the anonymous user's variants.
     */
    reload(anonDistinctId: string | null = null): void {
        if (!this.enabled) {
            return
        }
        if (anonDistinctId !== null) {
            this.pendingAnonId = anonDistinctId
        }
        if (this.reloadQueued) {
            return
        }
        this.reloadQueued = true
        this.platform.setTimeout(() => {
            this.reloadQueued = false
            const anon = this.pendingAnonId
            this.pendingAnonId = null
            void this.fetchFlags(anon)
        }, 0)
    }

    private async fetchFlags(anonDistinctId: string | null): Promise<void> {
        const seq = ++this.requestSeq
        const subject = this.subject()
        const body: Properties = { token: this.token, distinct_id: subject.distinct_id, groups: subject.groups }
        if (subject.$device_id) body.$device_id = subject.$device_id
        if (Object.keys(this.personProperties).length > 0) body.person_properties = this.personProperties
        if (anonDistinctId !== null) body.$anon_distinct_id = anonDistinctId
        let parsed: ParsedFlags | null = null
        try {
            const response = await this.platform.fetch(this.url, {
                method: 'POST',
                headers: { 'Content-Type': 'text/plain' },
                body: JSON.stringify(body),
            })
            const text = await response.text()
            if (response.status >= 200 && response.status < 300) {
                parsed = parseFlagsResponse(JSON.parse(text) as unknown)
            } else {
                this.log.warn(`feature flags: HTTP ${response.status}`)
            }
        } catch (error) {
            this.log.debug('feature flags: request failed', error)
        }
        if (seq !== this.requestSeq) {
            return // a newer request is on its way
        }
        this.settled = true
        if (parsed === null) {
            // Keep what we had; tell waiting callers that loading failed.
            this.lastErrors = true
            this.notify()
            return
        }
        const next = { ...parsed.flags }
        if (parsed.errors && this.flags) {
            for (const key of parsed.failed) {
                const old = this.flags[key]
                if (old) next[key] = old
            }
        }
        this.flags = next
        this.loadedFromServer = true
        this.lastErrors = parsed.errors
        writeJSON(this.platform.local, this.cacheKey, { flags: next } satisfies CachedFlags)
        this.notify()
    }

    /** A flag's value, or undefined when flags are not loaded or the flag is unknown. */
    getFlag(key: string, sendEvent = true): FlagValue | undefined {
        const detail = this.flags?.[key]
        if (!detail) {
            return undefined
        }
        if (sendEvent) {
            this.reportExposure(key, detail)
        }
        return detail.value
    }

    getPayload(key: string): unknown {
        const detail = this.flags?.[key]
        return detail ? detail.payload : undefined
    }

    isEnabled(key: string, sendEvent = true): boolean | undefined {
        const value = this.getFlag(key, sendEvent)
        return value === undefined ? undefined : value !== false
    }

    /** The values of every known flag. */
    all(): Record<string, FlagValue> {
        const out: Record<string, FlagValue> = {}
        for (const [key, detail] of Object.entries(this.flags ?? {})) {
            out[key] = detail.value
        }
        return out
    }

    /**
     * Calls `callback` on every load from now on, and at once if flags are known already (or
     * loading them has failed, so that nobody waits forever).
     */
    onFlags(callback: FeatureFlagsCallback): () => void {
        this.callbacks.push(callback)
        if (this.flags !== null || this.settled) {
            this.call(callback)
        }
        return () => {
            const index = this.callbacks.indexOf(callback)
            if (index >= 0) this.callbacks.splice(index, 1)
        }
    }

    /** Person properties the server should evaluate with (it may not have stored them yet). */
    setPersonProperties(properties: Properties): void {
        this.personProperties = { ...this.personProperties, ...properties }
        writeJSON(this.platform.local, `dv_${this.token}_flag_person_properties`, this.personProperties)
    }

    /** Forgets the cached flags and person properties (the user logged out). */
    reset(): void {
        this.flags = null
        this.loadedFromServer = false
        this.settled = false
        this.personProperties = {}
        this.requestSeq++ // ignore answers about the previous user
        this.platform.local.remove(this.cacheKey)
        this.platform.local.remove(`dv_${this.token}_flag_person_properties`)
    }

    private reportExposure(key: string, detail: FlagDetail): void {
        const distinctId = this.subject().distinct_id
        const mark = JSON.stringify([distinctId, key, detail.value])
        if (this.reported.includes(mark)) {
            return
        }
        this.reported.push(mark)
        if (this.reported.length > MAX_REPORTED) {
            this.reported.splice(0, this.reported.length - MAX_REPORTED)
        }
        writeJSON(this.platform.local, this.reportedKey, this.reported)
        const properties: Properties = { $feature_flag: key, $feature_flag_response: detail.value }
        if (detail.payload !== null && detail.payload !== undefined) properties.$feature_flag_payload = detail.payload
        if (detail.id !== undefined) properties.$feature_flag_id = detail.id
        if (detail.version !== undefined) properties.$feature_flag_version = detail.version
        if (detail.reason !== undefined) properties.$feature_flag_reason = detail.reason
        this.sendExposure(properties)
    }

    private notify(): void {
        for (const callback of [...this.callbacks]) {
            this.call(callback)
        }
    }

    private call(callback: FeatureFlagsCallback): void {
        const variants = this.all()
        const enabled = Object.keys(variants).filter((k) => variants[k] !== false)
        try {
            callback(enabled, variants, { errorsLoading: this.lastErrors })
        } catch (error) {
            this.log.warn('an onFeatureFlags callback threw', error)
        }
    }
}
