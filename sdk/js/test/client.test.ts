import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Window } from 'happy-dom'
import { DevFlow } from '../src/client'
import type { DevFlowOptions } from '../src/config'
import { MemoryStore } from '../src/storage'
import { type TestPlatform, silent, testPlatform, UUID7 } from './helpers'

const HOST = 'https://analytics.test'

function start(platform: TestPlatform = testPlatform(), options: DevFlowOptions = {}): DevFlow {
    const devflow = new DevFlow({ platform, logger: silent, record: null })
    devflow.init('phc_test', { api_host: HOST, capture_pageview: false, ...options })
    return devflow
}

async function sent(platform: TestPlatform): Promise<any[]> {
    await platform.clock.advance(1000)
    return platform.server.events()
}

test('an event carries a uuid7, an ISO timestamp, the identity, session and standard properties', async () => {
    const win = new Window({ url: 'https://shop.test/pricing?plan=pro', width: 1280, height: 720 })
    const platform = testPlatform({ window: win as unknown as globalThis.Window })
    const devflow = start(platform)
    const returned = devflow.capture('signup', { plan: 'pro' })
    const [event] = await sent(platform)
    assert.match(event.uuid, UUID7)
    assert.equal(event.event, 'signup')
    assert.equal(event.timestamp, new Date(platform.clock.now - 1000).toISOString())
    const anon = devflow.get_distinct_id()
    assert.match(anon!, UUID7)
    assert.equal(event.distinct_id, anon)
    const p = event.properties
    assert.equal(p.plan, 'pro')
    assert.equal(p.token, 'phc_test')
    assert.equal(p.distinct_id, anon)
    assert.equal(p.$device_id, anon)
    assert.equal(p.$is_identified, false)
    assert.equal(p.$lib, 'devflow-js')
    assert.equal(p.$lib_version, '0.0.0-test')
    assert.equal(p.$session_id, devflow.get_session_id())
    assert.match(p.$session_id as string, UUID7)
    assert.match(p.$window_id as string, UUID7)
    assert.equal(p.$current_url, 'https://shop.test/pricing?plan=pro')
    assert.equal(p.$host, 'shop.test')
    assert.equal(p.$pathname, '/pricing')
    assert.equal(p.$referrer, '$direct')
    assert.equal(p.$viewport_width, 1280)
    assert.equal(p.$viewport_height, 720)
    assert.equal(typeof p.$screen_width, 'number')
    assert.equal(typeof p.$screen_height, 'number')
    assert.equal('$groups' in p, false)
    assert.equal(platform.server.to('/batch/')[0]!.url, `${HOST}/batch/?compression=gzip-js`)
    assert.deepEqual(event, returned, 'capture() returns the event as sent')
    await win.happyDOM.close()
})

test('super properties go with every event, persist across reloads, and lose to event properties', async () => {
    const local = new MemoryStore()
    const platform = testPlatform({ local })
    const devflow = start(platform)
    devflow.register({ app: 'web', tier: 'free' })
    devflow.capture('a')
    devflow.capture('b', { tier: 'trial' })
    const [a, b] = await sent(platform)
    assert.equal(a.properties.app, 'web')
    assert.equal(a.properties.tier, 'free')
    assert.equal(b.properties.tier, 'trial')

    const reloaded = testPlatform({ local })
    const again = start(reloaded)
    again.unregister('tier')
    again.capture('c')
    const [c] = await sent(reloaded)
    assert.equal(c.properties.app, 'web')
    assert.equal('tier' in c.properties, false)
})

test('identify from anonymous sends $identify with $anon_distinct_id, $set and $set_once', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    const anon = devflow.get_distinct_id()
    devflow.identify('user-42', { email: 'ada@example.com' }, { first_seen: '2026-01-15' })
    devflow.capture('after')
    const [identify, after] = await sent(platform)
    assert.equal(identify.event, '$identify')
    assert.equal(identify.distinct_id, 'user-42')
    assert.equal(identify.properties.$anon_distinct_id, anon)
    assert.equal(identify.properties.distinct_id, 'user-42')
    assert.equal(identify.properties.$device_id, anon)
    assert.deepEqual(identify.$set, { email: 'ada@example.com' })
    assert.deepEqual(identify.$set_once, { first_seen: '2026-01-15' })
    assert.equal(after.distinct_id, 'user-42')
    assert.equal(after.properties.$is_identified, true)
    assert.equal(devflow.get_distinct_id(), 'user-42')
})

test('identify only sends $identify when leaving the anonymous state', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    devflow.identify('user-42')
    devflow.identify('user-42') // same id: nothing
    devflow.identify('user-42', { plan: 'pro' }) // same id with properties: a $set
    devflow.identify('user-43') // already identified: switches, no $identify
    const events = await sent(platform)
    assert.deepEqual(events.map((e) => [e.event, e.distinct_id]), [
        ['$identify', 'user-42'],
        ['$set', 'user-42'],
    ])
    assert.deepEqual(events[1].$set, { plan: 'pro' })
    assert.deepEqual(events[1].properties.$set, { plan: 'pro' })
    assert.equal(devflow.get_distinct_id(), 'user-43')
})

test('alias sends $create_alias with the alias and the current distinct id', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    devflow.identify('user-42')
    devflow.alias('ada@example.com')
    devflow.alias('user-42') // the current id: ignored
    const events = await sent(platform)
    assert.equal(events.length, 2)
    const alias = events[1]
    assert.equal(alias.event, '$create_alias')
    assert.equal(alias.distinct_id, 'user-42')
    assert.equal(alias.properties.alias, 'ada@example.com')
    assert.equal(alias.properties.distinct_id, 'user-42')
})

test('group sends $groupidentify and later events carry $groups', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    devflow.group('company', 'acme', { name: 'Acme Inc', seats: 40 })
    devflow.group('company', 'acme') // unchanged, no properties: nothing
    devflow.group('project', 'p-1')
    devflow.capture('report viewed')
    const events = await sent(platform)
    assert.deepEqual(events.map((e) => e.event), ['$groupidentify', '$groupidentify', 'report viewed'])
    assert.deepEqual(
        [events[0].properties.$group_type, events[0].properties.$group_key, events[0].properties.$group_set],
        ['company', 'acme', { name: 'Acme Inc', seats: 40 }],
    )
    assert.deepEqual(events[1].properties.$group_set, {})
    assert.deepEqual(events[2].properties.$groups, { company: 'acme', project: 'p-1' })
})

test('reset forgets the user, super properties and groups, and starts a new session', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    const anon = devflow.get_distinct_id()!
    devflow.identify('user-42')
    devflow.register({ app: 'web' })
    devflow.group('company', 'acme')
    const session = devflow.get_session_id()
    devflow.reset()
    devflow.capture('after reset')
    const events = await sent(platform)
    const after = events.at(-1)
    const fresh = devflow.get_distinct_id()!
    assert.match(fresh, UUID7)
    assert.notEqual(fresh, anon)
    assert.equal(after.distinct_id, fresh)
    assert.equal(after.properties.$device_id, anon, 'the device id survives a reset')
    assert.equal(after.properties.$is_identified, false)
    assert.equal('app' in after.properties, false)
    assert.equal('$groups' in after.properties, false)
    assert.notEqual(after.properties.$session_id, session)
    assert.notEqual(devflow.get_session_id(), session)
})

test('the anonymous id persists across page loads', () => {
    const local = new MemoryStore()
    const first = start(testPlatform({ local })).get_distinct_id()
    assert.equal(start(testPlatform({ local })).get_distinct_id(), first)
    assert.notEqual(start(testPlatform()).get_distinct_id(), first)
})

test('persistence "memory" stores nothing', () => {
    const local = new MemoryStore()
    const platform = testPlatform({ local })
    start(platform, { persistence: 'memory' }).register({ a: 1 })
    assert.deepEqual(local.keys(), [])
})

test('calls before init and unserialisable properties are ignored without throwing', async () => {
    const early = new DevFlow({ platform: testPlatform(), logger: silent, record: null })
    assert.equal(early.capture('too early'), undefined)
    early.identify('x')
    assert.equal(early.get_distinct_id(), undefined)

    const platform = testPlatform()
    const devflow = start(platform)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.equal(devflow.capture('bad', cyclic), undefined)
    devflow.capture('good')
    assert.deepEqual((await sent(platform)).map((e) => e.event), ['good'])
})

test('a capture after 30 idle minutes is in a new session', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    const first = devflow.capture('one')!.properties.$session_id
    await platform.clock.advance(29 * 60_000)
    assert.equal(devflow.capture('two')!.properties.$session_id, first)
    await platform.clock.advance(31 * 60_000)
    assert.notEqual(devflow.capture('three')!.properties.$session_id, first)
})

test('flush() sends at once and resolves when delivered', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    devflow.capture('now')
    await devflow.flush()
    assert.deepEqual(platform.server.events().map((e) => e.event), ['now'])
})

test('capture takes a timestamp; an invalid one is replaced by now', async () => {
    const platform = testPlatform()
    const devflow = start(platform)
    assert.equal(devflow.capture('past', {}, { timestamp: new Date('2025-12-31T23:00:00Z') })!.timestamp, '2025-12-31T23:00:00.000Z')
    assert.equal(devflow.capture('bad', {}, { timestamp: new Date('nope') })!.timestamp, new Date(platform.clock.now).toISOString())
})
