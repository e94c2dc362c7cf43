/**
 * UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by
 * creation time. Ids made by one generator are strictly increasing: within one millisecond (or
 * when the clock steps back) a 42-bit counter, seeded at random in the lower half of its range,
 * is incremented instead of drawing new bits (RFC 9562 §6.2, method 1 with a random seed).
 */

const COUNTER_BITS = 42
const COUNTER_MAX = 2 ** COUNTER_BITS - 1
const LOW_BITS = 2 ** 30 // the counter's low 30 bits go in rand_b, its high 12 in rand_a

export type RandomBytes = (length: number) => Uint8Array

export class UUIDv7Generator {
    private lastMs = -1
    private counter = 0

    constructor(
        private readonly now: () => number,
        private readonly randomBytes: RandomBytes,
    ) {}

    next(): string {
        let ms = Math.floor(this.now())
        if (ms > this.lastMs) {
            this.lastMs = ms
            this.counter = this.seed()
        } else {
            ms = this.lastMs
            this.counter += 1
            if (this.counter > COUNTER_MAX) {
                // 2^41 ids in one millisecond: borrow the next millisecond.
                ms = this.lastMs = this.lastMs + 1
                this.counter = this.seed()
            }
        }
        return format(ms, this.counter, this.randomBytes(4))
    }

    private seed(): number {
        const r = this.randomBytes(6)
        // 41 random bits: the top counter bit starts at 0, leaving room to count up.
        const high = ((r[0] ?? 0) & 0x01) * 2 ** 40
        return high + (r[1] ?? 0) * 2 ** 32 + (((r[2] ?? 0) << 24) >>> 0) + ((r[3] ?? 0) << 16) + ((r[4] ?? 0) << 8) + (r[5] ?? 0)
    }
}

function format(ms: number, counter: number, tail: Uint8Array): string {
    const bytes = new Uint8Array(16)
    // Bitwise operators are 32-bit in JavaScript: split the 48-bit time by division.
    const msHigh = Math.floor(ms / 2 ** 32)
    const msLow = ms >>> 0
    bytes[0] = (msHigh >>> 8) & 0xff
    bytes[1] = msHigh & 0xff
    bytes[2] = (msLow >>> 24) & 0xff
    bytes[3] = (msLow >>> 16) & 0xff
    bytes[4] = (msLow >>> 8) & 0xff
    bytes[5] = msLow & 0xff
    const counterHigh = Math.floor(counter / LOW_BITS) // 12 bits
    const counterLow = counter % LOW_BITS // 30 bits
    bytes[6] = 0x70 | ((counterHigh >>> 8) & 0x0f)
    bytes[7] = counterHigh & 0xff
    bytes[8] = 0x80 | ((counterLow >>> 24) & 0x3f)
    bytes[9] = (counterLow >>> 16) & 0xff
    bytes[10] = (counterLow >>> 8) & 0xff
    bytes[11] = counterLow & 0xff
    bytes.set(tail.subarray(0, 4), 12)
    let hex = ''
    for (const byte of bytes) {
        hex += byte.toString(16).padStart(2, '0')
    }
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** The millisecond timestamp encoded in a UUIDv7. */
export function uuidv7Time(uuid: string): number {
    return parseInt(uuid.replace(/-/g, '').slice(0, 12), 16)
}
