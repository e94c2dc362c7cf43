/**
 * Who the events are about, persisted in localStorage: the distinct id (an anonymous UUIDv7 until
 * `identify`), the device id (the first anonymous id, kept across `reset` unless asked), super
 * properties sent with every event, and the groups the user is in.
 */

import type { KeyValueStore } from './storage'
import { readJSON, writeJSON } from './storage'
import type { Properties } from './types'

interface IdentityState {
    distinct_id: string
    device_id: string
    user_state: 'anonymous' | 'identified'
    super_properties: Properties
    groups: Record<string, string>
}

export interface IdentifyResult {
    /** The distinct id changed. */
    changed: boolean
    /** The anonymous id the user had, when this call identified an anonymous user. */
    anonDistinctId: string | null
}

export class Identity {
    private readonly key: string
    private state: IdentityState

    constructor(
        private readonly store: KeyValueStore,
        token: string,
        private readonly newId: () => string,
    ) {
        this.key = `dv_${token}_identity`
        this.state = this.load() ?? this.fresh(null)
        this.save()
    }

    get distinctId(): string {
        return this.state.distinct_id
    }

    get deviceId(): string {
        return this.state.device_id
    }

    get isIdentified(): boolean {
        return this.state.user_state === 'identified'
    }

    get superProperties(): Properties {
        return { ...this.state.super_properties }
    }

    get groups(): Record<string, string> {
        return { ...this.state.groups }
    }

    identify(distinctId: string): IdentifyResult {
        const previous = this.state.distinct_id
        if (distinctId === previous) {
            return { changed: false, anonDistinctId: null }
        }
        const wasAnonymous = this.state.user_state === 'anonymous'
        this.state = { ...this.state, distinct_id: distinctId, user_state: 'identified' }
        this.save()
        return { changed: true, anonDistinctId: wasAnonymous ? previous : null }
    }

    register(properties: Properties): void {
        this.state = { ...this.state, super_properties: { ...this.state.super_properties, ...properties } }
        this.save()
    }

    unregister(key: string): void {
        const rest = { ...this.state.super_properties }
        delete rest[key]
        this.state = { ...this.state, super_properties: rest }
        this.save()
    }

    /** Returns true when the group key for this type changed. */
    setGroup(groupType: string, groupKey: string): boolean {
        if (this.state.groups[groupType] === groupKey) {
            return false
        }
        this.state = { ...this.state, groups: { ...this.state.groups, [groupType]: groupKey } }
        this.save()
        return true
    }

    /** Forgets the user: new anonymous id, no super properties, no groups. */
    reset(resetDeviceId = false): void {
        this.state = this.fresh(resetDeviceId ? null : this.state.device_id)
        this.save()
    }

    private fresh(deviceId: string | null): IdentityState {
        const id = this.newId()
        return {
            distinct_id: id,
            device_id: deviceId ?? id,
            user_state: 'anonymous',
            super_properties: {},
            groups: {},
        }
    }

    private load(): IdentityState | null {
        const stored = readJSON<Partial<IdentityState>>(this.store, this.key)
        if (!stored || typeof stored.distinct_id !== 'string' || !stored.distinct_id) {
            return null
        }
        return {
            distinct_id: stored.distinct_id,
            device_id: typeof stored.device_id === 'string' ? stored.device_id : stored.distinct_id,
            user_state: stored.user_state === 'identified' ? 'identified' : 'anonymous',
            super_properties: isObject(stored.super_properties) ? stored.super_properties : {},
            groups: isStringMap(stored.groups) ? stored.groups : {},
        }
    }

    private save(): void {
        writeJSON(this.store, this.key, this.state)
    }
}

export function isObject(value: unknown): value is Properties {
    return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isStringMap(value: unknown): value is Record<string, string> {
    return isObject(value) && Object.values(value).every((v) => typeof v === 'string')
}
