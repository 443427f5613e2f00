"""What RTMP status codes mean, in one line each: the words an engineer needs next to the code.

Standard library only.  The codes are Adobe's NetConnection/NetStream status codes (as FMS,
nginx-rtmp, node-media-server, Wowza and YouTube/Twitch ingest send them); an unknown code gets a
meaning built from its level, so nothing is ever shown without one.
"""

from __future__ import annotations

MEANINGS: dict[str, str] = {
    "NetConnection.Connect.Success": "the server accepted the connection",
    "NetConnection.Connect.Rejected": "the server refused the connection (wrong app, auth or a server rule)",
    "NetConnection.Connect.Failed": "the connection attempt failed (server not reachable or refused at once)",
    "NetConnection.Connect.Closed": "the connection was closed",
    "NetConnection.Connect.InvalidApp": "the application name in the tcUrl does not exist on the server",
    "NetConnection.Connect.AppShutdown": "the server application is shutting down",
    "NetConnection.Call.Failed": "a remote call failed (the server has no such method or refused it)",
    "NetStream.Play.Start": "playback started: the server will send the stream",
    "NetStream.Play.Reset": "the play list was reset (sent before Play.Start)",
    "NetStream.Play.Stop": "playback stopped",
    "NetStream.Play.StreamNotFound": ("the stream asked for does not exist on the server "
                                      "(nothing is published under that name, or no such file)"),
    "NetStream.Play.Failed": "playback failed for a reason other than a missing stream",
    "NetStream.Play.BadName": "the stream name is not valid for playing",
    "NetStream.Play.UnpublishNotify": "the publisher stopped publishing this stream",
    "NetStream.Play.PublishNotify": "a publisher started publishing this stream",
    "NetStream.Play.InsufficientBW": "the client's bandwidth is too low to play the stream smoothly",
    "NetStream.Play.Complete": "playback reached the end of the stream",
    "NetStream.Play.Transition": "the server switches to another stream (multi-bitrate)",
    "NetStream.Publish.Start": "publishing started: the server accepts the stream",
    "NetStream.Publish.BadName": "publish refused: the stream name is already being published or is not valid",
    "NetStream.Publish.Denied": "publish refused: the server does not allow this client to publish",
    "NetStream.Publish.Rejected": "publish refused by the server (often a wrong stream key)",
    "NetStream.Publish.Idle": "the publisher has been idle too long",
    "NetStream.Unpublish.Success": "publishing stopped cleanly",
    "NetStream.Record.Start": "recording started",
    "NetStream.Record.Stop": "recording stopped",
    "NetStream.Record.NoAccess": "recording refused: no write access",
    "NetStream.Record.Failed": "recording failed",
    "NetStream.Pause.Notify": "the stream is paused",
    "NetStream.Unpause.Notify": "the stream resumed",
    "NetStream.Seek.Notify": "a seek completed",
    "NetStream.Seek.Failed": "the seek failed",
    "NetStream.Seek.InvalidTime": "the seek asked for a time outside the stream",
    "NetStream.Failed": "a stream operation failed",
    "NetStream.Buffer.Empty": "the player's buffer ran empty: playback stalls until data arrives",
    "NetStream.Buffer.Full": "the player's buffer is full: playback can start",
    "NetStream.Buffer.Flush": "the stream ended and the player's buffer is being emptied",
    "NetStream.Data.Start": "data messages start",
}


def meaning(code: str, level: str | None = None) -> str:
    """One line saying what ``code`` means; for a code not in :data:`MEANINGS`, what its level
    ("status", "warning", "error") and name say."""
    known = MEANINGS.get(code)
    if known is not None:
        return known
    action = code.rsplit(".", 1)[-1] if "." in code else code
    if level == "error":
        return f"the server reports an error ({action}); not a code droidcap knows"
    if level == "warning":
        return f"the server warns ({action}); not a code droidcap knows"
    return f"status {action}; not a code droidcap knows"


def is_failure(code: str, level: str | None) -> bool:
    """A status that means what was asked for did not happen."""
    if level == "error":
        return True
    tail = code.rsplit(".", 1)[-1]
    return tail in {"Failed", "Rejected", "Denied", "BadName", "StreamNotFound", "InvalidApp",
                    "NoAccess", "InvalidTime"}
