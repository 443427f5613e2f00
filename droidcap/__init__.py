"""droidcap: capture and decode RTMP sessions on Android devices.

Layers (see docs/architecture.md): ``capture`` and ``rtmp`` are sans-IO and import only the
standard library; ``session`` builds the streaming engineer's view on top of them; device,
virtual-device, lab, TUI and CLI code sit above and are imported lazily.
"""

__version__ = "0.1.0"
