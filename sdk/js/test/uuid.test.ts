import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { UUIDv7Generator, uuidv7Time } from '../src/uuid'
import { UUID7 } from './helpers'

const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

test('uuid7 has the version 7 and RFC 9562 variant bits and encodes the time', () => {
    const at = Date.UTC(2026, 4, 1, 8, 30, 0, 123)
    const id = new UUIDv7Generator(() => at, bytes).next()
    assert.match(id, UUID7)
    assert.equal(uuidv7Time(id), at)
    assert.equal(id.slice(0, 13).replace('-', ''), at.toString(16).padStart(12, '0'))
})

test('uuid7 ids are strictly increasing within one millisecond', () => {
    const gen = new UUIDv7Generator(() => 1_700_000_000_000, bytes)
    const ids = Array.from({ length: 5000 }, () => gen.next())
    for (let i = 1; i < ids.length; i++) {
        assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`)
        assert.match(ids[i]!, UUID7)
    }
    assert.equal(new Set(ids).size, ids.length)
})

test('uuid7 ids stay increasing when the clock steps back', () => {
    let now = 1_700_000_000_500
    const gen = new UUIDv7Generator(() => now, bytes)
    const first = gen.next()
    now -= 400 // NTP correction
    const second = gen.next()
    assert.ok(first < second)
    assert.equal(uuidv7Time(second), 1_700_000_000_500)
    now += 1000
    const third = gen.next()
    assert.equal(uuidv7Time(third), now)
    assert.ok(second < third)
})

test('uuid7 with the largest seed still increments without repeating', () => {
    const max = (n: number): Uint8Array => new Uint8Array(n).fill(0xff)
    const gen = new UUIDv7Generator(() => 42, max)
    const a = gen.next()
    const b = gen.next()
    assert.ok(a < b)
    assert.match(b, UUID7)
})
