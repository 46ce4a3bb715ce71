#!/usr/bin/env bash
# NVMe/TCP TLS (TLS 1.3, PSK) smoke test, kernel to kernel, inside a LAB_SUITE=trixie lab guest:
# the kernel's nvmet target (configfs, file-backed namespace, TCP 127.0.0.1:4420 with
# addr_tsas=tls1.3, addr_treq=required) against its nvme-tcp host, both handshaking through
# tlshd (ktls-utils), keys in the kernel's .nvme keyring, driven by nvme-cli 2.x:
#   LAB_SUITE=trixie LAB_SHARE=$PWD lab/lab.sh run 'bash /host/scripts/lab-tls-smoke.sh'
# With TLS_VECTORS=FILE (e.g. /host/test/fixtures/tls-psk-vectors.json) it also writes the
# known-answer vectors of nvme-cli/libnvme's PSK handling (interchange string, PSK identity v0
# and v1, the derived TLS PSK stored in the keyring = what tlshd hands to GnuTLS).
# Cases: TLS with the kernel's default PSK lookup (--tls) for identity v0 and v1 keys, with
# --tls-key (interchange string, and a key id), with a SHA-384 PSK; refusals: no --tls, wrong PSK.
# Each TLS connection is checked (kTLS sessions in /proc/net/tls_stat, tlshd's "Session
# description" = TLS version + cipher, the PSK identity tlshd used) and moves data (fio write +
# verify, dd round trip). TLSHD_DEBUG / TLSHD_TLS_DEBUG: tlshd's loglevel / GnuTLS debug level
# (default 1 / 0); tlshd's log is printed for a failing case (and all of it with TLSHD_LOG=1).
# Exits non-zero if a check fails.
set -uo pipefail
N=/sys/kernel/config/nvmet
SUBNQN=nqn.2024-01.io.rdmagate:tls-smoke
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)
PORT=4420 PORTID=4420 IMG=/tmp/tls-smoke.img TLSHD_LOG_FILE=/tmp/tlshd.log
H=$N/hosts/$HOSTNQN S=$N/subsystems/$SUBNQN P=$N/ports/$PORTID
# fixed configured PSKs (reproducible): 00 01 .. 1f (hmac 1, SHA-256), 00 01 .. 2f (hmac 2, SHA-384)
SECRET32=$(seq 0 31 | xargs printf %02x) SECRET48=$(seq 0 47 | xargs printf %02x)
# known-answer inputs
KAT_HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6
KAT_SUBNQN=nqn.2024-01.io.rdmagate:kat
fail=0
. "$(dirname "${BASH_SOURCE[0]}")/lab-smoke-lib.sh" || exit 1   # bad now ctrl blockdev disconnect expect_fail nvmet_teardown
ok() { echo "PASS - $*"; }
info() { echo "INFO - $*"; }
MARK=0 TMARK=0
tlshd_new() { tail -n +$((TMARK + 1)) $TLSHD_LOG_FILE | tr -d '\0'; }   # tlshd's log since the last new_logs
new_logs() {    # kernel (nvme/tls) and tlshd log lines since the last call
  local n; n=$(dmesg | wc -l)
  dmesg | tail -n +$((MARK + 1)) | grep -iE 'nvme|tls|handshake' | sed 's/^/    dmesg: /'
  MARK=$n
  if [ "${TLSHD_LOG:-0}" = 1 ] || [ "${1:-}" = all ]; then tlshd_new | sed 's/^/    tlshd: /'
  else tlshd_new | grep -iE 'identity|error|fail|description|ticket' | grep -v 'gnutls(' | sort -u -t: -k2 \
         | head -8 | sed 's/^/    tlshd: /'; fi
  TMARK=$(wc -l < $TLSHD_LOG_FILE)
}
connect() {     # connect ARGS...: nvme connect to $SUBNQN as $HOSTNQN
  local t=$(now) rc
  timeout 60 nvme connect -t tcp -a 127.0.0.1 -s $PORT -n $SUBNQN --hostnqn "$HOSTNQN" "$@" 2>&1 | sed 's/^/    nvme: /'
  rc=${PIPESTATUS[0]}
  echo "    (nvme connect $* -> rc=$rc, $(awk -v a=$t -v b=$(now) 'BEGIN{printf "%.2f", b-a}')s)"
  return $rc
}
ktls_sessions() { awk '$1 == "TlsCurrTxSw" {print $2}' /proc/net/tls_stat; }   # open kTLS (sw) sockets
io_check() {    # io_check DEV: fio write + verify, then a dd round trip with cmp
  local d=$1
  fio --name=tlsverify --filename=/dev/$d --rw=randwrite --bs=4k --size=8M --ioengine=libaio --iodepth=8 \
      --direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 --output=/tmp/fio.out >/dev/null 2>&1 \
    || { sed 's/^/    fio: /' /tmp/fio.out | tail -20; return 1; }
  grep -E '^ +(write|read):' /tmp/fio.out | sed 's/^ */    fio: /'
  head -c 1048576 /dev/urandom > /tmp/pattern
  dd if=/tmp/pattern of=/dev/$d bs=64k seek=256 oflag=direct conv=fsync status=none \
    && dd if=/dev/$d of=/tmp/readback bs=64k skip=256 count=16 iflag=direct status=none \
    && cmp -s /tmp/pattern /tmp/readback
}
expect_ok() {   # expect_ok DESC CIPHERS ARGS...: connect over TLS (cipher: a regex), check kTLS + I/O, disconnect
  local desc=$1 cipher=$2 c d i a k descs sess used; shift 2
  echo "### $desc"
  if connect "$@"; then
    for i in $(seq 50); do d=$(blockdev); [ -n "$d" ] && break; sleep 0.1; done
    c=$(ctrl) k=$(ktls_sessions)
    descs=$(tlshd_new | sed -n 's/.*Session description: //p')   # one per TLS handshake (both ends)
    sess=$(sort <<< "$descs" | uniq -c | sed 's/^ *//' | paste -sd,)
    used=$(tlshd_new | sed -n 's/.*Using psk identity //p' | sort -u | paste -sd'|')
    echo "    kTLS sockets open: $k; tlshd sessions: $sess"
    echo "    PSK identity used: $used"
    for a in tls_key tls_configured_key tls_keyring; do
      [ -n "$c" ] && [ -r /sys/class/nvme/$c/$a ] && echo "    $c/$a: $(cat /sys/class/nvme/$c/$a 2>&1)"
    done
    if [ -z "$c" ]; then bad "$desc: nvme connect succeeded, but no controller for $SUBNQN"
    elif [ -z "$d" ]; then bad "$desc: $c has no namespace block device"
    elif ! [ "${k:-0}" -ge 2 ]; then bad "$desc: no kTLS sockets open (/proc/net/tls_stat)"
    elif [ -z "$descs" ] || grep -qvE "^\(TLS1\.3\)--\(($cipher)\)$" <<< "$descs"; then bad "$desc: tlshd sessions are not all TLS 1.3 $cipher"
    elif ! io_check $d; then bad "$desc: I/O on /dev/$d failed"
    else ok "$desc: connected ($c, /dev/$d) over $sess, 8 MiB fio write+verify and 1 MiB dd round trip"
    fi
    disconnect
    new_logs
  else
    bad "$desc: nvme connect failed"; new_logs all
  fi
}
insert_key() {  # insert_key KEYRING INTERCHANGE HOSTNQN SUBNQN IDVERSION: prints the new key's id (hex)
  nvme check-tls-key --keyring="$1" --keydata="$2" -n "$3" -c "$4" --identity="$5" --insert 2>&1 \
    | sed -n 's/^Inserted TLS key //p'
}
key_desc() { keyctl rdescribe $((16#$1)) | sed 's/^[^;]*;[^;]*;[^;]*;[^;]*;//'; }   # after type;uid;gid;perm;
key_hex() { keyctl pipe $((16#$1)) | od -An -tx1 -v | tr -d ' \n'; }
show_psks() { local id; for id in $(keyctl rlist %:.nvme); do echo "    .nvme: $(key_desc $(printf %x $id))"; done; }
drop_psks() {   # unlink every psk from .nvme
  local id; for id in $(keyctl rlist %:.nvme 2>/dev/null); do keyctl unlink $id %:.nvme >/dev/null 2>&1; done
}
cleanup() {
  nvmet_teardown
  [ -n "${TLSHD_PID:-}" ] && kill $TLSHD_PID 2>/dev/null
  rm -f $IMG /tmp/pattern /tmp/readback
}
trap cleanup EXIT

echo "### setup: $(uname -r), $(nvme version | tr '\n' ' '), $(tlshd -v 2>&1 | sed 's/, built.*//') $(dpkg-query -W -f '${Version}' ktls-utils 2>/dev/null), $(keyctl --version | cut -d' ' -f3), gnutls $(dpkg-query -W -f '${Version}' libgnutls30t64 2>/dev/null)"
modprobe -a nvmet nvmet-tcp nvme-tcp tls || { echo "FAIL - modprobe nvmet nvmet-tcp nvme-tcp tls"; exit 1; }
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
command -v tlshd >/dev/null && command -v keyctl >/dev/null || { echo "FAIL - no tlshd/keyctl: run with LAB_SUITE=trixie"; exit 1; }
# a session keyring of our own with .nvme linked in: keys are readable (keyctl pipe) by their possessor only
keyctl new_session >/dev/null && keyctl link %:.nvme @s || { echo "FAIL - keyctl: no .nvme keyring (nvme-keyring module?)"; exit 1; }
drop_psks

# --- known-answer vectors: what nvme-cli/libnvme put into the keyring for fixed inputs ---
echo "### PSK known-answer vectors (hostnqn $KAT_HOSTNQN, subnqn $KAT_SUBNQN)"
VEC=()
for hm in "1 $SECRET32" "2 $SECRET48"; do set -- $hm
  ik=$(nvme gen-tls-key --secret=$2 --hmac=$1) || { bad "nvme gen-tls-key --secret=$2 --hmac=$1"; continue; }
  for v in 0 1; do
    out=$(nvme gen-tls-key --secret=$2 --hmac=$1 -n $KAT_HOSTNQN -c $KAT_SUBNQN --identity=$v --insert 2>&1)
    id=$(sed -n 's/^Inserted TLS key //p' <<< "$out")
    [ -n "$id" ] || { bad "gen-tls-key --hmac=$1 --identity=$v --insert: $out"; continue; }
    desc=$(key_desc $id) psk=$(key_hex $id)
    # the same key through check-tls-key --insert (replaces it: same description) must agree
    id2=$(insert_key .nvme "$ik" $KAT_HOSTNQN $KAT_SUBNQN $v)
    [ -n "$id2" ] && [ "$(key_desc $id2)" = "$desc" ] && [ "$(key_hex $id2)" = "$psk" ] \
      || bad "hmac $1 identity v$v: check-tls-key --insert disagrees with gen-tls-key --insert"
    echo "    hmac $1 v$v interchange: $ik"
    echo "    hmac $1 v$v identity:    $desc"
    echo "    hmac $1 v$v TLS PSK:     $psk"
    [ ${#psk} = $(( $1 == 1 ? 64 : 96 )) ] || bad "hmac $1 v$v: TLS PSK is ${#psk} hex digits"
    VEC+=("$1|$v|$2|$ik|$desc|$psk")
    drop_psks
  done
done
[ ${#VEC[@]} = 4 ] && ok "4 known-answer vectors recorded" || bad "only ${#VEC[@]} of 4 known-answer vectors"
if [ -n "${TLS_VECTORS:-}" ] && [ ${#VEC[@]} = 4 ]; then
  node -e '
    const [file, hostnqn, subnqn, ...rows] = process.argv.slice(1);
    const v = rows.map((r) => { const [hmac, idv, secretHex, interchange, identity, tlsPskHex] = r.split("|");
      return { hmac: +hmac, identityVersion: +idv, secretHex, interchange, hostnqn, subnqn, identity, tlsPskHex }; });
    require("fs").writeFileSync(file, JSON.stringify(v, null, 2) + "\n");' \
    "$TLS_VECTORS" $KAT_HOSTNQN $KAT_SUBNQN "${VEC[@]}" && echo "    written to $TLS_VECTORS" || bad "cannot write $TLS_VECTORS"
fi

# --- tlshd: the shipped /etc/tlshd.conf, with the debug levels raised ---
sed -e "s/^loglevel=.*/loglevel=${TLSHD_DEBUG:-1}/" -e "s/^tls=.*/tls=${TLSHD_TLS_DEBUG:-0}/" /etc/tlshd.conf > /tmp/tlshd.conf
tlshd -s -c /tmp/tlshd.conf > $TLSHD_LOG_FILE 2>&1 &
TLSHD_PID=$!
sleep 0.5
kill -0 $TLSHD_PID 2>/dev/null || { cat $TLSHD_LOG_FILE; echo "FAIL - tlshd exited"; exit 1; }
echo "    tlshd -s -c /tmp/tlshd.conf running (pid $TLSHD_PID)"

# --- target: TLS-required TCP port ---
truncate -s 64M $IMG
mkdir "$H" && mkdir "$S" && echo 0 > "$S/attr_allow_any_host" && mkdir "$S/namespaces/1" \
  && echo $IMG > "$S/namespaces/1/device_path" && echo 1 > "$S/namespaces/1/buffered_io" \
  && echo 1 > "$S/namespaces/1/enable" && ln -s "$H" "$S/allowed_hosts/$HOSTNQN" \
  && mkdir "$P" && echo tcp > "$P/addr_trtype" && echo ipv4 > "$P/addr_adrfam" \
  && echo 127.0.0.1 > "$P/addr_traddr" && echo $PORT > "$P/addr_trsvcid" \
  && echo tls1.3 > "$P/addr_tsas" && echo required > "$P/addr_treq" \
  && ln -s "$S" "$P/subsystems/$SUBNQN" \
  || { echo "FAIL - nvmet configfs setup"; exit 1; }
echo "    target: $SUBNQN on tcp 127.0.0.1:$PORT (addr_tsas=$(cat $P/addr_tsas), addr_treq=$(cat $P/addr_treq)), ns 1 = $IMG, allowed host $HOSTNQN"
KEY=$(nvme gen-tls-key --secret=$SECRET32 --hmac=1) && KEY2=$(nvme gen-tls-key --secret=$SECRET48 --hmac=2) \
  && WRONG=$(nvme gen-tls-key --hmac=1) || { echo "FAIL - nvme gen-tls-key"; exit 1; }
echo "    PSK (hmac 1) $KEY"; echo "    PSK (hmac 2) $KEY2"; echo "    wrong        $WRONG"
new_logs >/dev/null

drop_psks; insert_key .nvme "$KEY" "$HOSTNQN" $SUBNQN 0 >/dev/null; show_psks
echo "### discovery log (nvme discover --tls; the PSK for the discovery NQN in .nvme too)"
insert_key .nvme "$KEY" "$HOSTNQN" nqn.2014-08.org.nvmexpress.discovery 0 >/dev/null
timeout 60 nvme discover -t tcp -a 127.0.0.1 -s $PORT --hostnqn "$HOSTNQN" --tls 2>&1 | sed 's/^/    discover: /'
new_logs
expect_ok   "TLS, PSK identity v0 (NVMe0R01), kernel's default PSK lookup (--tls)" AES-128-GCM --tls
expect_fail "no --tls to the TLS-required port"
expect_ok   "TLS, --tls-key=<interchange> (libnvme inserts it)" AES-128-GCM --tls --tls-key="$KEY"
show_psks   # the v0 key and the one --tls-key inserted
expect_ok   "TLS, v0 and v1 keys both in .nvme, --tls (which one does the kernel pick?)" AES-128-GCM --tls
drop_psks; id=$(insert_key .nvme "$KEY" "$HOSTNQN" $SUBNQN 1); show_psks
expect_ok   "TLS, PSK identity v1 (NVMe1R01 ... <digest>) only, kernel's default PSK lookup (--tls)" AES-128-GCM --tls
expect_ok   "TLS, PSK identity v1 by key id (--tls-key=$((16#$id)))" AES-128-GCM --tls --tls-key=$((16#$id))
drop_psks; insert_key .nvme "$KEY2" "$HOSTNQN" $SUBNQN 0 >/dev/null; show_psks
# NVMe/TCP says a SHA-384 PSK goes with TLS_AES_256_GCM_SHA384; tlshd 1.0.0 + GnuTLS 3.8 were seen
# to negotiate TLS_CHACHA20_POLY1305_SHA256 with it (the PSK taken as a SHA-256 one): both accepted
expect_ok   "TLS, SHA-384 PSK (hmac 2, NVMe0R02), --tls" 'AES-256-GCM|CHACHA20-POLY1305' --tls
# wrong PSK: the host's key (same identity, other bytes) in a keyring of its own, passed by id
# (nvme-cli 2.13 ignores --keyring without --tls-key); the target's is the right one in .nvme
drop_psks; insert_key .nvme "$KEY" "$HOSTNQN" $SUBNQN 0 >/dev/null
if keyctl newring wrongring @s >/dev/null && id=$(insert_key wrongring "$WRONG" "$HOSTNQN" $SUBNQN 0) && [ -n "$id" ]; then
  expect_fail "TLS with a wrong PSK (--keyring=wrongring --tls-key=$((16#$id)))" --tls --keyring=wrongring --tls-key=$((16#$id))
else bad "cannot set up the wrong-PSK keyring"; fi
drop_psks

echo "### done: $([ $fail = 0 ] && echo all passed || echo FAILURES)"
exit $fail
