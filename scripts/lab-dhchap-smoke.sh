#!/usr/bin/env bash
# NVMe in-band authentication (DH-HMAC-CHAP) smoke test, kernel to kernel, inside the lab guest:
# the kernel's nvmet target (configfs, file-backed namespace, TCP 127.0.0.1:4420) against its
# nvme-tcp host, driven by nvme-cli. Needs NVME_HOST_AUTH + NVME_TARGET_AUTH (Debian 6.12):
#   LAB_KERNEL_SUITE=bookworm-backports LAB_SHARE=$PWD lab/lab.sh run 'bash /host/scripts/lab-dhchap-smoke.sh'
# Cases: unidirectional (hmac(sha256), ffdhe2048) with the right secret, a wrong one and none;
# bidirectional (dhchap_ctrl_key) with the right and a wrong controller secret; then a few
# hash/group/key-transform combinations. Exits non-zero if any check fails.
set -uo pipefail
N=/sys/kernel/config/nvmet
SUBNQN=nqn.2014-08.io.rdmagate:dhchap-smoke
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)
PORT=4420 PORTID=4420 IMG=/tmp/dhchap-smoke.img
H=$N/hosts/$HOSTNQN S=$N/subsystems/$SUBNQN P=$N/ports/$PORTID
fail=0
. "$(dirname "${BASH_SOURCE[0]}")/lab-smoke-lib.sh" || exit 1   # bad now ctrl blockdev disconnect expect_fail nvmet_teardown
ok() { echo "ok   - $*"; }
MARK=0
new_logs() {    # kernel log lines since the last call (nvme/nvmet/auth only)
  local n; n=$(dmesg | wc -l)
  dmesg | tail -n +$((MARK + 1)) | grep -iE 'nvme|auth|dhchap' | sed 's/^/    dmesg: /'
  MARK=$n
}
connect() {     # connect ARGS...: nvme connect to $SUBNQN as $HOSTNQN
  local t=$(now) rc
  timeout 60 nvme connect -t tcp -a 127.0.0.1 -s $PORT -n $SUBNQN --hostnqn "$HOSTNQN" "$@" 2>&1 | sed 's/^/    nvme: /'
  rc=${PIPESTATUS[0]}
  echo "    (nvme connect rc=$rc, $(awk -v a=$t -v b=$(now) 'BEGIN{printf "%.2f", b-a}')s)"
  return $rc
}
expect_ok() {   # expect_ok DESC ARGS...: connect, read from the namespace, disconnect
  local desc=$1 c d i; shift
  echo "### $desc"
  if connect "$@"; then
    for i in $(seq 50); do d=$(blockdev); [ -n "$d" ] && break; sleep 0.1; done
    c=$(ctrl)
    if [ -z "$c" ]; then bad "$desc: nvme connect succeeded, but no controller for $SUBNQN"
    elif [ -z "$d" ]; then bad "$desc: $c has no namespace block device"
    elif ! dd if=/dev/$d of=/dev/null bs=4k count=256 iflag=direct status=none; then bad "$desc: read from /dev/$d failed"
    else
      nvme list 2>/dev/null | grep -E "^/dev/$d " | sed 's/^/    list: /'
      echo "    $c: dhchap_secret=$(cat /sys/class/nvme/$c/dhchap_secret 2>/dev/null | cut -c1-24)... dhchap_ctrl_secret=$(cat /sys/class/nvme/$c/dhchap_ctrl_secret 2>/dev/null | cut -c1-24)..."
      ok "$desc: connected ($c, /dev/$d), 1 MiB read"
    fi
    disconnect
  else
    bad "$desc: nvme connect failed"
  fi
  new_logs
}
set_host() {    # set_host HASH DHGROUP KEY [CTRLKEY]: the target's view of $HOSTNQN
  echo "$1" > "$H/dhchap_hash" && echo "$2" > "$H/dhchap_dhgroup" && echo "$3" > "$H/dhchap_key" \
    && { [ -z "${4:-}" ] || echo "$4" > "$H/dhchap_ctrl_key"; } \
    || { bad "configfs: cannot set $1 $2 on $H"; return 1; }
}
cleanup() {
  nvmet_teardown
  rm -f $IMG
}
trap cleanup EXIT

echo "### setup: $(uname -r), $(nvme version | head -1)"
modprobe -a nvmet nvmet-tcp nvme-tcp || { echo "FAIL - modprobe nvmet nvmet-tcp nvme-tcp"; exit 1; }
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
[ -d $N/hosts ] || { echo "FAIL - no $N/hosts"; exit 1; }
truncate -s 64M $IMG
mkdir "$H" || { echo "FAIL - mkdir $H"; exit 1; }
[ -e "$H/dhchap_key" ] || { echo "FAIL - $H has no dhchap_key: kernel without NVME_TARGET_AUTH"; exit 1; }
mkdir "$S" && echo 0 > "$S/attr_allow_any_host" && mkdir "$S/namespaces/1" \
  && echo $IMG > "$S/namespaces/1/device_path" && echo 1 > "$S/namespaces/1/buffered_io" \
  && echo 1 > "$S/namespaces/1/enable" && ln -s "$H" "$S/allowed_hosts/$HOSTNQN" \
  && mkdir "$P" && echo tcp > "$P/addr_trtype" && echo ipv4 > "$P/addr_adrfam" \
  && echo 127.0.0.1 > "$P/addr_traddr" && echo $PORT > "$P/addr_trsvcid" && ln -s "$S" "$P/subsystems/$SUBNQN" \
  || { echo "FAIL - nvmet configfs setup"; exit 1; }
echo "    target: $SUBNQN on tcp 127.0.0.1:$PORT, ns 1 = $IMG, allowed host $HOSTNQN"
KEY=$(nvme gen-dhchap-key -n "$HOSTNQN") && CKEY=$(nvme gen-dhchap-key -n "$SUBNQN") && WRONG=$(nvme gen-dhchap-key -n "$HOSTNQN") \
  || { echo "FAIL - nvme gen-dhchap-key"; exit 1; }
echo "    host key $KEY"; echo "    ctrl key $CKEY"; echo "    wrong    $WRONG"
set_host 'hmac(sha256)' ffdhe2048 "$KEY" || exit 1
new_logs >/dev/null

expect_ok   "unidirectional, hmac(sha256) ffdhe2048, right secret" --dhchap-secret "$KEY"
expect_fail "unidirectional, wrong secret" --dhchap-secret "$WRONG"
expect_fail "unidirectional, no secret"
set_host 'hmac(sha256)' ffdhe2048 "$KEY" "$CKEY" || exit 1
expect_ok   "bidirectional, hmac(sha256) ffdhe2048, right controller secret" --dhchap-secret "$KEY" --dhchap-ctrl-secret "$CKEY"
expect_fail "bidirectional, wrong controller secret" --dhchap-secret "$KEY" --dhchap-ctrl-secret "$WRONG"
expect_fail "bidirectional, wrong host secret" --dhchap-secret "$WRONG" --dhchap-ctrl-secret "$CKEY"
# other hashes and groups; keys transformed (nvme gen-dhchap-key -m: HMAC over the NQN)
for combo in "hmac(sha384) ffdhe3072 2 48" "hmac(sha512) ffdhe4096 3 64" "hmac(sha256) null 1 32"; do
  set -- $combo
  k=$(nvme gen-dhchap-key -n "$HOSTNQN" -m $3 -l $4) && c=$(nvme gen-dhchap-key -n "$SUBNQN" -m $3 -l $4) \
    || { bad "nvme gen-dhchap-key -m $3 -l $4"; continue; }
  set_host "$1" "$2" "$k" "$c" || continue
  expect_ok "bidirectional, $1 $2, $4-byte keys transformed with hmac $3" --dhchap-secret "$k" --dhchap-ctrl-secret "$c"
done

echo "### done: $([ $fail = 0 ] && echo all passed || echo FAILURES)"
exit $fail
