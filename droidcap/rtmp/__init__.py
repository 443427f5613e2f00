"""Sans-IO RTMP decoding: handshake, chunk stream, messages, AMF0/AMF3, audio/video details.

Standard library only.  One :class:`~droidcap.rtmp.decoder.RtmpDecoder` per TCP direction.
"""
