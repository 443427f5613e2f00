"""Audio (8) and video (9) message bodies: codec, frame type, sequence headers.

``parse_audio(body) -> AudioInfo`` and ``parse_video(body) -> VideoInfo`` never raise; see
docs/protocol-notes.md, "Media", for every field.
"""

from droidcap.rtmp.media.audio import parse_audio
from droidcap.rtmp.media.info import AudioInfo, VideoInfo
from droidcap.rtmp.media.video import parse_video

__all__ = ["AudioInfo", "VideoInfo", "parse_audio", "parse_video"]
