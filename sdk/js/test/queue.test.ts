import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BatchQueue, LEASE_MS, type QueueConfig } from '../src/queue'
import { MemoryStore } from '../src/storage'
import { parseRetryAfter, Transport } from '../src/transport'
import type { CaptureEvent } from '../src/types'
import { UUIDv7Generator } from '../src/uuid'
import { FakeClock, type TestPlatform, silent, testPlatform, until } from './helpers'

const CONFIG: QueueConfig = {
    name: 'events',
    url: 'https://analytics.test/batch/',
    token: 'phc_test',
    storageKey: 'dv_phc_test_retry_events',
    flushIntervalMs: 1000,
    maxBatchEvents: 50,
    maxBatchBytes: 500_000,
    maxStoredBytes: 1_000_000,
    persistInFlight: true,
    keepalive: true,
    retryBaseMs: 2000,
    retryMaxMs: 300_000,
}

function queueOn(platform: TestPlatform, config: Partial<QueueConfig> = {}, compress = true) {
    const gen = new UUIDv7Generator(() => platform.clock.now, platform.randomBytes)
    const queue = new BatchQueue(platform, new Transport(platform, silent, compress), silent, { ...CONFIG, ...config }, () => gen.next())
    return queue
}

let n = 0
function event(name = 'clicked'): CaptureEvent {
    n++
    return {
        uuid: `0190f0e0-0000-7000-8000-${String(n).padStart(12, '0')}`,
        event: name,
        distinct_id: 'user-1',
        properties: { n },
        timestamp: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    }
}

test('events wait for the flush interval and leave as one gzipped batch', async () => {
    const platform = testPlatform({ gzip: 'stream' })
    const queue = queueOn(platform)
    const sent = [event(), event(), event()]
    sent.forEach((e) => queue.enqueue(e))
    await platform.clock.advance(999)
    assert.equal(platform.server.requests.length, 0)
    await platform.clock.advance(1)
    await until(() => platform.server.requests.length === 1)
    const request = platform.server.requests[0]!
    assert.equal(request.url, 'https://analytics.test/batch/?compression=gzip-js')
    assert.ok(request.body instanceof Uint8Array)
    assert.deepEqual([...request.body.subarray(0, 2)], [0x1f, 0x8b], 'gzip magic bytes')
    assert.equal(request.keepalive, true, 'a small batch of events outlives the page')
    const body = request.json()
    assert.equal(body.api_key, 'phc_test')
    assert.deepEqual(body.batch, sent)
    assert.equal(body.sent_at, new Date(platform.clock.now).toISOString())
    await until(() => queue.stored().length === 0)
})

test('without compression the body is plain JSON and the URL has no compression query', async () => {
    const platform = testPlatform()
    const queue = queueOn(platform, {}, false)
    queue.enqueue(event())
    await platform.clock.advance(1000)
    const request = platform.server.requests[0]!
    assert.equal(request.url, 'https://analytics.test/batch/')
    assert.equal(typeof request.body, 'string')
    assert.equal(request.json().batch.length, 1)
})

test('a browser without CompressionStream sends plain JSON', async () => {
    const platform = testPlatform({ gzip: 'none' })
    const queue = queueOn(platform)
    queue.enqueue(event())
    await platform.clock.advance(1000)
    assert.equal(platform.server.requests[0]!.url, 'https://analytics.test/batch/')
})

test('a full batch goes at once, without waiting for the interval', async () => {
    const platform = testPlatform()
    const queue = queueOn(platform, { maxBatchEvents: 5 })
    for (let i = 0; i < 5; i++) queue.enqueue(event())
    await platform.clock.advance(0)
    assert.deepEqual(platform.server.requests.map((r) => r.json().batch.length), [5])
    for (let i = 0; i < 3; i++) queue.enqueue(event())
    await platform.clock.advance(999)
    assert.equal(platform.server.requests.length, 1)
    await platform.clock.advance(1)
    assert.deepEqual(platform.server.requests.map((r) => r.json().batch.length), [5, 3])
})

test('a flush sends everything pending, in batches of at most maxBatchEvents', async () => {
    const platform = testPlatform()
    const queue = queueOn(platform, { maxBatchEvents: 5 })
    for (let i = 0; i < 12; i++) queue.enqueue(event())
    await platform.clock.advance(0)
    assert.deepEqual(platform.server.requests.map((r) => r.json().batch.length), [5, 5, 2])
    assert.equal(queue.pendingCount, 0)
})

test('5xx is retried with growing backoff, the batch kept in storage meanwhile', async () => {
    const platform = testPlatform()
    let failures = 3
    platform.server.handler = () => (failures-- > 0 ? { status: 503 } : { status: 200 })
    const queue = queueOn(platform)
    const sent = event()
    queue.enqueue(sent)
    await platform.clock.advance(1000)
    assert.equal(platform.server.requests.length, 1)
    assert.equal(queue.stored().length, 1)
    assert.deepEqual(queue.stored()[0]!.events, [sent])
    // random() is 0.5 in tests: the n-th retry waits 0.75 · 2000 · 2^(n-1) ms.
    await platform.clock.advance(1499)
    assert.equal(platform.server.requests.length, 1)
    await platform.clock.advance(1)
    assert.equal(platform.server.requests.length, 2)
    await platform.clock.advance(3000)
    assert.equal(platform.server.requests.length, 3)
    await platform.clock.advance(5999)
    assert.equal(platform.server.requests.length, 3)
    await platform.clock.advance(1)
    assert.equal(platform.server.requests.length, 4)
    assert.deepEqual(platform.server.requests.map((r) => r.json().batch[0].uuid), Array(4).fill(sent.uuid))
    assert.deepEqual(queue.stored(), [])
})

test('backoff is exponential with jitter and capped', () => {
    const platform = testPlatform()
    const queue = queueOn(platform)
    platform.random = () => 0
    assert.deepEqual([1, 2, 3].map((a) => queue.backoff(a)), [1000, 2000, 4000])
    platform.random = () => 0.999999
    assert.deepEqual([1, 2, 3].map((a) => queue.backoff(a)), [2000, 4000, 8000])
    assert.equal(queue.backoff(30), 300_000)
})

test('429 waits at least Retry-After, and new batches wait behind it', async () => {
    const platform = testPlatform()
    let limited = true
    platform.server.handler = () => (limited ? { status: 429, headers: { 'Retry-After': '10' } } : { status: 200 })
    const queue = queueOn(platform)
    queue.enqueue(event())
    await platform.clock.advance(1000)
    assert.equal(platform.server.requests.length, 1)
    limited = false
    queue.enqueue(event())
    await platform.clock.advance(9999)
    assert.equal(platform.server.requests.length, 1, 'nothing is sent before Retry-After')
    assert.equal(queue.stored().length, 2, 'the new batch waits in storage')
    await platform.clock.advance(1)
    assert.equal(platform.server.events().length, 3)
    assert.deepEqual(queue.stored(), [])
})

test('Retry-After is read as seconds or as an HTTP date', () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0)
    assert.equal(parseRetryAfter('120', now), 120_000)
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000)
    assert.equal(parseRetryAfter('soon', now), null)
    assert.equal(parseRetryAfter(null, now), null)
})

test('a 400 naming rejected events is final: nothing is retried', async () => {
    const platform = testPlatform()
    platform.server.handler = () => ({
        status: 400,
        headers: { 'Content-Type': 'application/problem+json' },
        body: JSON.stringify({ title: 'Some events were rejected', status: 400, accepted: 2, rejected: [1] }),
    })
    const queue = queueOn(platform)
    queue.enqueue(event())
    queue.enqueue(event())
    queue.enqueue(event())
    await platform.clock.advance(1000)
    assert.equal(platform.server.requests.length, 1)
    assert.deepEqual(queue.stored(), [])
    await platform.clock.advance(600_000)
    assert.equal(platform.server.requests.length, 1)
})

test('network errors are retried', async () => {
    const platform = testPlatform()
    let down = true
    platform.server.handler = () => (down ? 'network-error' : { status: 200 })
    const queue = queueOn(platform)
    queue.enqueue(event())
    await platform.clock.advance(1000)
    down = false
    await platform.clock.advance(1500)
    assert.equal(platform.server.requests.length, 2)
    assert.deepEqual(queue.stored(), [])
})

test('the retry queue survives a reload and is sent by the next page', async () => {
    const local = new MemoryStore()
    const first = testPlatform({ local })
    first.server.handler = () => ({ status: 502 })
    const before = queueOn(first)
    const sent = [event(), event()]
    sent.forEach((e) => before.enqueue(e))
    await first.clock.advance(1000)
    assert.equal(before.stored().length, 1)

    // The page reloads: same localStorage, new everything else.
    const second = testPlatform({ local, clock: new FakeClock(first.clock.now) })
    const after = queueOn(second)
    after.start()
    await second.clock.advance(1500)
    assert.deepEqual(second.server.events(), sent)
    assert.deepEqual(after.stored(), [])
})

test('a batch in flight is leased in storage, so a page closed mid-request loses nothing', async () => {
    const local = new MemoryStore()
    const platform = testPlatform({ local })
    let leased: unknown[] = []
    const queue = queueOn(platform)
    platform.server.handler = () => {
        leased = queue.stored()
        return { status: 200 }
    }
    queue.enqueue(event())
    await platform.clock.advance(1000)
    assert.equal(leased.length, 1)
    assert.equal((leased[0] as { due: number }).due, platform.clock.now + LEASE_MS)
    assert.deepEqual(queue.stored(), [])
})

test('the stored retry queue is bounded: the oldest batches are dropped', async () => {
    const platform = testPlatform()
    platform.server.handler = () => ({ status: 500 })
    const queue = queueOn(platform, { maxStoredBytes: 3000, maxBatchEvents: 1 })
    const big = (): CaptureEvent => ({ ...event(), properties: { blob: 'x'.repeat(800) } })
    const sent = [big(), big(), big(), big(), big()]
    for (const e of sent) {
        queue.enqueue(e)
        await platform.clock.advance(0)
    }
    const kept = queue.stored().flatMap((b) => b.events.map((e) => e.uuid))
    assert.ok(JSON.stringify(queue.stored()).length <= 3000)
    assert.ok(kept.length >= 2 && kept.length < 5, `kept ${kept.length}`)
    assert.deepEqual(kept, sent.slice(-kept.length).map((e) => e.uuid), 'the newest are kept')
})

test('on unload pending events go by sendBeacon with ?beacon=1 as plain JSON', async () => {
    const platform = testPlatform()
    const queue = queueOn(platform)
    const sent = [event(), event()]
    sent.forEach((e) => queue.enqueue(e))
    queue.unload()
    assert.equal(platform.beacons.length, 1)
    assert.equal(platform.beacons[0]!.url, 'https://analytics.test/batch/?beacon=1')
    const body = JSON.parse(platform.beacons[0]!.body)
    assert.equal(body.api_key, 'phc_test')
    assert.deepEqual(body.batch, sent)
    await platform.clock.advance(5000)
    assert.equal(platform.server.requests.length, 0, 'the flush timer was cancelled')
})

test('events the browser would not beacon are kept for the next page load', async () => {
    const platform = testPlatform()
    platform.beaconAccepts = false
    const queue = queueOn(platform)
    const sent = event()
    queue.enqueue(sent)
    queue.unload()
    assert.deepEqual(queue.stored().flatMap((b) => b.events), [sent])
})

test('beacons are split to stay under the 64 KiB limit', () => {
    const platform = testPlatform()
    const queue = queueOn(platform)
    for (let i = 0; i < 10; i++) queue.enqueue({ ...event(), properties: { blob: 'y'.repeat(20_000) } })
    queue.unload()
    assert.ok(platform.beacons.length >= 4)
    for (const beacon of platform.beacons) assert.ok(beacon.body.length < 64 * 1024)
    assert.equal(platform.beacons.flatMap((b) => JSON.parse(b.body).batch).length, 10)
})

test('retryNow sends stored batches at once (the browser is back online)', async () => {
    const platform = testPlatform()
    let down = true
    platform.server.handler = () => (down ? 'network-error' : { status: 200 })
    const queue = queueOn(platform)
    queue.enqueue(event())
    await platform.clock.advance(1000)
    down = false
    await queue.retryNow()
    assert.equal(platform.server.requests.length, 2)
    assert.deepEqual(queue.stored(), [])
})
