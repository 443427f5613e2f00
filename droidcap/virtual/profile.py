"""Device profiles: what a virtual device claims to be.

A profile is the one place that decides the device's identity (getprop, the CNXN banner), its root
story (which ``su`` exists, whether ``adb root`` works) and its installed apps.  Profiles load from
a small TOML file or come built in (:data:`BUILTIN_PROFILES`), so lab files can name one.
"""

from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from droidcap.errors import DeviceError

#: adbd's port for adb over Wi-Fi (``adb tcpip 5555``).
ADB_TCP_PORT = 5555


class RootMethod(enum.StrEnum):
    """How a user gets root on the device; each mirrors a real tool's interface and refusals."""

    MAGISK = "magisk"      #: ``su -c CMD`` (Magisk/SuperSU); ``su`` alone is a root shell
    AOSP_SU = "aosp-su"    #: ``su 0 CMD`` / ``su root CMD`` (userdebug/emulator su); ``-c`` refused
    ADB_ROOT = "adb-root"  #: no su binary; ``adb root`` restarts adbd as root (userdebug only)
    NONE = "none"          #: no su, production build: ``adb root`` refused


class BuildType(enum.StrEnum):
    USER = "user"
    USERDEBUG = "userdebug"
    ENG = "eng"


class ProfileError(DeviceError):
    """A profile file or name is invalid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AppPackage:
    """An installed app: ``pm list packages -U`` shows it and ``am start -n`` runs as it."""

    name: str
    uid: int
    #: What ``am start -d rtmp://URL`` makes it do: ``player`` plays the URL; ``publisher``
    #: (a broadcasting app, camera and microphone) publishes to it.
    role: str = "player"


DEFAULT_APPS: tuple[AppPackage, ...] = (
    AppPackage(name="org.videolan.vlc", uid=10123),
    AppPackage(name="com.example.rtmpplayer", uid=10124),
    AppPackage(name="com.example.rtmppublisher", uid=10125, role="publisher"),
    AppPackage(name="com.android.chrome", uid=10110),
)
#: Packages every Android build has; listed before the profile's apps.
SYSTEM_APPS: tuple[AppPackage, ...] = (
    AppPackage(name="android", uid=1000),
    AppPackage(name="com.android.shell", uid=2000),
    AppPackage(name="com.android.settings", uid=1000),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceProfile:
    """Everything a virtual device pretends to be."""

    name: str = "emulator"
    serialno: str = "VDROID0001"
    manufacturer: str = "Google"
    brand: str = "google"
    model: str = "sdk_gphone64_x86_64"
    device: str = "emu64x"
    product: str = "sdk_gphone64_x86_64"
    release: str = "14"
    sdk: int = 34
    abis: tuple[str, ...] = ("x86_64", "arm64-v8a")
    build_type: BuildType = BuildType.USERDEBUG
    root_method: RootMethod = RootMethod.AOSP_SU
    selinux: str = "Enforcing"
    system_tcpdump: bool = False
    #: The RTMP player an ``am start`` launches: ``ffmpeg`` or ``rtmpdump``.
    player: str = "ffmpeg"
    #: Package that handles ``am start -a VIEW -d rtmp://...`` without ``-n``.
    default_player: str = "org.videolan.vlc"
    apps: tuple[AppPackage, ...] = DEFAULT_APPS
    #: How adb reaches the device: ``usb`` (a host-side socket the device's own capture never
    #: sees, as USB) or ``tcp`` (adbd listening on the device's wlan0, as adb over Wi-Fi:
    #: its traffic is on the device's network, so a capture that does not exclude it shows it).
    adb_transport: str = "usb"

    def __post_init__(self) -> None:
        if not self.abis:
            raise ProfileError(f"profile {self.name!r}: abis must not be empty")
        if self.player not in ("ffmpeg", "rtmpdump"):
            raise ProfileError(f"profile {self.name!r}: player must be ffmpeg or rtmpdump, not {self.player!r}")
        if self.root_method is RootMethod.ADB_ROOT and self.build_type is BuildType.USER:
            raise ProfileError(f"profile {self.name!r}: adb root needs a userdebug or eng build")
        for app in self.apps:
            if app.role not in ("player", "publisher"):
                raise ProfileError(f"profile {self.name!r}: app {app.name} has role {app.role!r}; "
                                   "roles are player and publisher")
        if self.adb_transport not in ("usb", "tcp"):
            raise ProfileError(f"profile {self.name!r}: adb_transport must be usb or tcp, not {self.adb_transport!r}")
        if self.selinux not in ("Enforcing", "Permissive"):
            raise ProfileError(f"profile {self.name!r}: selinux must be Enforcing or Permissive")

    @property
    def debuggable(self) -> bool:
        return self.build_type is not BuildType.USER

    def all_apps(self) -> tuple[AppPackage, ...]:
        return SYSTEM_APPS + self.apps

    def properties(self, *, adbd_root: bool = False) -> dict[str, str]:
        """Every system property the profile implies (what ``getprop`` prints)."""
        abi64 = [a for a in self.abis if a in ("arm64-v8a", "x86_64", "riscv64")]
        abi32 = [a for a in self.abis if a not in abi64]
        tags = "release-keys" if self.build_type is BuildType.USER else "test-keys"
        build_id = "UQ1A.240205.004"
        fingerprint = (f"{self.brand}/{self.product}/{self.device}:{self.release}/{build_id}/"
                       f"11215717:{self.build_type}/{tags}")
        props = {
            "ro.adb.secure": "1",
            "ro.boot.serialno": self.serialno,
            "ro.boot.selinux": self.selinux.lower(),
            "ro.build.characteristics": "default",
            "ro.build.fingerprint": fingerprint,
            "ro.build.id": build_id,
            "ro.build.tags": tags,
            "ro.build.type": str(self.build_type),
            "ro.build.version.release": self.release,
            "ro.build.version.release_or_codename": self.release,
            "ro.build.version.sdk": str(self.sdk),
            "ro.debuggable": "1" if self.debuggable else "0",
            "ro.hardware": self.device,
            "ro.product.board": self.device,
            "ro.product.brand": self.brand,
            "ro.product.cpu.abi": self.abis[0],
            "ro.product.cpu.abilist": ",".join(self.abis),
            "ro.product.cpu.abilist32": ",".join(abi32),
            "ro.product.cpu.abilist64": ",".join(abi64),
            "ro.product.device": self.device,
            "ro.product.manufacturer": self.manufacturer,
            "ro.product.model": self.model,
            "ro.product.name": self.product,
            "ro.secure": "1",
            "ro.serialno": self.serialno,
            "init.svc.adbd": "running",
            "service.adb.root": "1" if adbd_root else "0",
            **({"service.adb.tcp.port": str(ADB_TCP_PORT)} if self.adb_transport == "tcp" else {}),
            "sys.boot_completed": "1",
            "persist.sys.timezone": "UTC",
        }
        return dict(sorted(props.items()))

    def banner_properties(self) -> dict[str, str]:
        """The three properties adbd puts in its CNXN banner (``adb devices -l`` shows them)."""
        return {"ro.product.name": self.product, "ro.product.model": self.model,
                "ro.product.device": self.device}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "apps":
                value = [{"name": a.name, "uid": a.uid, "role": a.role} for a in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: DeviceProfile | None = None) -> DeviceProfile:
        """Build a profile from TOML/JSON data; unknown keys are an error (typos must not pass)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"base"})
        if unknown:
            raise ProfileError(f"unknown profile keys: {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        try:
            for key, raw in data.items():
                if key == "base":
                    continue
                value: Any = raw
                if key == "abis":
                    value = tuple(raw)
                elif key == "apps":
                    value = tuple(AppPackage(name=str(a["name"]), uid=int(a["uid"]),
                                             role=str(a.get("role", "player"))) for a in raw)
                elif key == "build_type":
                    value = BuildType(raw)
                elif key == "root_method":
                    value = RootMethod(raw)
                elif key == "sdk":
                    value = int(raw)
                kwargs[key] = value
            return replace(base, **kwargs) if base else cls(**kwargs)
        except (ValueError, TypeError, KeyError) as err:
            raise ProfileError(f"invalid profile: {err}") from None


BUILTIN_PROFILES: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        # An x86_64 emulator image: userdebug, AOSP su, adb root works.
        DeviceProfile(),
        # A Magisk-rooted phone on a production build (x86_64 so captures run natively).
        DeviceProfile(name="magisk", serialno="VDROIDMAGISK", manufacturer="Google", brand="google",
                      model="Pixel 7", device="panther", product="panther", release="14", sdk=34,
                      abis=("x86_64",), build_type=BuildType.USER, root_method=RootMethod.MAGISK),
        # An arm64 phone with Magisk: pushed arm64 binaries run through qemu-user when available.
        DeviceProfile(name="pixel-arm64", serialno="VDROIDARM64", manufacturer="Google",
                      brand="google", model="Pixel 8", device="shiba", product="shiba",
                      release="15", sdk=35, abis=("arm64-v8a", "armeabi-v7a", "armeabi"),
                      build_type=BuildType.USER, root_method=RootMethod.MAGISK),
        # A userdebug build without su: only `adb root` gives root.
        DeviceProfile(name="adb-root", serialno="VDROIDADBROOT", root_method=RootMethod.ADB_ROOT),
        # The Magisk phone debugged over Wi-Fi: adbd listens on the device's wlan0.
        DeviceProfile(name="magisk-wifi", serialno="VDROIDWIFI", manufacturer="Google",
                      brand="google", model="Pixel 7", device="panther", product="panther",
                      release="14", sdk=34, abis=("x86_64",), build_type=BuildType.USER,
                      root_method=RootMethod.MAGISK, adb_transport="tcp"),
        # A stock production phone: no root at all.
        DeviceProfile(name="stock", serialno="VDROIDSTOCK", manufacturer="samsung", brand="samsung",
                      model="SM-A546B", device="a54x", product="a54xnseea", release="13", sdk=33,
                      abis=("x86_64",), build_type=BuildType.USER, root_method=RootMethod.NONE),
    )
}


def load_profile(spec: str | Path | None) -> DeviceProfile:
    """A built-in profile by name, or a TOML file (optionally ``base = "NAME"`` to start from one)."""
    if spec is None:
        return BUILTIN_PROFILES["emulator"]
    text = str(spec)
    if text in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[text]
    path = Path(text)
    if not path.is_file():
        names = ", ".join(BUILTIN_PROFILES)
        raise ProfileError(f"no profile file {text!r} and no built-in profile of that name ({names})")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ProfileError(f"cannot read profile {text}: {err}") from None
    base_name = data.get("base")
    base = None
    if base_name is not None:
        if base_name not in BUILTIN_PROFILES:
            raise ProfileError(f"profile {text}: unknown base {base_name!r}")
        base = BUILTIN_PROFILES[base_name]
    data.setdefault("name", path.stem)
    return DeviceProfile.from_dict(data, base=base)


def with_serial(profile: DeviceProfile, serialno: str) -> DeviceProfile:
    """The same profile with another ro.serialno (several devices from one profile)."""
    return replace(profile, serialno=serialno)


__all__ = [
    "ADB_TCP_PORT",
    "BUILTIN_PROFILES",
    "AppPackage",
    "BuildType",
    "DeviceProfile",
    "ProfileError",
    "RootMethod",
    "load_profile",
    "with_serial",
]
