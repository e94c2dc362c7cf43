import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DevFlow } from '../src/client'
import { parseFlagsResponse } from '../src/flags'
import { MemoryStore } from '../src/storage'
import type { FlagValue } from '../src/types'
import { type TestPlatform, silent, testPlatform, v2Flag } from './helpers'

const HOST = 'https://analytics.test'

function start(platform: TestPlatform): DevFlow {
    const devflow = new DevFlow({ platform, logger: silent, record: null })
    devflow.init('phc_test', { api_host: HOST, capture_pageview: false })
    return devflow
}

function serve(platform: TestPlatform): void {
    platform.server.flags = {
        'new-ui': v2Flag('new-ui', true, null, { color: 'blue' }),
        checkout: v2Flag('checkout', true, 'test'),
        legacy: v2Flag('legacy', false),
    }
}

const exposures = (platform: TestPlatform) =>
    platform.server.events().filter((e) => e.event === '$feature_flag_called').map((e) => [e.distinct_id, e.properties.$feature_flag, e.properties.$feature_flag_response])

test('the v2 response of services/flags is read: values, variants and JSON payloads', () => {
    const parsed = parseFlagsResponse({
        flags: {
            'new-ui': v2Flag('new-ui', true, null, { color: 'blue' }),
            checkout: v2Flag('checkout', true, 'test', 'plain'),
            legacy: v2Flag('legacy', false),
            broken: { ...v2Flag('broken', false), failed: true },
        },
        errorsWhileComputingFlags: true,
        requestId: 'req-9',
    })!
    assert.deepEqual(parsed.flags['new-ui'], { value: true, payload: { color: 'blue' }, id: 7, version: 3, reason: 'condition_match' })
    assert.equal(parsed.flags.checkout!.value, 'test')
    assert.equal(parsed.flags.checkout!.payload, 'plain')
    assert.equal(parsed.flags.legacy!.value, false)
    assert.equal(parsed.flags.legacy!.payload, null)
    assert.equal('broken' in parsed.flags, false)
    assert.deepEqual(parsed.failed, ['broken'])
    assert.equal(parsed.errors, true)
    assert.equal(parsed.requestId, 'req-9')
})

test('the older featureFlags / featureFlagPayloads response is read too', () => {
    const parsed = parseFlagsResponse({
        featureFlags: { a: true, b: 'control', c: false },
        featureFlagPayloads: { a: '{"n": 1}', b: { already: 'decoded' } },
        errorsWhileComputingFlags: false,
    })!
    assert.deepEqual(
        Object.fromEntries(Object.entries(parsed.flags).map(([k, v]) => [k, [v.value, v.payload]])),
        { a: [true, { n: 1 }], b: ['control', { already: 'decoded' }], c: [false, null] },
    )
    assert.equal(parseFlagsResponse({ hello: 'world' }), null)
    assert.equal(parseFlagsResponse('nope'), null)
})

test('flags are requested at init with the token, distinct id and groups', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    await platform.clock.advance(0)
    const [request] = platform.server.to('/flags')
    assert.equal(request!.url, `${HOST}/flags?v=2`)
    assert.deepEqual(request!.json(), {
        token: 'phc_test',
        distinct_id: devflow.get_distinct_id(),
        groups: {},
        $device_id: devflow.get_distinct_id(),
    })
})

test('identify and group reload flags; identify sends $anon_distinct_id and person properties', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    await platform.clock.advance(0)
    const anon = devflow.get_distinct_id()
    devflow.identify('user-42', { plan: 'pro' })
    await platform.clock.advance(0)
    devflow.group('company', 'acme')
    await platform.clock.advance(0)
    const bodies = platform.server.to('/flags').map((r) => r.json())
    assert.equal(bodies.length, 3)
    assert.equal(bodies[1].distinct_id, 'user-42')
    assert.equal(bodies[1].$anon_distinct_id, anon)
    assert.deepEqual(bodies[1].person_properties, { plan: 'pro' })
    assert.deepEqual(bodies[2].groups, { company: 'acme' })
    assert.equal('$anon_distinct_id' in bodies[2], false)
})

test('reading flags returns values and payloads; each (user, flag, value) is reported once', async () => {
    const platform = testPlatform()
    serve(platform)
    const devflow = start(platform)
    assert.equal(devflow.getFeatureFlag('checkout'), undefined, 'not loaded yet')
    await platform.clock.advance(0)
    const anon = devflow.get_distinct_id()
    assert.equal(devflow.getFeatureFlag('checkout'), 'test')
    assert.equal(devflow.getFeatureFlag('checkout'), 'test')
    assert.equal(devflow.isFeatureEnabled('checkout'), true)
    assert.equal(devflow.isFeatureEnabled('new-ui'), true)
    assert.equal(devflow.isFeatureEnabled('legacy'), false)
    assert.equal(devflow.isFeatureEnabled('unknown'), undefined)
    assert.equal(devflow.getFeatureFlag('new-ui', { send_event: false }), true)
    assert.deepEqual(devflow.getFeatureFlagPayload('new-ui'), { color: 'blue' })
    devflow.identify('user-42')
    await platform.clock.advance(0)
    devflow.getFeatureFlag('checkout')
    await platform.clock.advance(1000)
    assert.deepEqual(exposures(platform), [
        [anon, 'checkout', 'test'],
        [anon, 'new-ui', true],
        [anon, 'legacy', false],
        ['user-42', 'checkout', 'test'],
    ])
    const called = platform.server.events().find((e) => e.event === '$feature_flag_called')
    assert.equal(called.properties.$feature_flag_id, 7)
    assert.equal(called.properties.$feature_flag_version, 3)
    assert.equal(called.properties.$feature_flag_reason, 'condition_match')
})

test('a changed value is reported again', async () => {
    const platform = testPlatform()
    serve(platform)
    const devflow = start(platform)
    await platform.clock.advance(0)
    devflow.getFeatureFlag('checkout')
    platform.server.flags = { checkout: v2Flag('checkout', true, 'control') }
    devflow.reloadFeatureFlags()
    await platform.clock.advance(0)
    devflow.getFeatureFlag('checkout')
    devflow.getFeatureFlag('checkout')
    await platform.clock.advance(1000)
    assert.deepEqual(exposures(platform).map((e) => e[2]), ['test', 'control'])
})

test('events carry the active flags as $feature/<key> and $active_feature_flags', async () => {
    const platform = testPlatform()
    serve(platform)
    const devflow = start(platform)
    await platform.clock.advance(0)
    const event = devflow.capture('x')!
    assert.equal(event.properties['$feature/checkout'], 'test')
    assert.equal(event.properties['$feature/legacy'], false)
    assert.deepEqual(event.properties.$active_feature_flags, ['new-ui', 'checkout'])
})

test('onFeatureFlags is called when flags load, and at once when they are loaded already', async () => {
    const platform = testPlatform()
    serve(platform)
    const devflow = start(platform)
    const calls: [string[], Record<string, FlagValue>, boolean][] = []
    devflow.onFeatureFlags((flags, variants, { errorsLoading }) => calls.push([flags, variants, errorsLoading]))
    assert.equal(calls.length, 0)
    await platform.clock.advance(0)
    assert.deepEqual(calls, [[['new-ui', 'checkout'], { 'new-ui': true, checkout: 'test', legacy: false }, false]])
    let late = 0
    const unsubscribe = devflow.onFeatureFlags(() => late++)
    assert.equal(late, 1)
    unsubscribe()
    devflow.reloadFeatureFlags()
    await platform.clock.advance(0)
    assert.equal(calls.length, 2)
    assert.equal(late, 1)
})

test('flags cached by an earlier page are there before the request returns', async () => {
    const local = new MemoryStore()
    const first = testPlatform({ local })
    serve(first)
    start(first)
    await first.clock.advance(0)

    const second = testPlatform({ local })
    second.server.handler = () => ({ status: 503 })
    const devflow = start(second)
    assert.equal(devflow.getFeatureFlag('checkout', { send_event: false }), 'test')
    let called = 0
    devflow.onFeatureFlags(() => called++)
    assert.equal(called, 1)
    await second.clock.advance(0)
    assert.equal(devflow.getFeatureFlag('checkout', { send_event: false }), 'test', 'a failed reload keeps the cache')
})

test('a failed first load still calls back, with errorsLoading', async () => {
    const platform = testPlatform()
    platform.server.handler = () => 'network-error'
    const devflow = start(platform)
    const seen: boolean[] = []
    devflow.onFeatureFlags((_flags, _variants, { errorsLoading }) => seen.push(errorsLoading))
    await platform.clock.advance(0)
    assert.deepEqual(seen, [true])
    devflow.onFeatureFlags((_flags, _variants, { errorsLoading }) => seen.push(errorsLoading))
    assert.deepEqual(seen, [true, true])
})

test('flags the server failed to evaluate keep their previous values', async () => {
    const platform = testPlatform()
    serve(platform)
    const devflow = start(platform)
    await platform.clock.advance(0)
    platform.server.handler = () => ({
        status: 200,
        body: JSON.stringify({
            flags: { checkout: { ...v2Flag('checkout', false), failed: true }, 'new-ui': v2Flag('new-ui', false) },
            errorsWhileComputingFlags: true,
            requestId: 'r2',
        }),
    })
    devflow.reloadFeatureFlags()
    await platform.clock.advance(0)
    assert.equal(devflow.getFeatureFlag('checkout', { send_event: false }), 'test')
    assert.equal(devflow.getFeatureFlag('new-ui', { send_event: false }), false)
})

test('reset drops the cached flags and loads them for the new anonymous user', async () => {
    const platform = testPlatform()
    serve(platform)
    const devflow = start(platform)
    await platform.clock.advance(0)
    devflow.identify('user-42')
    await platform.clock.advance(0)
    devflow.reset()
    assert.equal(devflow.getFeatureFlag('checkout'), undefined)
    await platform.clock.advance(0)
    const last = platform.server.to('/flags').at(-1)!.json()
    assert.equal(last.distinct_id, devflow.get_distinct_id())
    assert.notEqual(last.distinct_id, 'user-42')
})

test('an answer to an older request than the latest is ignored', async () => {
    const platform = testPlatform()
    let releaseFirst: (reply: { status: number; body: string }) => void = () => {}
    const answer = (flags: Record<string, unknown>) => ({ status: 200, body: JSON.stringify({ flags, errorsWhileComputingFlags: false, requestId: 'r' }) })
    let count = 0
    platform.server.handler = () => {
        count++
        if (count === 1) return new Promise((resolve) => (releaseFirst = resolve))
        return answer({ checkout: v2Flag('checkout', true, 'new') })
    }
    const devflow = start(platform)
    await platform.clock.advance(0)
    devflow.reloadFeatureFlags()
    await platform.clock.advance(0)
    assert.equal(devflow.getFeatureFlag('checkout', { send_event: false }), 'new')
    releaseFirst(answer({ checkout: v2Flag('checkout', true, 'old') }))
    await platform.clock.advance(0)
    assert.equal(devflow.getFeatureFlag('checkout', { send_event: false }), 'new')
})

test('advanced_disable_feature_flags makes no request', async () => {
    const platform = testPlatform()
    const devflow = new DevFlow({ platform, logger: silent, record: null })
    devflow.init('phc_test', { api_host: HOST, capture_pageview: false, advanced_disable_feature_flags: true })
    devflow.reloadFeatureFlags()
    await platform.clock.advance(0)
    assert.equal(platform.server.to('/flags').length, 0)
})
