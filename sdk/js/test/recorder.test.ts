import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { eventWithTime } from '@rrweb/types'
import { DevFlow } from '../src/client'
import type { DevFlowOptions } from '../src/config'
import type { ConsolePluginFactory, RecordFunction, RecordOptions } from '../src/recorder'
import { type TestPlatform, silent, testPlatform, UUID7 } from './helpers'

const MINUTE = 60_000

/** A stand-in for rrweb's record(): keeps its options, emits what the test says. */
function fakeRrweb(platform: TestPlatform, { deferStart = false } = {}) {
    let started = false
    const state = { options: null as RecordOptions | null, fullSnapshots: 0, stopped: 0, consoleLevels: null as string[] | null }
    const meta = (): eventWithTime => ({ type: 4, data: { href: 'https://shop.test/', width: 1280, height: 720 }, timestamp: platform.clock.now }) as eventWithTime
    const full = (): eventWithTime => ({ type: 2, data: { node: { type: 0, childNodes: [], id: 1 }, initialOffset: { top: 0, left: 0 } }, timestamp: platform.clock.now }) as eventWithTime
    const record = ((options: RecordOptions) => {
        state.options = options
        if (!deferStart) begin()
        return () => state.stopped++
    }) as unknown as RecordFunction
    record.takeFullSnapshot = () => {
        state.fullSnapshots++
        state.options!.emit!(meta())
        state.options!.emit!(full())
    }
    // rrweb emits its first events at DOMContentLoaded, and refuses custom events before.
    const begin = () => {
        state.options!.emit!(meta())
        state.options!.emit!(full())
        started = true
    }
    record.addCustomEvent = <T>(tag: string, payload: T) => {
        if (!started) throw new Error('please add custom event after start recording')
        state.options!.emit!({ type: 5, data: { tag, payload }, timestamp: platform.clock.now } as eventWithTime)
    }
    const consolePlugin: ConsolePluginFactory = ({ level }) => {
        state.consoleLevels = level
        return { name: 'rrweb/console@1', observer: () => () => {}, options: {} }
    }
    const emit = (event: Partial<eventWithTime> & { type: number; data: unknown }) =>
        state.options!.emit!({ timestamp: platform.clock.now, ...event } as eventWithTime)
    const mouseMove = () => emit({ type: 3, data: { source: 1, positions: [{ x: 1, y: 2, id: 5, timeOffset: 0 }] } })
    const mutation = (text = 'x') => emit({ type: 3, data: { source: 0, texts: [{ id: 9, value: text }], attributes: [], removes: [], adds: [] } })
    return { record, consolePlugin, state, emit, mouseMove, mutation, begin }
}

function start(options: DevFlowOptions = {}, platform = testPlatform(), deferStart = false) {
    const rrweb = fakeRrweb(platform, { deferStart })
    const devflow = new DevFlow({ platform, logger: silent, record: rrweb.record, consolePlugin: rrweb.consolePlugin })
    devflow.init('phc_test', { api_host: 'https://analytics.test', capture_pageview: false, ...options })
    return { platform, rrweb, devflow }
}

const snapshots = (platform: TestPlatform) => platform.server.events('/s/')

test('rrweb gets privacy-first options: inputs masked, blocked and masked classes, sampling, console errors', () => {
    const { rrweb } = start()
    const o = rrweb.state.options!
    assert.equal(o.maskAllInputs, true)
    assert.deepEqual(o.maskInputOptions, { password: true })
    assert.equal(o.blockClass, 'rr-block')
    assert.equal(o.blockSelector, '.dv-no-capture, .ph-no-capture')
    assert.equal(o.maskTextClass, 'rr-mask')
    assert.equal(o.maskTextSelector, '.dv-mask')
    assert.deepEqual(o.sampling, { mousemove: 50, scroll: 150, input: 'all' })
    assert.equal(o.plugins!.length, 1)
    assert.deepEqual(rrweb.state.consoleLevels, ['error', 'warn'])
})

test('recording options reach rrweb', () => {
    const { rrweb } = start({
        session_recording: { maskAllInputs: false, blockSelector: '.secret', maskTextSelector: '.pii', consoleLevels: [] },
    })
    const o = rrweb.state.options!
    assert.equal(o.maskAllInputs, false)
    assert.deepEqual(o.maskInputOptions, { password: true }, 'passwords stay masked')
    assert.equal(o.blockSelector, '.dv-no-capture, .ph-no-capture, .secret')
    assert.equal(o.maskTextSelector, '.dv-mask, .pii')
    assert.deepEqual(o.plugins, [])
})

test('disable_session_recording: rrweb never starts', async () => {
    const { rrweb, platform } = start({ disable_session_recording: true })
    assert.equal(rrweb.state.options, null)
    await platform.clock.advance(5000)
    assert.equal(platform.server.to('/s/').length, 0)
})

test('the buffer leaves as one PostHog-compatible $snapshot to /s/ after 2 seconds', async () => {
    const { rrweb, platform, devflow } = start()
    const t0 = platform.clock.now
    rrweb.mouseMove()
    await platform.clock.advance(1999)
    assert.equal(platform.server.to('/s/').length, 0)
    await platform.clock.advance(101 + 1) // the recorder's 2 s, then the /s/ queue's 100 ms
    const requests = platform.server.to('/s/')
    assert.equal(requests.length, 1)
    assert.equal(requests[0]!.url, 'https://analytics.test/s/?compression=gzip-js')
    assert.equal(requests[0]!.keepalive, false, 'recordings leave the keepalive quota to events')
    const body = requests[0]!.json()
    assert.equal(body.api_key, 'phc_test')
    assert.equal(typeof body.sent_at, 'string')
    assert.equal(body.batch.length, 1)
    const snapshot = body.batch[0]
    assert.deepEqual(Object.keys(snapshot).sort(), ['distinct_id', 'event', 'properties', 'timestamp', 'uuid'])
    assert.equal(snapshot.event, '$snapshot')
    assert.equal(snapshot.distinct_id, devflow.get_distinct_id())
    assert.match(snapshot.uuid, UUID7)
    assert.equal(snapshot.timestamp, new Date(t0).toISOString())
    const p = snapshot.properties
    assert.deepEqual(Object.keys(p).sort(), ['$lib', '$lib_version', '$session_id', '$snapshot_bytes', '$snapshot_data', '$window_id', 'distinct_id', 'token'])
    assert.deepEqual(p.$snapshot_data.map((e: eventWithTime) => e.type), [4, 2, 3])
    assert.equal(p.$snapshot_bytes, JSON.stringify(p.$snapshot_data).length)
    assert.equal(p.$session_id, devflow.get_session_id())
    assert.match(p.$window_id, UUID7)
    assert.equal(p.$lib, 'devflow-js')
    assert.equal(p.distinct_id, devflow.get_distinct_id())
    assert.equal(p.token, 'phc_test')
})

test('a buffer reaching ~900 KB is sent at once, and no $snapshot exceeds it', async () => {
    const { rrweb, platform } = start()
    await platform.clock.advance(2200) // send the initial full snapshot
    const before = snapshots(platform).length
    const big = 'y'.repeat(250_000)
    for (let i = 0; i < 4; i++) rrweb.mutation(big)
    await platform.clock.advance(150) // well before the 2 s timer
    const sent = snapshots(platform).slice(before)
    assert.equal(sent.length, 1)
    assert.equal(sent[0].properties.$snapshot_data.length, 3)
    assert.ok(sent[0].properties.$snapshot_bytes <= 900_000)
    await platform.clock.advance(2200)
    const rest = snapshots(platform).slice(before + 1)
    assert.equal(rest.length, 1)
    assert.equal(rest[0].properties.$snapshot_data.length, 1)
})

test('user interaction keeps the session alive; DOM mutations do not', async () => {
    const { rrweb, platform, devflow } = start()
    const session = devflow.get_session_id()
    for (let i = 0; i < 6; i++) {
        await platform.clock.advance(20 * MINUTE)
        rrweb.mouseMove()
    }
    assert.equal(devflow.get_session_id(), session, 'two hours of mouse moves, one session')
    await platform.clock.advance(20 * MINUTE)
    rrweb.mutation()
    await platform.clock.advance(20 * MINUTE)
    rrweb.mutation()
    assert.equal(devflow.get_session_id(), session, 'mutations neither extend nor end it')
    rrweb.mouseMove() // 40 idle minutes: this interaction starts a new session
    assert.notEqual(devflow.get_session_id(), session)
})

test('a new session starts its recording with a full snapshot; the old buffer goes under the old ids', async () => {
    const { rrweb, platform } = start()
    await platform.clock.advance(2200)
    const first = snapshots(platform)[0].properties
    await platform.clock.advance(31 * MINUTE)
    rrweb.mutation('while idle') // not activity: still the old session
    rrweb.mouseMove() // activity after 31 idle minutes: new session
    await platform.clock.advance(2200)
    const all = snapshots(platform)
    const idle = all.find((s) => s.properties.$snapshot_data.some((e: { data: { texts?: { value: string }[] } }) => e.data.texts?.[0]?.value === 'while idle'))
    assert.equal(idle.properties.$session_id, first.$session_id)
    const next = all.at(-1).properties
    assert.notEqual(next.$session_id, first.$session_id)
    assert.notEqual(next.$window_id, first.$window_id)
    assert.equal(rrweb.state.fullSnapshots, 1)
    assert.deepEqual(next.$snapshot_data.map((e: eventWithTime) => e.type), [4, 2, 3])
})

test('reset sends the recording so far as the old user and starts a new session with a full snapshot', async () => {
    const { rrweb, platform, devflow } = start()
    devflow.identify('user-42')
    rrweb.mouseMove()
    devflow.reset()
    rrweb.mouseMove()
    await platform.clock.advance(2200)
    const [before, after] = snapshots(platform)
    assert.equal(before.distinct_id, 'user-42')
    assert.equal(after.distinct_id, devflow.get_distinct_id())
    assert.notEqual(after.properties.$session_id, before.properties.$session_id)
    assert.equal(rrweb.state.fullSnapshots, 1)
    assert.deepEqual(after.properties.$snapshot_data.map((e: eventWithTime) => e.type), [4, 2, 3])
})

test('on pagehide the recording buffer goes by beacon to /s/', async () => {
    const { Window } = await import('happy-dom')
    const win = new Window({ url: 'https://shop.test/' })
    const platform = testPlatform({ window: win as unknown as globalThis.Window })
    const { rrweb } = start({}, platform)
    rrweb.mouseMove()
    win.dispatchEvent(new win.Event('pagehide'))
    const beacon = platform.beacons.find((b) => b.url.startsWith('https://analytics.test/s/'))!
    assert.equal(beacon.url, 'https://analytics.test/s/?beacon=1')
    const [snapshot] = JSON.parse(beacon.body).batch
    assert.equal(snapshot.event, '$snapshot')
    assert.deepEqual(snapshot.properties.$snapshot_data.map((e: eventWithTime) => e.type), [4, 2, 3])
    await win.happyDOM.close()
})

test('stopSessionRecording stops rrweb and sends what was buffered', async () => {
    const { rrweb, platform, devflow } = start()
    devflow.stopSessionRecording()
    assert.equal(rrweb.state.stopped, 1)
    await platform.clock.advance(200)
    assert.equal(snapshots(platform).length, 1)
})

test('each $snapshot has the URL it was recorded on; a navigation starts a new one and a $pageview custom event', async () => {
    const { Window } = await import('happy-dom')
    const win = new Window({ url: 'https://shop.test/home' })
    const platform = testPlatform({ window: win as unknown as globalThis.Window })
    const { rrweb } = start({ capture_pageview: true }, platform)
    await platform.clock.advance(0)
    rrweb.mouseMove()
    win.history.pushState({}, '', '/checkout')
    rrweb.mutation('checkout page')
    await platform.clock.advance(2200)
    const sent = snapshots(platform)
    assert.deepEqual(sent.map((s) => s.properties.$current_url), ['https://shop.test/home', 'https://shop.test/checkout'])
    const custom = sent.flatMap((s) => s.properties.$snapshot_data).filter((e: any) => e.type === 5)
    assert.deepEqual(custom.map((e: any) => [e.data.tag, e.data.payload.href]), [
        ['$pageview', 'https://shop.test/home'],
        ['$pageview', 'https://shop.test/checkout'],
    ])
    assert.equal(sent[1].properties.$snapshot_data.at(-1).data.texts[0].value, 'checkout page')
    await win.happyDOM.close()
})

test('a pageview before rrweb has started is added to the recording once it starts', async () => {
    const { Window } = await import('happy-dom')
    const win = new Window({ url: 'https://shop.test/early' })
    const platform = testPlatform({ window: win as unknown as globalThis.Window })
    const { rrweb } = start({ capture_pageview: true }, platform, true)
    rrweb.begin()
    await platform.clock.advance(2200)
    const data = snapshots(platform).flatMap((s) => s.properties.$snapshot_data)
    assert.deepEqual(data.map((e: eventWithTime) => e.type), [4, 2, 5])
    assert.equal(data[2].data.payload.href, 'https://shop.test/early')
    await win.happyDOM.close()
})
