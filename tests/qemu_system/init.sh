#!/bin/sh
# /init of the arm64 test VM (see arm64_vm.py): busybox userland, no /etc at all — like Android,
# there is no /etc/passwd, /etc/services or resolv.conf.  It captures loopback TCP traffic it makes
# itself with droidcap's arm64-v8a and armeabi-v7a tcpdump (the 32-bit one in AArch32 compat mode,
# as on most phones), stops each capture with SIGINT as droidcap does on a phone, prints each pcap
# base64 on the console between markers, and powers the VM off.
#
# Console protocol, one line each (arm64_vm.parse_console reads it):
#   @@droidcap kernel <release> <machine>
#   @@droidcap version <abi> <first line of tcpdump --version>
#   @@droidcap rc <name> <exit status of tcpdump after SIGINT>
#   @@droidcap stderr <name> <one line of tcpdump's stderr>
#   @@droidcap begin <name>  /  base64 lines  /  @@droidcap end <name>
#   @@droidcap done
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
ip link set lo up

say() { echo "@@droidcap $*"; }
say kernel "$(uname -r)" "$(uname -m)"

PORT=5555

# capture NAME ABI MODE: MODE "file" writes with -w FILE on lo (Ethernet link type, no -U: SIGINT
# must flush), "stdout" streams -w - with -U on "any" (LINUX_SLL2), as `adb exec-out` would.
capture() {
  name=$1 abi=$2 mode=$3
  bin=/bins/$abi/tcpdump
  if [ "$mode" = file ]; then
    "$bin" -n -i lo -w "/tmp/$name.pcap" "tcp port $PORT" 2>"/tmp/$name.err" &
  else
    "$bin" -n -U -i any -w - "tcp port $PORT" >"/tmp/$name.pcap" 2>"/tmp/$name.err" &
  fi
  pid=$!
  i=0
  while ! grep -q "listening on" "/tmp/$name.err" && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
  # A listener that echoes nothing back, and a client that sends a marker the test looks for.
  timeout 20 nc -l -p $PORT >"/tmp/$name.recv" &
  lpid=$!
  sleep 0.5
  echo "droidcap-qemu-$name-payload" | timeout 20 nc 127.0.0.1 $PORT
  wait $lpid
  # TPACKET_V3 hands over a ring block when it fills or after tcpdump's 1 s timeout: wait for it.
  sleep 2
  kill -INT $pid
  wait $pid
  say rc "$name" $?
  while IFS= read -r line; do say stderr "$name" "$line"; done <"/tmp/$name.err"
  say begin "$name"
  base64 "/tmp/$name.pcap"
  say end "$name"
}

for abi in arm64-v8a armeabi-v7a; do
  say version "$abi" "$(/bins/$abi/tcpdump --version 2>&1 | head -n 1)"
  capture "$abi-file" "$abi" file
  capture "$abi-stdout" "$abi" stdout
done
say done
sync
poweroff -f
