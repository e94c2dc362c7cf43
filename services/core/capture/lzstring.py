"""lz-string's ``compressToBase64`` undone: the ``lz64`` compression of old posthog-js builds.

posthog-js sent ``?compression=lz64`` bodies (``data=<lz-string base64>`` form posts) until it
moved to gzip; PostHog still accepts them, so a site pinned to such a build keeps working. The
format is LZW over UTF-16 code units with a growing code width, written six bits per base64
character. Output is bounded: decompression stops as soon as it passes ``limit`` characters.
"""

from __future__ import annotations

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
# Code meanings in the stream: a literal of 8 or 16 bits follows, or the end.
_CHAR8, _CHAR16, _END = 0, 1, 2


class LzStringError(ValueError):
    """The input is not lz-string base64, or it expands past the limit (``too_large``)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


class _Bits:
    """Reads the stream's bits, least significant first within each code, six per character."""

    def __init__(self, text: str) -> None:
        try:
            self.values = [_VALUE[c] for c in text]
        except KeyError as exc:
            raise LzStringError(f"character {exc.args[0]!r} is not base64") from None
        self.index = 0
        self.position = 32
        self.value = self.values[0] if self.values else 0

    def read(self, width: int) -> int:
        """The next ``width``-bit value; :class:`LzStringError` when the input ends first."""
        out = 0
        for shift in range(width):
            if self.index >= len(self.values):
                raise LzStringError("the input ends inside a code")
            if self.value & self.position:
                out |= 1 << shift
            self.position >>= 1
            if self.position == 0:
                self.position = 32
                self.index += 1
                self.value = self.values[self.index] if self.index < len(self.values) else 0
        return out


def decompress_base64(text: str, limit: int) -> str:
    """The string ``LZString.compressToBase64`` was given; raises :class:`LzStringError`."""
    text = text.strip()
    if not text:
        raise LzStringError("the input is empty")
    bits = _Bits(text)
    first = bits.read(2)
    if first == _END:
        return ""
    if first not in (_CHAR8, _CHAR16):
        raise LzStringError("the input does not start with a literal")
    w = chr(bits.read(8 if first == _CHAR8 else 16))
    dictionary: list[str] = ["", "", "", w]
    out = [w]
    size = 1
    width, enlarge_in = 3, 4
    while True:
        code = bits.read(width)
        if code in (_CHAR8, _CHAR16):
            dictionary.append(chr(bits.read(8 if code == _CHAR8 else 16)))
            code = len(dictionary) - 1
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in, width = 1 << width, width + 1
        elif code == _END:
            break
        if code < len(dictionary) and code > _END:
            entry = dictionary[code]
        elif code == len(dictionary):
            entry = w + w[0]
        else:
            raise LzStringError("the input refers to an unknown code")
        size += len(entry)
        if size > limit:
            raise LzStringError(f"the input expands past {limit} characters", too_large=True)
        out.append(entry)
        dictionary.append(w + entry[0])
        w = entry
        enlarge_in -= 1
        if enlarge_in == 0:
            enlarge_in, width = 1 << width, width + 1
    # 16-bit literals are UTF-16 code units: pairs of them make one character beyond the BMP.
    joined = "".join(out)
    try:
        return joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise LzStringError("the input holds a lone UTF-16 surrogate") from None
