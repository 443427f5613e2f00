"""The one error family of droidcap.

Everything droidcap raises on purpose derives from :class:`DroidcapError`; the CLI catches it,
prints its message on one line and exits non-zero.  Any other exception escaping a decoder is a
bug (the fuzz tests hold the decoders to that).
"""


class DroidcapError(Exception):
    """Root of every error droidcap raises on purpose.  ``str(err)`` is a complete, one-line
    message for a user: what is wrong and, where possible, what to do."""


class CaptureFormatError(DroidcapError):
    """The bytes are not a pcap/pcapng capture, or a record is malformed beyond recovery."""


class UnsupportedLinkTypeError(DroidcapError):
    """The capture uses a link type droidcap cannot strip down to IP."""


class RtmpProtocolError(DroidcapError):
    """An RTMP byte stream violated the protocol in a way the decoder cannot resynchronise from.

    After it, that direction's decoder is in its ERROR state and yields nothing more."""


class AmfError(RtmpProtocolError):
    """An AMF0/AMF3 value is malformed, too deep or too large."""


class NoRtmpError(DroidcapError):
    """The capture holds no RTMP traffic."""


class NoSuchConnectionError(DroidcapError):
    """A connection index was asked for that the capture does not have."""


class DeviceError(DroidcapError):
    """A device (real or virtual) refused, vanished or answered something unexpected."""


class NoMediaError(DroidcapError):
    """A connection was asked for its media (FLV export) and carried none."""
