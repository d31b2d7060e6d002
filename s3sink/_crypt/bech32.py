"""Bech32 (BIP 173) as age uses it: ``age1…`` recipients and ``AGE-SECRET-KEY-1…``
identities. Unlike BIP 173 there is no length limit (post-quantum keys are long); a string is
all lowercase or all uppercase, and the checksum is over the lowercase form."""

from __future__ import annotations

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_VALUES = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Bech32Error(ValueError):
    """Not a valid Bech32 string (the message never repeats the string: it may be a key)."""


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                check ^= gen
    return check


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & mask)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & mask)
    elif bits >= from_bits or (acc << (to_bits - bits)) & mask:
        raise Bech32Error("non-zero padding bits")
    return out


def encode(hrp: str, data: bytes) -> str:
    """``hrp`` (lowercase) and ``data`` as a lowercase Bech32 string."""
    words = _convert(data, 8, 5, pad=True)
    polymod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[w] for w in words + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """The human-readable part (lowercased) and the data of a Bech32 string."""
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed case")
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise Bech32Error("a character outside printable ASCII")
    lower = text.lower()
    sep = lower.rfind("1")
    if sep < 1 or sep + 7 > len(lower):
        raise Bech32Error("no separator, or too short")
    hrp, rest = lower[:sep], lower[sep + 1 :]
    try:
        words = [_VALUES[c] for c in rest]
    except KeyError:
        raise Bech32Error("a character outside the Bech32 alphabet") from None
    if _polymod(_hrp_expand(hrp) + words) != 1:
        raise Bech32Error("bad checksum")
    return hrp, bytes(_convert(words[:-6], 5, 8, pad=False))
