"""Process groups a hung-up adb stream must end, including root children started through ``su``.

A ``su`` child is spawned by the daemon (the only root party), so it lives in its own session and
cannot join the caller's process group.  The broker records it here under the caller's group, and
:func:`kill_group` ends both — what a hang-up does on a phone, where su's child shares the session.
"""

from __future__ import annotations

import os
import signal
import threading

KILL_GRACE_S = 1.0
_children: dict[int, set[int]] = {}
_lock = threading.Lock()


def register_child(owner_pgid: int, child_pgid: int) -> None:
    with _lock:
        _children.setdefault(owner_pgid, set()).add(child_pgid)


def forget(pgid: int) -> None:
    with _lock:
        _children.pop(pgid, None)
        for kids in _children.values():
            kids.discard(pgid)


def _family(pgid: int) -> list[int]:
    out, todo = [], [pgid]
    with _lock:
        while todo:
            g = todo.pop()
            if g in out:
                continue
            out.append(g)
            todo.extend(_children.get(g, ()))
    return out


def kill_group(pgid: int) -> None:
    """SIGHUP the group (and its su children) now, SIGKILL what is left after a grace period."""
    groups = _family(pgid)
    for g in groups:
        try:
            os.killpg(g, signal.SIGHUP)
            os.killpg(g, signal.SIGCONT)
        except (ProcessLookupError, PermissionError):
            pass

    def finish() -> None:
        for g in groups:
            try:
                os.killpg(g, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            forget(g)

    t = threading.Timer(KILL_GRACE_S, finish)
    t.daemon = True
    t.start()
