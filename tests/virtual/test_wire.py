"""adb message framing: whole, byte by byte and at random split points give the same messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from droidcap.virtual.adb_wire import Banner, Command, Decoder, Message, WireError, checksum, encode

messages = st.lists(
    st.builds(lambda c, a, b, p: Message(command=c, arg0=a, arg1=b, payload=p),
              st.sampled_from(list(Command)), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
              st.binary(max_size=300)),
    max_size=6)


def _decode(chunks: list[bytes]) -> list[Message]:
    d = Decoder()
    out = []
    for c in chunks:
        d.feed(c)
        while (m := d.next_message()) is not None:
            out.append(m)
    return out


@given(messages, st.lists(st.integers(0, 2000), max_size=8))
def test_any_split_gives_same_messages(msgs: list[Message], cuts: list[int]) -> None:
    wire = b"".join(encode(m) for m in msgs)
    points = sorted({c % (len(wire) + 1) for c in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    assert _decode([wire]) == msgs
    assert _decode([wire[i:i + 1] for i in range(len(wire))]) == msgs
    assert _decode(chunks) == msgs


def test_checksum_is_written_only_for_old_hosts() -> None:
    m = Message(command=Command.WRTE, arg0=1, arg1=2, payload=b"\x01\xff")
    assert encode(m)[16:20] == b"\0\0\0\0"
    assert int.from_bytes(encode(m, with_checksum=True)[16:20], "little") == checksum(b"\x01\xff") == 256
    assert encode(m)[20:24] == (Command.WRTE ^ 0xFFFFFFFF).to_bytes(4, "little")


def test_bad_magic_is_a_wire_error() -> None:
    raw = bytearray(encode(Message(command=Command.OKAY, arg0=1, arg1=2)))
    raw[20] ^= 1
    d = Decoder()
    d.feed(bytes(raw))
    with pytest.raises(WireError, match="magic"):
        d.next_message()


def test_banner_format() -> None:
    b = Banner(properties={"ro.product.name": "p", "ro.product.model": "m"}, features=("shell_v2", "ls_v2"))
    assert b.encode() == b"device::ro.product.name=p;ro.product.model=m;features=shell_v2,ls_v2"
