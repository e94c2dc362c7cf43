import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SessionManager, type SessionIds } from '../src/session'
import { MemoryStore } from '../src/storage'
import { UUIDv7Generator } from '../src/uuid'
import { testPlatform, UUID7 } from './helpers'

const MINUTE = 60_000

function manager(platform = testPlatform()) {
    const gen = new UUIDv7Generator(() => platform.clock.now, platform.randomBytes)
    return { platform, sessions: new SessionManager(platform, 'phc_test', () => gen.next()) }
}

test('a session lasts while there is activity less than 30 minutes apart', async () => {
    const { platform, sessions } = manager()
    const first = sessions.ids(true)
    assert.match(first.sessionId, UUID7)
    assert.match(first.windowId, UUID7)
    for (let i = 0; i < 10; i++) {
        await platform.clock.advance(29 * MINUTE)
        assert.equal(sessions.ids(true).sessionId, first.sessionId)
    }
})

test('activity after 30 idle minutes starts a new session and window', async () => {
    const { platform, sessions } = manager()
    const first = sessions.ids(true)
    await platform.clock.advance(31 * MINUTE)
    const second = sessions.ids(true)
    assert.notEqual(second.sessionId, first.sessionId)
    assert.notEqual(second.windowId, first.windowId)
    assert.equal(second.sessionStartedAt, platform.clock.now)
})

test('non-activity reads after idleness keep the session; the next activity ends it', async () => {
    const { platform, sessions } = manager()
    const first = sessions.ids(true)
    await platform.clock.advance(45 * MINUTE)
    assert.equal(sessions.ids(false).sessionId, first.sessionId)
    assert.notEqual(sessions.ids(true).sessionId, first.sessionId)
})

test('a session ends after 24 hours even with constant activity', async () => {
    const { platform, sessions } = manager()
    const first = sessions.ids(true)
    for (let t = 0; t < 24 * 60; t += 10) {
        await platform.clock.advance(10 * MINUTE)
        const ids = sessions.ids(true)
        if (ids.sessionId !== first.sessionId) {
            assert.ok(platform.clock.now - first.sessionStartedAt > 24 * 60 * MINUTE - 10 * MINUTE)
            return
        }
    }
    await platform.clock.advance(10 * MINUTE)
    assert.notEqual(sessions.ids(false).sessionId, first.sessionId, 'past 24 h even a non-activity read rotates')
})

test('a reloaded page keeps the session and its window id; a duplicated tab gets a new window id', () => {
    const local = new MemoryStore()
    const tabSession = new MemoryStore()
    const { sessions } = manager(testPlatform({ local, session: tabSession }))
    const before = sessions.ids(true)
    sessions.pageUnloading()

    const reloaded = manager(testPlatform({ local, session: tabSession })).sessions.ids(true)
    assert.deepEqual([reloaded.sessionId, reloaded.windowId], [before.sessionId, before.windowId])

    // Duplicating a tab copies sessionStorage while the original is still open.
    const copy = new MemoryStore()
    for (const key of tabSession.keys()) copy.set(key, tabSession.get(key)!)
    const duplicate = manager(testPlatform({ local, session: copy })).sessions.ids(true)
    assert.equal(duplicate.sessionId, before.sessionId)
    assert.notEqual(duplicate.windowId, before.windowId)
})

test('listeners hear about every new session, with the previous ids', async () => {
    const { platform, sessions } = manager()
    const heard: [SessionIds, SessionIds | null][] = []
    sessions.onChange((ids, previous) => heard.push([ids, previous]))
    const first = sessions.ids(true)
    sessions.ids(true)
    await platform.clock.advance(31 * MINUTE)
    const second = sessions.ids(true)
    sessions.reset()
    const third = sessions.ids(false)
    assert.deepEqual(
        heard.map(([ids, prev]) => [ids.sessionId, prev?.sessionId ?? null]),
        [
            [first.sessionId, null],
            [second.sessionId, first.sessionId],
            [third.sessionId, second.sessionId],
        ],
    )
})

test('a session started by another tab is adopted with a new window id', () => {
    const local = new MemoryStore()
    const a = manager(testPlatform({ local })).sessions
    const b = manager(testPlatform({ local })).sessions
    const fromA = a.ids(true)
    assert.equal(b.ids(true).sessionId, fromA.sessionId)
    b.reset()
    const fromB = b.ids(true)
    const seenByA = a.ids(true)
    assert.equal(seenByA.sessionId, fromB.sessionId)
    assert.notEqual(seenByA.windowId, fromA.windowId)
})
