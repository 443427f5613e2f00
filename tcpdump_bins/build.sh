#!/usr/bin/env bash
# Build droidcap's static tcpdump for the four Android ABIs, reproducibly, from Debian's sources.
#
#   tcpdump_bins/build.sh           build and replace <abi>/tcpdump, SHA256SUMS, BUILDINFO, LICENSES/
#   tcpdump_bins/build.sh --check   rebuild in a temporary directory with a cold compiler cache
#                                   and compare with what is committed here; exit 1 on any difference
#
# Runs as root (or with sudo) on Debian 12.  It installs its own Debian packages, makes its own venv
# with the pinned zig from PyPI (zig-requirements.txt), fetches the pinned libpcap and tcpdump
# source packages with a private apt configuration (deb-src entries included, the system's apt
# sources untouched) and builds from the pristine upstream .orig tarballs.  See
# docs/tcpdump-binaries.md for why each flag is there.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD="$HERE/.build"          # gitignored: venv, apt state, sources, zig cache, work trees
J=2                           # the build machines are shared: never more than two jobs

# --- Pins: change these together, rebuild, commit the new binaries/SHA256SUMS/BUILDINFO. --------
DEBIAN_SUITE=bookworm
LIBPCAP_VERSION=1.10.3  LIBPCAP_DEBIAN=1.10.3-1
LIBPCAP_ORIG_SHA256=2a8885c403516cf7b0933ed4b14d6caa30e02052489ebd414dc75ac52e7559e6
TCPDUMP_VERSION=4.99.3  TCPDUMP_DEBIAN=4.99.3-1
TCPDUMP_ORIG_SHA256=ad75a6ed3dc0d9732945b2e5483cb41dc8b4b528a169315e499c6861952e73b3
# The date of the tcpdump 4.99.3-1 upload (debian/changelog): a fixed clock for every tool that
# would otherwise stamp the build time.
SOURCE_DATE_EPOCH=1673717005
ABIS=(arm64-v8a armeabi-v7a x86 x86_64)
# Android 15+ devices may run with 16 KiB pages: a binary whose PT_LOAD segments are only 4 KiB
# aligned will not load there.  Used for every ABI: it costs nothing on 4 KiB kernels and keeps
# the four builds alike.
PAGE_SIZE=16384

APT_NEEDS=(dpkg-dev flex bison make bc python3 python3-venv xz-utils ca-certificates
           debian-archive-keyring apt)

say() { printf '[tcpdump_bins] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# zig target triple, configure --host and -mcpu for an ABI.  The CPUs are the ABIs' floors:
# armeabi-v7a guarantees only ARMv7-A + Thumb-2 + VFPv3-D16 (no NEON, 16 double registers), and
# zig's default v7 CPU would use NEON and D32; x86 is i686 (Android's x86 ABI promises more, but
# nothing in tcpdump needs it).
abi_target() {
  case "$1" in
    arm64-v8a)   echo "aarch64-linux-musl aarch64-linux-musl generic" ;;
    armeabi-v7a) echo "arm-linux-musleabihf arm-linux-musleabihf generic+v7a+thumb2+vfp3d16-neon-d32" ;;
    x86)         echo "x86-linux-musl i686-linux-musl i686" ;;
    x86_64)      echo "x86_64-linux-musl x86_64-linux-musl x86_64" ;;
    *) die "unknown ABI $1" ;;
  esac
}

need_apt() {
  local missing=() p sudo=""
  for p in "${APT_NEEDS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_zig() {
  local venv="$BUILD/venv" stamp="$BUILD/venv/.zig-requirements"
  if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    /usr/bin/python3 -m venv "$venv"
  fi
  if ! cmp -s "$HERE/zig-requirements.txt" "$stamp"; then
    say "installing the pinned ziglang wheel"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
      -r "$HERE/zig-requirements.txt"
    cp "$HERE/zig-requirements.txt" "$stamp"
  fi
  ZIGDIR=$("$venv/bin/python" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
  ZIG="$ZIGDIR/zig"
  ZIG_VERSION=$("$ZIG" version)
  ZIG_WHEEL_SHA256=$(sed -n 's/.*--hash=sha256:\([0-9a-f]*\).*/\1/p' "$HERE/zig-requirements.txt")
  ZIG_PIP_VERSION=$(sed -n 's/^ziglang==\([^ ]*\).*/\1/p' "$HERE/zig-requirements.txt")
  [ "$ZIG_VERSION" = "$ZIG_PIP_VERSION" ] || die "zig says $ZIG_VERSION, the pin is $ZIG_PIP_VERSION"
  # The compiler's own caches live under .build, not in ~/.cache.
  export ZIG_GLOBAL_CACHE_DIR="$BUILD/zig-cache" ZIG_LOCAL_CACHE_DIR="$BUILD/zig-cache"
}

# Private apt state: deb-src lines for the pinned suite, lists and cache under .build.  The system's
# /etc/apt is neither read for sources nor written, and no system lock is taken.
apt_private() {
  local d="$BUILD/apt"
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts"
  local key=/usr/share/keyrings/debian-archive-keyring.gpg
  cat > "$d/sources.list" <<EOF
deb-src [signed-by=$key] http://deb.debian.org/debian $DEBIAN_SUITE main
deb-src [signed-by=$key] http://deb.debian.org/debian $DEBIAN_SUITE-updates main
deb-src [signed-by=$key] http://deb.debian.org/debian-security $DEBIAN_SUITE-security main
EOF
  apt-get -q -o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts="$d/parts" \
    -o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" -o Debug::NoLocking=1 \
    -o APT::Sandbox::User=root "$@"
}

fetch_sources() {
  SRC="$BUILD/src"
  mkdir -p "$SRC"
  local sums="$LIBPCAP_ORIG_SHA256  $SRC/libpcap_$LIBPCAP_VERSION.orig.tar.gz
$TCPDUMP_ORIG_SHA256  $SRC/tcpdump_$TCPDUMP_VERSION.orig.tar.gz"
  if ! echo "$sums" | sha256sum --quiet -c - >/dev/null 2>&1 \
     || ! ls "$SRC"/libpcap_*.debian.tar.xz "$SRC"/tcpdump_*.debian.tar.xz >/dev/null 2>&1; then
    say "fetching Debian source packages libpcap=$LIBPCAP_DEBIAN tcpdump=$TCPDUMP_DEBIAN"
    apt_private update -qq >/dev/null
    if ! (cd "$SRC" && apt_private source --download-only \
            "libpcap=$LIBPCAP_DEBIAN" "tcpdump=$TCPDUMP_DEBIAN" >/dev/null); then
      # Debian replaces a revision when it publishes a (security) update; such an update normally
      # keeps the upstream tarball, and only that is compiled.  The hash check below decides.
      say "pinned Debian revisions unavailable; trying the current $DEBIAN_SUITE ones"
      (cd "$SRC" && apt_private source --download-only libpcap tcpdump >/dev/null)
    fi
  fi
  # apt checked these against the signed archive; the pins make a changed upload a hard error.
  echo "$sums" | sha256sum --quiet -c - || die "an .orig tarball does not match its pinned SHA-256"
  # debian/copyright comes from the pinned revision, or else the newest one fetched.
  LIBPCAP_DEBIAN_TAR=$(ls "$SRC/libpcap_$LIBPCAP_DEBIAN.debian.tar.xz" 2>/dev/null \
                       || ls "$SRC"/libpcap_*.debian.tar.xz | sort -V | tail -n 1)
  TCPDUMP_DEBIAN_TAR=$(ls "$SRC/tcpdump_$TCPDUMP_DEBIAN.debian.tar.xz" 2>/dev/null \
                       || ls "$SRC"/tcpdump_*.debian.tar.xz | sort -V | tail -n 1)
}

# Build one ABI in $WORK/<abi>: libpcap (static) into a private prefix, then tcpdump against it.
build_abi() {
  local abi=$1 out=$2
  local triple host cpu
  read -r triple host cpu < <(abi_target "$abi")
  local w="$WORK/$abi"
  rm -rf "$w"; mkdir -p "$w/bin" "$w/src" "$w/prefix"
  tar -C "$w/src" -xzf "$SRC/libpcap_$LIBPCAP_VERSION.orig.tar.gz"
  tar -C "$w/src" -xzf "$SRC/tcpdump_$TCPDUMP_VERSION.orig.tar.gz"

  # Wrappers, so configure's probes compile and link exactly like the real build does.
  printf '#!/bin/sh\nexec "%s" cc -target %s -mcpu=%s "$@"\n' "$ZIG" "$triple" "$cpu" > "$w/bin/cc"
  printf '#!/bin/sh\nexec "%s" ar "$@"\n' "$ZIG" > "$w/bin/ar"
  printf '#!/bin/sh\nexec "%s" ranlib "$@"\n' "$ZIG" > "$w/bin/ranlib"
  chmod +x "$w/bin/"*

  # -ffile-prefix-map: no build path in the output, whatever directory this runs in.
  # -s: strip at link time (zig objcopy cannot strip, host strip does not know ARM).
  local cflags="-O2 -ffile-prefix-map=$w=/build -ffile-prefix-map=$ZIGDIR=/zig"
  local ldflags="-static -s -Wl,-z,max-page-size=$PAGE_SIZE -Wl,--build-id=none"
  local common=(--build="$(uname -m)-pc-linux-gnu" --host="$host" --prefix="$w/prefix"
                CC="$w/bin/cc" AR="$w/bin/ar" RANLIB="$w/bin/ranlib" CFLAGS="$cflags" LDFLAGS="$ldflags")
  # Nothing but the static libpcap just built may be found through pkg-config.
  export PKG_CONFIG=false

  local pcap_conf=(--disable-shared --with-pcap=linux --without-libnl --disable-usb --disable-netmap
                   --disable-bluetooth --disable-dbus --disable-rdma --disable-remote --without-dpdk)
  # Upstream tcpdump: no privilege-drop user, no chroot; Debian's patches are deliberately not
  # applied (one of them looks up the user even without -Z, and Android has no /etc/passwd).
  # (No --with-user/--with-chroot: tcpdump's configure takes even "--without-user" as the user
  # name "no", so the guard below checks config.h instead.)
  local tcpdump_conf=(--disable-local-libpcap --without-crypto --without-smi --without-cap-ng)
  local log="$w/build.log"
  say "$abi: building libpcap $LIBPCAP_VERSION and tcpdump $TCPDUMP_VERSION ($triple, -mcpu=$cpu; log $log)"
  (
    cd "$w/src/libpcap-$LIBPCAP_VERSION"
    ./configure "${common[@]}" "${pcap_conf[@]}"
    make -j"$J"
    make install
    cd "$w/src/tcpdump-$TCPDUMP_VERSION"
    PATH="$w/prefix/bin:$PATH" ./configure "${common[@]}" "${tcpdump_conf[@]}"
    if grep -E '^#define (WITH_USER|WITH_CHROOT)' config.h; then
      echo "tcpdump would drop privileges or chroot by default"; exit 1
    fi
    PATH="$w/prefix/bin:$PATH" make -j"$J" tcpdump
  ) > "$log" 2>&1 || { tail -40 "$log" >&2; die "$abi: build failed (full log: $log)"; }

  mkdir -p "$out/$abi"
  install -m 0755 "$w/src/tcpdump-$TCPDUMP_VERSION/tcpdump" "$out/$abi/tcpdump"
  BUILDINFO_ABI+="
[$abi]
zig_target=$triple
zig_mcpu=$cpu
configure_host=$host
cflags=-O2 -ffile-prefix-map=<work>=/build -ffile-prefix-map=<zig>=/zig
ldflags=$ldflags
libpcap_configure=${pcap_conf[*]}
tcpdump_configure=${tcpdump_conf[*]}
sha256=$(sha256sum < "$out/$abi/tcpdump" | cut -d' ' -f1)
"
}

copy_licences() {
  local out=$1 t
  mkdir -p "$out/LICENSES"
  t=$(mktemp -d)
  tar -C "$t" -xzf "$SRC/libpcap_$LIBPCAP_VERSION.orig.tar.gz" "libpcap-$LIBPCAP_VERSION/LICENSE"
  tar -C "$t" -xzf "$SRC/tcpdump_$TCPDUMP_VERSION.orig.tar.gz" "tcpdump-$TCPDUMP_VERSION/LICENSE"
  install -m 0644 "$t/libpcap-$LIBPCAP_VERSION/LICENSE" "$out/LICENSES/libpcap-LICENSE"
  install -m 0644 "$t/tcpdump-$TCPDUMP_VERSION/LICENSE" "$out/LICENSES/tcpdump-LICENSE"
  tar -xJOf "$LIBPCAP_DEBIAN_TAR" debian/copyright > "$out/LICENSES/libpcap-debian-copyright"
  tar -xJOf "$TCPDUMP_DEBIAN_TAR" debian/copyright > "$out/LICENSES/tcpdump-debian-copyright"
  # musl (MIT) is the C library linked in; zig's compiler_rt (MIT, zig's LICENSE) too.
  install -m 0644 "$ZIGDIR/lib/libc/musl/COPYRIGHT" "$out/LICENSES/musl-COPYRIGHT"
  install -m 0644 "$ZIGDIR/LICENSE" "$out/LICENSES/zig-LICENSE"
  chmod 0644 "$out/LICENSES/"*
  rm -rf "$t"
}

write_meta() {
  local out=$1 abi
  (cd "$out" && for abi in "${ABIS[@]}"; do sha256sum "$abi/tcpdump"; done) > "$out/SHA256SUMS"
  local musl_version
  musl_version=$(sed -n 's/^#define VERSION "\(.*\)"/\1/p' "$ZIGDIR/lib/libc/musl/src/internal/version.h" 2>/dev/null || true)
  {
    echo "# What went into the binaries beside this file; written by build.sh, reproducible itself."
    echo "# Rebuild and compare: tcpdump_bins/build.sh --check   (docs/tcpdump-binaries.md)"
    echo "debian_suite=$DEBIAN_SUITE"
    echo "libpcap_debian_source=libpcap $(basename "$LIBPCAP_DEBIAN_TAR" .debian.tar.xz | cut -d_ -f2)"
    echo "libpcap_orig=libpcap_$LIBPCAP_VERSION.orig.tar.gz sha256=$LIBPCAP_ORIG_SHA256"
    echo "tcpdump_debian_source=tcpdump $(basename "$TCPDUMP_DEBIAN_TAR" .debian.tar.xz | cut -d_ -f2)"
    echo "tcpdump_orig=tcpdump_$TCPDUMP_VERSION.orig.tar.gz sha256=$TCPDUMP_ORIG_SHA256"
    echo "debian_patches=none (built from the pristine .orig tarballs)"
    echo "compiler=ziglang $ZIG_PIP_VERSION from PyPI, wheel sha256=$ZIG_WHEEL_SHA256"
    echo "zig_version=$ZIG_VERSION"
    echo "clang_version=$("$ZIG" cc --version | head -1)"
    echo "libc=musl ${musl_version:-unknown} (bundled with zig), linked statically"
    echo "source_date_epoch=$SOURCE_DATE_EPOCH"
    echo "page_size=$PAGE_SIZE"
    printf '%s' "$BUILDINFO_ABI"
  } > "$out/BUILDINFO"
}

main() {
  local check=0
  case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac

  export LC_ALL=C TZ=UTC SOURCE_DATE_EPOCH
  umask 022
  need_apt
  need_zig
  fetch_sources

  STAGE=""
  STAGE=$(mktemp -d "${TMPDIR:-/tmp}/tcpdump_bins.XXXXXX")
  trap 'rm -rf "$STAGE"' EXIT
  if [ $check -eq 1 ]; then
    WORK="$STAGE/work"      # a different directory from a normal build: the path must not matter
    # and a cold compiler cache: zig rebuilds musl and compiler_rt too, nothing is reused.
    export ZIG_GLOBAL_CACHE_DIR="$STAGE/zig-cache" ZIG_LOCAL_CACHE_DIR="$STAGE/zig-cache"
  else
    WORK="$BUILD/work"
  fi
  BUILDINFO_ABI=""
  local abi
  for abi in "${ABIS[@]}"; do build_abi "$abi" "$STAGE/out"; done
  copy_licences "$STAGE/out"
  write_meta "$STAGE/out"

  if [ $check -eq 1 ]; then
    local rc=0 f
    for f in SHA256SUMS BUILDINFO; do
      if ! diff -u "$HERE/$f" "$STAGE/out/$f" >&2; then rc=1; fi
    done
    if ! (cd "$HERE" && sha256sum --quiet -c SHA256SUMS); then rc=1; fi
    if [ $rc -eq 0 ]; then
      say "check passed: the rebuild is byte-identical to the committed binaries"
      cat "$STAGE/out/SHA256SUMS"
    else
      say "check FAILED: the rebuild differs from the committed files (see above)"
    fi
    exit $rc
  fi

  # Replace the committed files only once everything has been built: never a half-updated set.
  for abi in "${ABIS[@]}"; do
    mkdir -p "$HERE/$abi"
    mv -f "$STAGE/out/$abi/tcpdump" "$HERE/$abi/tcpdump"
  done
  rm -rf "$HERE/LICENSES"; mv "$STAGE/out/LICENSES" "$HERE/LICENSES"
  mv -f "$STAGE/out/BUILDINFO" "$HERE/BUILDINFO"
  mv -f "$STAGE/out/SHA256SUMS" "$HERE/SHA256SUMS"
  say "done:"
  cat "$HERE/SHA256SUMS"
}

main "$@"
