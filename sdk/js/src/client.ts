/**
 * The SDK object behind `window.devflow`: composes identity, session, queues, flags, autocapture
 * and recording, and holds the public API (named as posthog-js names it).
 */

import { Autocapture } from './autocapture'
import { type Config, type DevFlowOptions, resolveConfig } from './config'
import { FeatureFlags } from './flags'
import { Identity, isObject } from './identity'
import { consoleLogger, type Logger } from './logger'
import { PageviewTracker } from './pageviews'
import { browserPlatform, type Platform } from './platform'
import { pageProperties } from './properties'
import { BatchQueue } from './queue'
import { type ConsolePluginFactory, type RecordFunction, SessionRecorder } from './recorder'
import { SessionManager } from './session'
import { MemoryStore } from './storage'
import { Transport } from './transport'
import type { CaptureEvent, CaptureOptions, FeatureFlagsCallback, FlagValue, Properties } from './types'
import { UUIDv7Generator } from './uuid'

/** What the SDK runs on; every part may be replaced (tests do). */
export interface Environment {
    /** Default: the browser's (`browserPlatform()`), made at `init`. */
    platform?: Platform
    /** rrweb's `record`; without it there is no session recording. */
    record?: RecordFunction | null
    /** rrweb's console plugin factory. */
    consolePlugin?: ConsolePluginFactory | null
    logger?: Logger
}

interface Parts {
    config: Config
    platform: Platform
    log: Logger
    newId: () => string
    identity: Identity
    session: SessionManager
    events: BatchQueue
    snapshots: BatchQueue
    flags: FeatureFlags
    recorder: SessionRecorder | null
    pageviews: PageviewTracker | null
    autocapture: Autocapture | null
}

function validDate(value: unknown): string | null {
    return value instanceof Date && !Number.isNaN(value.getTime()) ? value.toISOString() : null
}

const EVENTS_STORED_BYTES = 1_000_000
const SNAPSHOTS_STORED_BYTES = 2_000_000

export class DevFlow {
    private parts: Parts | null = null
    private readonly earlyFlagCallbacks: FeatureFlagsCallback[] = []

    constructor(private readonly env: Environment = {}) {}

    /** Starts the SDK for a project. Calls before `init` do nothing; a second `init` is ignored. */
    init(token: string, options: DevFlowOptions = {}): this {
        if (this.parts) {
            this.logger().warn('init was called more than once; the first call wins')
            return this
        }
        if (typeof token !== 'string' || token.trim() === '') {
            this.logger().warn('init needs the project token')
            return this
        }
        if (!this.env.platform && typeof window === 'undefined') {
            this.logger().warn('init outside a browser needs a platform (see Environment)')
            return this
        }
        const base = this.env.platform ?? browserPlatform()
        const win = base.window
        const config = resolveConfig(token, options, win?.location?.origin ?? null)
        const platform: Platform =
            config.persistence === 'memory' ? { ...base, local: new MemoryStore(), session: new MemoryStore() } : base
        const log = this.env.logger ?? consoleLogger(config.debug)
        const uuids = new UUIDv7Generator(() => platform.now(), (n) => platform.randomBytes(n))
        const newId = (): string => uuids.next()
        const identity = new Identity(platform.local, token, newId)
        const session = new SessionManager(platform, token, newId, config.idleTimeoutMs)
        const transport = new Transport(platform, log, config.compress)
        const events = new BatchQueue(platform, transport, log, {
            name: 'events',
            url: `${config.apiHost}/batch/`,
            token,
            storageKey: `dv_${token}_retry_events`,
            flushIntervalMs: config.flushIntervalMs,
            maxBatchEvents: config.flushAt,
            maxBatchBytes: 500_000,
            maxStoredBytes: EVENTS_STORED_BYTES,
            persistInFlight: true,
            keepalive: true,
            retryBaseMs: 2000,
            retryMaxMs: 5 * 60_000,
        }, newId)
        const snapshots = new BatchQueue(platform, transport, log, {
            name: 'recordings',
            url: `${config.apiHost}/s/`,
            token,
            storageKey: `dv_${token}_retry_snapshots`,
            // The recorder already buffers for two seconds.
            flushIntervalMs: 100,
            maxBatchEvents: 10,
            maxBatchBytes: 2_000_000,
            maxStoredBytes: SNAPSHOTS_STORED_BYTES,
            persistInFlight: false,
            keepalive: false,
            retryBaseMs: 2000,
            retryMaxMs: 5 * 60_000,
        }, newId)
        const flags = new FeatureFlags(
            platform,
            log,
            `${config.apiHost}/flags?v=2`,
            token,
            () => ({ distinct_id: identity.distinctId, groups: identity.groups, $device_id: identity.deviceId }),
            (properties) => {
                this.capture('$feature_flag_called', properties)
            },
            config.featureFlags,
        )
        const recorder = this.env.record
            ? new SessionRecorder(
                  platform,
                  this.env.record,
                  this.env.consolePlugin ?? null,
                  config.recordingOptions,
                  token,
                  {
                      ids: (activity) => session.ids(activity),
                      distinctId: () => identity.distinctId,
                      currentUrl: () => win?.location?.href ?? null,
                      send: (event, size) => snapshots.enqueue(event, size),
                  },
                  newId,
                  log,
              )
            : null
        session.onChange((ids) => recorder?.sessionChanged(ids))
        const parts: Parts = {
            config,
            platform,
            log,
            newId,
            identity,
            session,
            events,
            snapshots,
            flags,
            recorder,
            pageviews: win && config.capturePageview ? new PageviewTracker(win, () => platform.now(), (e, p) => this.capture(e, p)) : null,
            autocapture: win && config.autocapture ? new Autocapture(win, (e, p) => this.capture(e, p)) : null,
        }
        this.parts = parts
        for (const callback of this.earlyFlagCallbacks.splice(0)) {
            flags.onFlags(callback)
        }
        events.start()
        snapshots.start()
        if (win) {
            this.listen(win, parts)
        }
        flags.reload()
        // Recording first, so that the first pageview is in it too.
        if (config.recording && recorder) {
            recorder.start()
        }
        parts.pageviews?.start(true)
        parts.autocapture?.start()
        log.debug('initialised', { token, api_host: config.apiHost, distinct_id: identity.distinctId })
        try {
            options.loaded?.(this)
        } catch (error) {
            log.warn('the loaded callback threw', error)
        }
        return this
    }

    /** Queues an event; returns it as it will be sent (undefined if it was not queued). */
    capture(event: string, properties: Properties = {}, options: CaptureOptions = {}): CaptureEvent | undefined {
        const p = this.parts
        if (!p) {
            this.logger().warn(`capture("${String(event)}") before init: ignored`)
            return undefined
        }
        if (typeof event !== 'string' || event === '') {
            p.log.warn('capture needs an event name')
            return undefined
        }
        const ids = p.session.ids(true)
        const groups = p.identity.groups
        const props: Properties = {
            ...pageProperties(p.platform.window),
            ...this.flagProperties(p),
            ...p.identity.superProperties,
            ...(isObject(properties) ? properties : {}),
            token: p.config.token,
            distinct_id: p.identity.distinctId,
            $device_id: p.identity.deviceId,
            $is_identified: p.identity.isIdentified,
            $session_id: ids.sessionId,
            $window_id: ids.windowId,
        }
        if (Object.keys(groups).length > 0) {
            props.$groups = groups
        }
        const captured: CaptureEvent = {
            uuid: p.newId(),
            event,
            distinct_id: p.identity.distinctId,
            properties: props,
            timestamp: validDate(options.timestamp) ?? new Date(p.platform.now()).toISOString(),
        }
        if (isObject(options.$set)) captured.$set = options.$set
        if (isObject(options.$set_once)) captured.$set_once = options.$set_once
        try {
            p.events.enqueue(captured)
        } catch (error) {
            // JSON.stringify throws on cycles and BigInt: such properties can't be sent.
            p.log.warn(`capture("${event}"): the properties can't be serialised`, error)
            return undefined
        }
        if (event === '$pageview') {
            p.recorder?.addCustomEvent('$pageview', { href: props.$current_url, title: props.title })
        }
        return captured
    }

    /**
     * Says who the user is. From an anonymous user this sends `$identify` (with
     * `$anon_distinct_id`), so the server merges the two; `$set` / `$set_once` update the person.
     */
    identify(distinctId: string, $set?: Properties, $set_once?: Properties): void {
        const p = this.parts
        if (!p) {
            this.logger().warn('identify before init: ignored')
            return
        }
        if (typeof distinctId !== 'string' || distinctId.trim() === '') {
            p.log.warn('identify needs a non-empty distinct id')
            return
        }
        if (isObject($set)) {
            p.flags.setPersonProperties($set)
        }
        const result = p.identity.identify(distinctId)
        const personUpdate: CaptureOptions = {}
        if (isObject($set)) personUpdate.$set = $set
        if (isObject($set_once)) personUpdate.$set_once = $set_once
        if (result.anonDistinctId !== null) {
            this.capture('$identify', { $anon_distinct_id: result.anonDistinctId }, personUpdate)
            p.flags.reload(result.anonDistinctId)
            return
        }
        if (personUpdate.$set || personUpdate.$set_once) {
            this.capture('$set', { ...personUpdate }, personUpdate)
        }
        if (result.changed) {
            p.flags.reload()
        }
    }

    /** Links `alias` to the current distinct id (`$create_alias`). */
    alias(alias: string): void {
        const p = this.parts
        if (!p) {
            this.logger().warn('alias before init: ignored')
            return
        }
        if (typeof alias !== 'string' || alias === '' || alias === p.identity.distinctId) {
            p.log.warn('alias needs an id other than the current distinct id')
            return
        }
        this.capture('$create_alias', { alias, distinct_id: p.identity.distinctId })
    }

    /** Puts the user in a group; following events carry it in `$groups`. */
    group(groupType: string, groupKey: string, groupProperties?: Properties): void {
        const p = this.parts
        if (!p) {
            this.logger().warn('group before init: ignored')
            return
        }
        if (!groupType || groupKey === undefined || groupKey === null || String(groupKey) === '') {
            p.log.warn('group needs a type and a key')
            return
        }
        const key = String(groupKey)
        const changed = p.identity.setGroup(groupType, key)
        if (changed || groupProperties) {
            this.capture('$groupidentify', {
                $group_type: groupType,
                $group_key: key,
                $group_set: isObject(groupProperties) ? groupProperties : {},
            })
        }
        if (changed) {
            p.flags.reload()
        }
    }

    /** Forgets the user (log out): new anonymous id, no super properties or groups, a new session. */
    reset(resetDeviceId = false): void {
        const p = this.parts
        if (!p) return
        // What was recorded so far belongs to the user being forgotten.
        p.recorder?.flush()
        p.identity.reset(resetDeviceId)
        p.flags.reset()
        p.session.reset()
        p.session.ids(false) // starts the new session now, with a new full snapshot
        p.flags.reload()
    }

    /** Super properties: sent with every event from now on, kept across page loads. */
    register(properties: Properties): void {
        if (this.parts && isObject(properties)) this.parts.identity.register(properties)
    }

    unregister(key: string): void {
        this.parts?.identity.unregister(key)
    }

    get_distinct_id(): string | undefined {
        return this.parts?.identity.distinctId
    }

    get_session_id(): string | undefined {
        return this.parts?.session.ids(false).sessionId
    }

    /** On or off; undefined until flags are loaded or for an unknown flag. Sends an exposure. */
    isFeatureEnabled(key: string, options: { send_event?: boolean } = {}): boolean | undefined {
        return this.parts?.flags.isEnabled(key, options.send_event !== false)
    }

    /** `true`/`false` or the variant; undefined until flags are loaded or for an unknown flag. */
    getFeatureFlag(key: string, options: { send_event?: boolean } = {}): FlagValue | undefined {
        return this.parts?.flags.getFlag(key, options.send_event !== false)
    }

    getFeatureFlagPayload(key: string): unknown {
        return this.parts?.flags.getPayload(key)
    }

    /** Calls back whenever flags load, and at once when they are known already. Returns an unsubscribe function. */
    onFeatureFlags(callback: FeatureFlagsCallback): () => void {
        if (this.parts) {
            return this.parts.flags.onFlags(callback)
        }
        this.earlyFlagCallbacks.push(callback)
        return () => {
            const index = this.earlyFlagCallbacks.indexOf(callback)
            if (index >= 0) this.earlyFlagCallbacks.splice(index, 1)
        }
    }

    reloadFeatureFlags(): void {
        this.parts?.flags.reload()
    }

    /** Person properties to evaluate flags with before the server has them; reloads flags. */
    setPersonPropertiesForFlags(properties: Properties, reload = true): void {
        if (!this.parts || !isObject(properties)) return
        this.parts.flags.setPersonProperties(properties)
        if (reload) this.parts.flags.reload()
    }

    startSessionRecording(): void {
        this.parts?.recorder?.start()
    }

    stopSessionRecording(): void {
        this.parts?.recorder?.stop()
    }

    /** Sends everything pending now (events and recording); resolves when the requests are done. */
    async flush(): Promise<void> {
        const p = this.parts
        if (!p) return
        p.recorder?.flush()
        await Promise.all([p.events.flush(), p.snapshots.flush()])
    }

    private flagProperties(p: Parts): Properties {
        if (!p.flags.loaded) {
            return {}
        }
        const all = p.flags.all()
        const props: Properties = { $active_feature_flags: Object.keys(all).filter((k) => all[k] !== false) }
        for (const [key, value] of Object.entries(all)) {
            props[`$feature/${key}`] = value
        }
        return props
    }

    private listen(win: Window, p: Parts): void {
        const sendEverything = (): void => {
            p.recorder?.flush()
            p.events.unload()
            p.snapshots.unload()
        }
        win.addEventListener('pagehide', () => {
            if (p.config.capturePageleave) {
                p.pageviews?.pageleave()
            }
            sendEverything()
            p.session.pageUnloading()
        })
        win.addEventListener('pageshow', (event) => {
            if ((event as PageTransitionEvent).persisted) {
                p.session.pageShown() // back from the back/forward cache
            }
        })
        win.document?.addEventListener('visibilitychange', () => {
            if (win.document.visibilityState === 'hidden') {
                sendEverything()
            }
        })
        win.addEventListener('online', () => {
            void p.events.retryNow()
            void p.snapshots.retryNow()
        })
    }

    private logger(): Logger {
        return this.parts?.log ?? this.env.logger ?? consoleLogger(false)
    }
}
