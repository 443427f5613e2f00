"""``sync:`` — the file transfer service behind ``adb push/pull/ls`` (file_sync_protocol.h).

Every request is ``id:4s length:u32le path``; paths are device paths, mapped to the sandbox by
``resolve``.  Replies are batched into WRTEs of up to the connection's maxdata, which is what makes
a 50 MB pull take a fraction of a second instead of thousands of round trips.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Callable
from pathlib import Path

from droidcap.virtual.transport import Stream, StreamReader

SYNC_DATA_MAX = 64 * 1024
MAX_PATH = 1024
_REQ = struct.Struct("<4sI")
_STAT_V1 = struct.Struct("<4sIII")
_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
_DENT_V1 = struct.Struct("<4sIIII")
_DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")
_SEND_V2 = struct.Struct("<4sII")
_RECV_V2 = struct.Struct("<4sI")

Resolver = Callable[[str], Path]
#: uid/gid that files and directories created by SEND belong to (adbd's own uid); None: root.
Owner = tuple[int, int] | None


class _Out:
    """Reply buffer flushed in maxdata-sized WRTEs."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.buf = bytearray()

    def add(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) >= self.stream.conn.max_payload:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            data, self.buf = bytes(self.buf), bytearray()
            self.stream.send(data)


def _fail(out: _Out, message: str) -> None:
    msg = message.encode()
    out.add(_REQ.pack(b"FAIL", len(msg)) + msg)


def _stat_v2(ident: bytes, st: os.stat_result | None, err: int) -> bytes:
    if st is None:
        return _STAT_V2.pack(ident, err, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return _STAT_V2.pack(ident, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid,
                         st.st_gid, st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


def run_sync(stream: Stream, resolve: Resolver, owner: Owner = None) -> None:
    reader = StreamReader(stream)
    out = _Out(stream)
    while True:
        head = reader.read_exact(_REQ.size)
        if head is None:
            return
        ident, length = _REQ.unpack(head)
        if ident == b"QUIT":
            out.flush()
            return
        if length > MAX_PATH:
            _fail(out, f"path too long: {length}")
            out.flush()
            return
        raw = reader.read_exact(length)
        if raw is None:
            return
        path = raw.decode("utf-8", "surrogateescape")
        if ident == b"STAT":
            out.add(_stat_v1(resolve(path)))
        elif ident in (b"STA2", b"LST2"):
            try:
                hp = resolve(path)
                st = os.stat(hp) if ident == b"STA2" else os.lstat(hp)
                out.add(_stat_v2(ident, st, 0))
            except OSError as err:
                out.add(_stat_v2(ident, None, err.errno or errno.EIO))
        elif ident in (b"LIST", b"LIS2"):
            _list(out, resolve(path), v2=ident == b"LIS2")
        elif ident in (b"SEND", b"SND2"):
            if not _send(reader, out, resolve, path, v2=ident == b"SND2", owner=owner):
                return
        elif ident in (b"RECV", b"RCV2"):
            if ident == b"RCV2":
                setup = reader.read_exact(_RECV_V2.size)
                if setup is None:
                    return
                _, flags = _RECV_V2.unpack(setup)
                if flags & 0x7:
                    _fail(out, "compression is not supported by this device")
                    out.flush()
                    continue
            _recv(out, resolve(path), owner)
        else:
            _fail(out, f"unknown sync command {ident!r}")
            out.flush()
            return
        out.flush()


def _stat_v1(hp: Path) -> bytes:
    try:
        st = os.lstat(hp)
    except OSError:
        return _STAT_V1.pack(b"STAT", 0, 0, 0)
    return _STAT_V1.pack(b"STAT", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                         int(st.st_mtime) & 0xFFFFFFFF)


def _list(out: _Out, hp: Path, *, v2: bool) -> None:
    try:
        names = [".", "..", *sorted(os.listdir(hp))]
    except OSError:
        names = []
    for name in names:
        try:
            st = os.lstat(os.path.join(hp, name))
        except OSError:
            continue
        raw = name.encode("utf-8", "surrogateescape")
        if v2:
            out.add(_DENT_V2.pack(b"DNT2", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink,
                                  st.st_uid, st.st_gid, st.st_size, int(st.st_atime),
                                  int(st.st_mtime), int(st.st_ctime), len(raw)) + raw)
        else:
            out.add(_DENT_V1.pack(b"DENT", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                                  int(st.st_mtime) & 0xFFFFFFFF, len(raw)) + raw)
    if v2:
        out.add(_DENT_V2.pack(b"DONE", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    else:
        out.add(_DENT_V1.pack(b"DONE", 0, 0, 0, 0))


def _allowed(st: os.stat_result, owner: Owner, bit: int) -> bool:
    """Would adbd running as ``owner`` get ``bit`` (4 read, 2 write, 1 search; all
    bits asked for must be granted) on this inode?
    The daemon itself is root, so it checks the mode bits the way the kernel would for uid 2000."""
    if owner is None:
        return True
    uid, gid = owner
    shift = 6 if st.st_uid == uid else 3 if st.st_gid == gid else 0
    return (st.st_mode >> shift) & bit == bit


def _check_writable_parent(directory: Path, owner: Owner) -> None:
    d = directory
    while not d.exists() and d != d.parent:
        d = d.parent
    if os.statvfs(d).f_flag & os.ST_RDONLY:  # the kernel reports EROFS before EACCES
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    if not _allowed(os.stat(d), owner, 2 | 1):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def _mkdirs(directory: Path, owner: Owner) -> None:
    """Create missing parents, owned by adbd's uid like adbd's secure_mkdirs."""
    missing = []
    d = directory
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        d.mkdir(mode=0o775)
        if owner is not None:
            os.chown(d, *owner)


def _send(reader: StreamReader, out: _Out, resolve: Resolver, path: str, *, v2: bool,
          owner: Owner) -> bool:
    """Receive one file.  Errors are reported after the host's DONE (it only reads the status
    then), and a device-side failure still drains the data so the stream stays in sync."""
    if v2:
        setup = reader.read_exact(_SEND_V2.size)
        if setup is None:
            return False
        _, mode, flags = _SEND_V2.unpack(setup)
        if flags & 0x7:
            _fail(out, "compression is not supported by this device")
            return False
    else:
        path, _, mode_text = path.rpartition(",")
        try:
            mode = int(mode_text)
        except ValueError:
            _fail(out, f"bad SEND mode {mode_text!r}")
            return False
    hp = resolve(path)
    error: str | None = None
    fd = -1
    link_target = bytearray()
    is_link = stat.S_ISLNK(mode)
    try:
        _check_writable_parent(hp.parent, owner)
        _mkdirs(hp.parent, owner)
        if not is_link:
            if hp.exists() and not _allowed(os.stat(hp), owner, 2):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            if hp.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            fd = os.open(hp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                         stat.S_IMODE(mode) or 0o644)
    except OSError as err:
        error = f"couldn't create file: {err.strerror}"
    mtime = 0
    while True:
        head = reader.read_exact(8)
        if head is None:
            if fd >= 0:
                os.close(fd)
            return False
        ident, size = _REQ.unpack(head)
        if ident == b"DONE":
            mtime = size
            break
        if ident != b"DATA" or size > SYNC_DATA_MAX:
            if fd >= 0:
                os.close(fd)
            _fail(out, f"invalid data message {ident!r}")
            return False
        data = reader.read_exact(size)
        if data is None:
            return False
        if error is not None:
            continue
        try:
            if is_link:
                link_target += data
            else:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
        except OSError as err:
            error = f"write failed: {err.strerror}"
    try:
        if fd >= 0:
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, stat.S_IMODE(mode) or 0o644)
            os.close(fd)
        if error is None and is_link:
            if hp.is_symlink() or hp.exists():
                hp.unlink()
            os.symlink(bytes(link_target).decode("utf-8", "surrogateescape"), hp)
            if owner is not None:
                os.lchown(hp, *owner)
        if error is None and not is_link:
            os.utime(hp, (mtime, mtime))
    except OSError as err:
        error = error or f"couldn't finish file: {err.strerror}"
    if error is not None:
        _fail(out, error)
    else:
        out.add(_REQ.pack(b"OKAY", 0))
    return True


def _recv(out: _Out, hp: Path, owner: Owner) -> None:
    try:
        fd = os.open(hp, os.O_RDONLY | os.O_CLOEXEC)
        if not _allowed(os.fstat(fd), owner, 4):
            os.close(fd)
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as err:
        _fail(out, f"open failed: {err.strerror}")
        return
    try:
        while True:
            data = os.read(fd, SYNC_DATA_MAX)
            if not data:
                break
            out.add(_REQ.pack(b"DATA", len(data)) + data)
    except OSError as err:
        _fail(out, f"read failed: {err.strerror}")
        return
    finally:
        os.close(fd)
    out.add(_REQ.pack(b"DONE", 0))
