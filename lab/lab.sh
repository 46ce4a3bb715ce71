#!/usr/bin/env bash
# lab.sh - rdmagate's RDMA lab: Soft-RoCE (rdma_rxe) + NVMe-oF (nvmet tcp/rdma) in a QEMU guest
# (the project's own copy of ../shared/rdmalab/lab.sh, so that a fresh clone and CI can run it)
#
# running Debian 12's stock kernel (linux-image-amd64, booted as uncompressed vmlinux via
# PVH) with a debootstrap rootfs on an ext4 image (or, LAB_ROOT=initramfs, in RAM).
# TCG emulation by default: KVM on a kvm_pvm host cannot run a stock kernel.
#
# Usage:
#   lab.sh build                 build (or reuse) kernel + image under $LAB_CACHE
#   lab.sh run 'CMD...'          boot the guest, run CMD with bash inside it, print its
#                                output, exit with CMD's exit status
#   lab.sh selftest              run the built-in RDMA + NVMe-oF + fio + node test
#   lab.sh clean                 remove $LAB_CACHE (with LAB_KERNEL_SUITE: only its $LAB_CACHE/bpo;
#                                with LAB_SUITE=trixie: only $LAB_CACHE/trixie)
#
# Environment:
#   LAB_CACHE    cache dir (default ${XDG_CACHE_HOME:-~/.cache}/rdmagate-lab)
#   LAB_MEM      guest RAM in MiB (default 2048)
#   LAB_SMP      guest vCPUs (default: host nproc)
#   LAB_ACCEL    qemu accelerator (default tcg,thread=multi; kvm does not work with
#                kvm_pvm hosts, see report)
#   LAB_TIMEOUT  seconds before the guest is killed (default 1800)
#   LAB_BOOT_TRIES  boots of a guest whose kernel dies before CMD starts (default 3)
#   LAB_SHARE    host directory to share read-write into the guest at /host (virtio-9p)
#   LAB_LOAD     modules modprobe'd before CMD (default: rdma_rxe ib_uverbs rdma_ucm
#                nvmet nvmet-tcp nvmet-rdma nvme-tcp nvme-rdma); every module in
#                LAB_MODS (+ deps, + all crypto/lib modules) stays modprobe-able
#   LAB_NODE     path of a node binary to copy into the guest (default: `command -v
#                node` on the host); set LAB_NODE=debian to install Debian's nodejs
#   LAB_ROOT     ext4 (default: rootfs image on virtio-blk, snapshot=on so the cached
#                image is never modified) or initramfs (whole rootfs unpacked in RAM)
#   LAB_VERBOSE  1: also print the whole serial console (kernel log, etc.)
#   LAB_KERNEL_SUITE  unset (default): bookworm's kernel (6.1), from apt; bookworm-backports:
#                the newest linux-image-6.*+deb12-amd64 there (6.12: NVME_HOST_AUTH,
#                NVME_TARGET_AUTH, NVME_*TCP_TLS), fetched with curl (InRelease checked with
#                gpgv against Debian's keyring, then sha256 of Packages.xz and the .deb), cached
#                with its image under $LAB_CACHE/bpo; the rootfs is shared (only the modules
#                differ); adds nvme-auth nvme-keyring tls + dh/hmac/sha crypto to LAB_MODS
#   LAB_SUITE    bookworm (default) or trixie: the whole guest from Debian 13 (rootfs + ktls-utils
#                (tlshd) + keyutils, nvme-cli 2.x with --tls; kernel = trixie's linux-image-amd64
#                dependency, fetched and checked like LAB_KERNEL_SUITE's), all cached apart under
#                $LAB_CACHE/trixie; adds the same auth/TLS modules to LAB_MODS. Not combinable
#                with LAB_KERNEL_SUITE. In the guest `tlshd -s &` works with the shipped
#                /etc/tlshd.conf (tlshd links the kernel's .nvme keyring itself); see
#                scripts/lab-tls-smoke.sh
#   LAB_KPKG     kernel package name (default: linux-image-amd64's dependency, or the newest
#                in LAB_KERNEL_SUITE)
#
# Inside the guest: root shell env, cwd /root, eth0 = 10.0.2.15/24 (qemu user net with
# restrict=on: nothing leaves the VM), /lab = per-run dir shared with the host (9p),
# configfs mounted at /sys/kernel/config, ulimit -l unlimited.
set -euo pipefail

CACHE=${LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rdmagate-lab}
SUITE=${LAB_SUITE:-bookworm}
KSUITE=${LAB_KERNEL_SUITE:-}
# a trixie guest has a cache of its own (rootfs, kernel, images); bookworm's is never touched
[ "$SUITE" = trixie ] && CACHE=$CACHE/trixie
# per-kernel cache (kernel/, dl/, the images and their stamps); rootfs/ stays in $CACHE
case "$KSUITE" in
  bookworm-backports) KCACHE=$CACHE/bpo;;
  *) KCACHE=$CACHE;;
esac
# the dists/ the kernel is fetched from with curl (empty: bookworm's, with apt)
KDIST=$KSUITE; [ "$SUITE" = trixie ] && KDIST=trixie
# Debian mirror: the one this machine's apt already uses (LAB_MIRROR overrides)
apt_mirror() {
  { awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null
    [ -f /etc/apt/sources.list ] && awk '$1=="deb"{for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){print $i; break}}' /etc/apt/sources.list
  } | grep -v -- '-security' | head -1 || true
}
MIRROR=${LAB_MIRROR:-$(apt_mirror)}
MEM=${LAB_MEM:-2048}
SMP=${LAB_SMP:-$(nproc)}
ACCEL=${LAB_ACCEL:-tcg,thread=multi}
ROOTMODE=${LAB_ROOT:-ext4}   # ext4: rootfs on virtio-blk (snapshot=on); initramfs: whole rootfs in RAM
TIMEOUT=${LAB_TIMEOUT:-1800}
SHARE=${LAB_SHARE:-}
LOAD=${LAB_LOAD:-rdma_rxe ib_uverbs rdma_ucm nvmet nvmet-tcp nvmet-rdma nvme-tcp nvme-rdma}
IMAGE_VERSION=4   # bump to force an image rebuild
PKGS="kmod,iproute2,rdma-core,ibverbs-utils,ibverbs-providers,perftest,rdmacm-utils,nvme-cli,fio,libstdc++6,procps,iputils-ping,ethtool,busybox-static,e2fsprogs,xfsprogs,util-linux"
[ "$SUITE" = trixie ] && PKGS="$PKGS,ktls-utils,keyutils"   # tlshd, keyctl (NVMe/TCP TLS)
# modules kept in the image (plus their dependencies); anything else is dropped
MODS=${LAB_MODS:-"rdma_rxe ib_uverbs rdma_ucm ib_umad ib_ipoib nvmet nvmet-tcp nvmet-rdma nvme-tcp
nvme-rdma nvme null_blk loop brd veth dummy virtio_pci virtio_net virtio_blk
virtio_console 9p 9pnet_virtio virtiofs ext4 xfs configfs tun bridge${KDIST:+
nvme-auth nvme-keyring tls dh_generic hmac sha256_generic sha512_generic}"}
# whole module dirs kept too: crypto algorithms are loaded by name at run time
# (rdma_rxe needs "crc32", nvme-tcp digests need "crc32c"), not via depmod deps
KEEP_DIRS="kernel/crypto kernel/arch/x86/crypto kernel/lib"

log() { echo "[lab] $*" >&2; }
die() { log "ERROR: $*"; exit 125; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap/chroot)"
case "$KSUITE" in ""|bookworm-backports) ;; *) die "LAB_KERNEL_SUITE=$KSUITE: only bookworm-backports is supported";; esac
case "$SUITE" in bookworm|trixie) ;; *) die "LAB_SUITE=$SUITE: only bookworm and trixie are supported";; esac
[ "$SUITE" = bookworm ] || [ -z "$KSUITE" ] || die "LAB_KERNEL_SUITE is for the bookworm guest only (LAB_SUITE=$SUITE brings its kernel)"

host_deps() {
  local need=() c p
  for c in qemu-system-x86_64:qemu-system-x86 debootstrap:debootstrap cpio:cpio \
           dpkg-deb:dpkg awk:mawk xz:xz-utils perl:perl-base mke2fs:e2fsprogs flock:util-linux \
           ${KDIST:+curl:curl gpgv:gpgv zstd:zstd}; do
    command -v "${c%%:*}" >/dev/null || need+=("${c#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "installing host packages: ${need[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
}

node_src() {
  if [ "${LAB_NODE:-}" = debian ]; then echo debian; return; fi
  local n=${LAB_NODE:-$(command -v node || true)}
  if [ -n "$n" ] && [ -x "$n" ]; then readlink -f "$n"; else echo debian; fi
}

# newest linux-image-6.*+deb12-amd64 of $KDIST (trixie: its linux-image-amd64's dependency;
# or $LAB_KPKG), checked as apt would:
# InRelease signed by Debian's archive keyring -> sha256 of Packages.xz -> sha256 of the .deb
fetch_suite_kernel() {
  local dist="$MIRROR/dists/$KDIST" dl="$KCACHE/dl" sum ver pkg file want=${LAB_KPKG:-}
  [ -n "$MIRROR" ] || die "no Debian mirror found in apt's sources; set LAB_MIRROR"
  curl -fsS -o "$dl/InRelease" "$dist/InRelease" || die "cannot fetch $dist/InRelease"
  gpgv --keyring /usr/share/keyrings/debian-archive-keyring.gpg --output "$dl/Release" "$dl/InRelease" 2>/dev/null \
    || die "$dist/InRelease: bad signature"
  sum=$(awk '/^SHA256:/{s=1; next} /^[^ ]/{s=0} s && $3=="main/binary-amd64/Packages.xz"{print $1}' "$dl/Release")
  curl -fsS -o "$dl/Packages.xz" "$dist/main/binary-amd64/Packages.xz" || die "cannot fetch $KDIST Packages.xz"
  echo "$sum  $dl/Packages.xz" | sha256sum -c --quiet - >&2 || die "$KDIST Packages.xz: sha256 mismatch"
  if [ -z "$want" ] && [ "$KDIST" = trixie ]; then
    want=$(xz -dc "$dl/Packages.xz" | awk '/^Package:/ {p=$2}
      p == "linux-image-amd64" && /^Depends:/ && match($0, /linux-image-[0-9][^ ,]*/) {print substr($0, RSTART, RLENGTH); exit}')
    [ -n "$want" ] || die "cannot resolve trixie's linux-image-amd64 dependency"
  fi
  read -r ver pkg file sum < <(xz -dc "$dl/Packages.xz" | awk -v want="$want" '
      /^Package:/ {p=$2} /^Version:/ {v=$2} /^Filename:/ {f=$2} /^SHA256:/ {s=$2}
      /^$/ { if (want != "" ? p == want : p ~ /^linux-image-6\.[0-9.]+[+]deb12-amd64$/) print v, p, f, s; p="" }
      END  { if (want != "" ? p == want : p ~ /^linux-image-6\.[0-9.]+[+]deb12-amd64$/) print v, p, f, s }' \
    | sort -V | tail -1) || true
  [ -n "${file:-}" ] || die "no ${want:-linux-image-6.*+deb12-amd64} in $KDIST"
  log "downloading $pkg $ver ($KDIST)"
  curl -fsS -o "$dl/${file##*/}" "$MIRROR/$file" || die "cannot fetch $MIRROR/$file"
  echo "$sum  $dl/${file##*/}" | sha256sum -c --quiet - >&2 || die "${file##*/}: sha256 mismatch"
  echo "$dl/${file##*/}"
}

build_kernel() {
  local kpkg deb
  if [ -s "$KCACHE/kernel/kver" ] && [ -s "$KCACHE/kernel/boot" ] && [ -d "$KCACHE/kernel/modules" ]; then
    return
  fi
  local t=$(now)
  mkdir -p "$KCACHE/dl"
  if [ -n "$KDIST" ]; then
    deb=$(fetch_suite_kernel)
  else
    apt-get update -qq >&2 || true
    kpkg=${LAB_KPKG:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
    [ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 dependency"
    log "downloading $kpkg"
    ( cd "$KCACHE/dl" && apt-get download "$kpkg" 2>&1 | grep -v unsandboxed >&2 || true )
    deb=$(ls -t "$KCACHE"/dl/"$kpkg"_*.deb | head -1)
  fi
  rm -rf "$KCACHE/kernel.tmp"; mkdir -p "$KCACHE/kernel.tmp"
  dpkg-deb -x "$deb" "$KCACHE/kernel.tmp/x"
  local mods=lib/modules; [ -d "$KCACHE/kernel.tmp/x/$mods" ] || mods=usr/lib/modules
  local kver; kver=$(ls "$KCACHE/kernel.tmp/x/$mods/")
  mv "$KCACHE/kernel.tmp/x/boot/vmlinuz-$kver" "$KCACHE/kernel.tmp/vmlinuz"
  mv "$KCACHE/kernel.tmp/x/boot/config-$kver" "$KCACHE/kernel.tmp/config"
  mv "$KCACHE/kernel.tmp/x/$mods/$kver" "$KCACHE/kernel.tmp/modules"
  rm -rf "$KCACHE/kernel.tmp/x"
  # Debian's bzImage is xz- (6.1) or zstd-compressed (6.12); decompressing it under TCG costs
  # ~5 s per boot. Extract the ELF vmlinux once and boot it directly through its PVH entry point.
  echo vmlinuz > "$KCACHE/kernel.tmp/boot"
  local z off; for z in "FD377A585A00 xz" "28B52FFD zstd"; do
    off=$(perl -0777 -ne 'BEGIN { $m = pack("H*", shift) } print index($_, $m)' ${z% *} "$KCACHE/kernel.tmp/vmlinuz")
    [ "$off" -ge 0 ] && command -v ${z#* } >/dev/null || continue
    # (zstd fails on the bytes after its frame; the ELF check below is what counts)
    tail -c +$((off + 1)) "$KCACHE/kernel.tmp/vmlinuz" | ${z#* } -dc > "$KCACHE/kernel.tmp/vmlinux" 2>/dev/null || true
    [ "$(head -c 4 "$KCACHE/kernel.tmp/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] \
      && { echo vmlinux > "$KCACHE/kernel.tmp/boot"; break; } || rm -f "$KCACHE/kernel.tmp/vmlinux"
  done
  echo "$kver" > "$KCACHE/kernel.tmp/kver"
  rm -rf "$KCACHE/kernel"; mv "$KCACHE/kernel.tmp" "$KCACHE/kernel"
  log "kernel $kver ready ($(since "$t")s)"
}

build_rootfs() {
  local pkgs=$PKGS
  [ "$(node_src)" = debian ] && pkgs="$pkgs,nodejs"
  if [ -f "$CACHE/rootfs.stamp" ] && [ "$(cat "$CACHE/rootfs.stamp")" = "$pkgs" ] && [ -d "$CACHE/rootfs" ]; then
    return
  fi
  local t=$(now)
  [ -n "$MIRROR" ] || die "no Debian mirror found in apt's sources; set LAB_MIRROR"
  log "debootstrap $SUITE (minbase + $pkgs)"
  rm -rf "$CACHE/rootfs.tmp" "$CACHE/rootfs" "$CACHE/rootfs.stamp"
  debootstrap --variant=minbase --include="$pkgs" "$SUITE" "$CACHE/rootfs.tmp" "$MIRROR" \
    > "$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
  mv "$CACHE/rootfs.tmp" "$CACHE/rootfs"
  echo "$pkgs" > "$CACHE/rootfs.stamp"
  log "rootfs ready ($(since "$t")s)"
}

write_init() {
cat > "$1" <<'EOF'
#!/bin/bash
# PID 1 of the lab guest
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/null >/dev/console 2>&1
fin() { sync; echo o > /proc/sysrq-trigger; sleep 5; }
hostname lab
modprobe -a virtio_pci virtio_net 9pnet_virtio 9p configfs
mount -t configfs configfs /sys/kernel/config
ip link set lo up
ip link set eth0 up 2>/dev/null && ip addr add 10.0.2.15/24 dev eth0
mkdir -p /lab /host
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 lab /lab; then
  echo "@@LAB-BEGIN@@"; echo "lab: cannot mount 9p share 'lab'"; echo "@@LAB-END rc=125@@"; fin
fi
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 host /host 2>/dev/null || rmdir /host
ulimit -l unlimited
T1=$(cut -d' ' -f1 /proc/uptime)
[ -s /lab/modules ] && modprobe -a $(cat /lab/modules)
T2=$(cut -d' ' -f1 /proc/uptime)
echo "@@LAB-BEGIN@@ boot=${T1}s modprobe=$(awk -v a=$T1 -v b=$T2 'BEGIN{printf "%.2f", b-a}')s"
cd /root
bash /lab/cmd.sh </dev/null
rc=$?
echo "@@LAB-END rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)s@@"
fin
EOF
chmod 755 "$1"
}

write_init1() {
cat > "$1" <<'EOF'
#!/bin/busybox sh
# stage 1: load virtio-blk + ext4, mount /dev/vda, switch_root to its /init
B=/bin/busybox
$B mkdir -p /proc /dev /newroot
$B mount -t proc proc /proc
$B mount -t devtmpfs devtmpfs /dev
for m in $($B cat /modules); do $B insmod /m/$m 2>/dev/null; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do $B usleep 50000; i=$((i+1)); done
if ! $B mount -t ext4 /dev/vda /newroot; then
  echo "@@LAB-BEGIN@@"; echo "stage1: cannot mount /dev/vda"; echo "@@LAB-END rc=125@@"
  $B poweroff -f
fi
$B umount /proc
$B mount --move /dev /newroot/dev
exec $B switch_root /newroot /init
EOF
chmod 755 "$1"
}

build_image() {
  local kver node stamp
  kver=$(cat "$KCACHE/kernel/kver")
  node=$(node_src)
  stamp="v$IMAGE_VERSION|$kver|$(cat "$CACHE/rootfs.stamp")|$node|$(echo $MODS)|$KEEP_DIRS|$(write_init /dev/stdout | md5sum)|$(write_init1 /dev/stdout | md5sum)"
  if [ -f "$KCACHE/initrd.cpio" ] && [ -f "$KCACHE/root.ext4" ] && [ -f "$KCACHE/image.stamp" ] && [ "$(cat "$KCACHE/image.stamp")" = "$stamp" ]; then
    return
  fi
  local t=$(now) R="$CACHE/rootfs"
  log "assembling image"
  # trim
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/usr/share/doc/* \
         "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/*
  # modules: full tree -> depmod -> dependency closure of $MODS -> minimal tree
  local M="$R/lib/modules/$kver"
  rm -rf "$R/lib/modules"; mkdir -p "$R/lib/modules"
  cp -a "$KCACHE/kernel/modules" "$M"
  chroot "$R" depmod "$kver"
  local keep; keep=$(for m in $MODS; do chroot "$R" modprobe -S "$kver" --show-depends "$m" || die "module $m not found"; done \
                     | awk '$1=="insmod"{print $2}' | sort -u)
  mv "$M" "$M.full"; mkdir -p "$M"
  cp -a "$M.full"/modules.order "$M.full"/modules.builtin* "$M/"
  local d; for d in $KEEP_DIRS; do mkdir -p "$M/$(dirname "$d")"; cp -a "$M.full/$d" "$M/$d"; done
  local f; for f in $keep; do mkdir -p "$R$(dirname "$f")"; cp -a "$M.full/${f#/lib/modules/$kver/}" "$R$f"; done
  rm -rf "$M.full"
  chroot "$R" depmod "$kver"
  # node
  rm -f "$R/usr/local/bin/node"
  if [ "$node" != debian ]; then cp "$node" "$R/usr/local/bin/node"; fi
  env -u NODE_EXTRA_CA_CERTS chroot "$R" node -e 'process.exit(0)' || die "node does not run inside the rootfs"
  write_init "$R/init"
  echo "lab" > "$R/etc/hostname"
  printf '127.0.0.1 localhost\n10.0.2.15 lab\n' > "$R/etc/hosts"
  : > "$R/etc/fstab"
  ( cd "$R" && find . -xdev -path ./proc -prune -o -path ./sys -prune -o -path ./dev -prune -o -print \
      | { cat; printf './proc\n./sys\n./dev\n'; } | cpio -o -H newc --quiet ) > "$KCACHE/initrd.cpio.tmp"
  mv "$KCACHE/initrd.cpio.tmp" "$KCACHE/initrd.cpio"
  # ext4 root image + small stage-1 initramfs (busybox + virtio-blk/ext4 modules)
  local S="$KCACHE/stage1"; rm -rf "$S"; mkdir -p "$S/bin" "$S/m"
  cp "$R/bin/busybox" "$S/bin/busybox"
  for f in $(for m in virtio_pci virtio_blk crc32c_generic ext4; do chroot "$R" modprobe -S "$kver" --show-depends "$m"; done \
             | awk '$1=="insmod" && !seen[$2]++ {print $2}'); do
    case $f in *.xz) xz -dc "$R$f" > "$S/m/$(basename "$f" .xz)";; *) cp "$R$f" "$S/m/";; esac
    basename "$f" .xz >> "$S/modules"   # busybox insmod: uncompressed (6.12's are .ko.xz)
  done
  write_init1 "$S/init"
  ( cd "$S" && find . | cpio -o -H newc --quiet ) > "$KCACHE/stage1.cpio"
  local size=$(( $(du -sm "$R" | cut -f1) * 2 + 512 ))
  rm -f "$KCACHE/root.ext4.tmp"
  mke2fs -q -t ext4 -L labroot -d "$R" "$KCACHE/root.ext4.tmp" "${size}M" >/dev/null
  mv "$KCACHE/root.ext4.tmp" "$KCACHE/root.ext4"
  echo "$stamp" > "$KCACHE/image.stamp"
  log "image ready: initrd.cpio $(du -h "$KCACHE/initrd.cpio" | cut -f1), root.ext4 $(du -h "$KCACHE/root.ext4" | cut -f1) ($(since "$t")s)"
}

build() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"; flock 9
  host_deps
  build_kernel
  build_rootfs
  build_image
  flock -u 9
}

run_guest() {
  local cmd=$1 t0 rundir rc
  build
  t0=$(now)
  rundir=$(mktemp -d "$CACHE/run.XXXXXX")
  printf '%s\n' "$cmd" > "$rundir/cmd.sh"
  echo "$LOAD" > "$rundir/modules"
  local args=(-accel "$ACCEL" -cpu max -smp "$SMP" -m "$MEM" -display none -monitor none
    -serial stdio -no-reboot
    -kernel "$KCACHE/kernel/${LAB_KERNEL:-$(cat "$KCACHE/kernel/boot")}"
    -append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init"
    -virtfs "local,path=$rundir,mount_tag=lab,security_model=none,id=lab"
    -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,romfile=)
  if [ "$ROOTMODE" = initramfs ]; then args+=(-initrd "$KCACHE/initrd.cpio")
  else args+=(-initrd "$KCACHE/stage1.cpio"
              -drive "file=$KCACHE/root.ext4,format=raw,if=virtio,snapshot=on,cache=unsafe"); fi
  [ -n "$SHARE" ] && args+=(-virtfs "local,path=$(readlink -f "$SHARE"),mount_tag=host,security_model=none,id=host")
  local qrc try
  for try in $(seq "${LAB_BOOT_TRIES:-3}"); do
    set +e
    timeout "$TIMEOUT" qemu-system-x86_64 "${args[@]}" </dev/null 2>"$rundir/qemu.err" \
      | tr -d '\r' | tee "$rundir/console.log" | awk -v verbose="${LAB_VERBOSE:-0}" '
          /@@LAB-END rc=/ { inrun=0; print > "/dev/stderr"; fflush(); next }
          /^@@LAB-BEGIN@@/ { inrun=1; print > "/dev/stderr"; fflush(); next }
          inrun || verbose=="1" { print; fflush() }'
    qrc=${PIPESTATUS[0]}
    set -e
    # A kernel that died while booting ran nothing of CMD, so booting again hides no result.
    # Seen with trixie's 6.12 under multi-threaded TCG: an unhandled int3 where a CPU runs code
    # that another is patching (a static key flipped at boot), about once in tens of boots.
    grep -q '^@@LAB-BEGIN@@' "$rundir/console.log" && break
    grep -qE 'Kernel panic|Oops' "$rundir/console.log" || break
    log "the guest's kernel died while booting (try $try), before CMD ran:"
    grep -E 'Oops|RIP:|Kernel panic' "$rundir/console.log" | head -4 >&2
  done
  rc=$(sed -n 's/.*@@LAB-END rc=\([0-9]*\).*/\1/p' "$rundir/console.log" | tail -1)
  if [ -z "$rc" ]; then
    log "guest did not finish (qemu rc=$qrc); last console lines:"
    tail -30 "$rundir/console.log" >&2; cat "$rundir/qemu.err" >&2
    rc=124
  fi
  log "wall $(since "$t0")s (qemu start to exit), guest rc=$rc, run dir $rundir"
  [ "${LAB_KEEP_RUNS:-0}" = 1 ] || rm -rf "$rundir"
  return "$rc"
}

SELFTEST='
T=$(cut -d" " -f1 /proc/uptime)
step() { local n=$(cut -d" " -f1 /proc/uptime); echo "    (step took $(awk -v a=$T -v b=$n "BEGIN{printf \"%.1f\", b-a}")s guest time)"; echo; echo "### $*"; T=$n; }
fail=0; chk() { "$@" || { echo "FAILED($?): $*"; fail=1; }; }
step "1. Soft-RoCE devices"
ip link add veth0 type veth peer name veth1
ip addr add 192.168.77.1/24 dev veth0; ip addr add 192.168.77.2/24 dev veth1
ip link set veth0 up; ip link set veth1 up
chk rdma link add rxe0 type rxe netdev veth0
chk rdma link add rxe1 type rxe netdev eth0
rdma link add rxelo type rxe netdev lo || echo "(rxe on lo refused, see above)"
rdma link show
ibv_devices
ibv_devinfo -d rxe0 | grep -E "hca_id|transport|state|active_mtu|link_layer|GID" ; ibv_devinfo -v -d rxe0 | grep GID
step "1b. ib_write_bw loopback (rdma_cm, rxe0)"
ib_write_bw -R -d rxe0 -s 65536 -n 2000 >/tmp/srv.log 2>&1 & sleep 1
chk timeout 120 ib_write_bw -R -d rxe0 -s 65536 -n 2000 192.168.77.1 | tail -3; wait
step "1c. ib_send_lat loopback (rdma_cm, rxe0)"
ib_send_lat -R -d rxe0 -n 1000 >/tmp/srv.log 2>&1 & sleep 1
chk timeout 120 ib_send_lat -R -d rxe0 -n 1000 192.168.77.1 | tail -3; wait
step "1d. ib_write_bw over rxe1 (eth0 10.0.2.15)"
ib_write_bw -R -d rxe1 -s 65536 -n 1000 >/tmp/srv.log 2>&1 & sleep 1
chk timeout 120 ib_write_bw -R -d rxe1 -s 65536 -n 1000 10.0.2.15 | tail -2; wait
step "1e. rping"
rping -s -a 192.168.77.1 -C 10 >/tmp/rping.log 2>&1 & sleep 1
chk timeout 60 rping -c -a 192.168.77.1 -C 10 -v | tail -2; wait
step "2. nvmet target (null_blk ns) on tcp 127.0.0.1:4420 and rdma 192.168.77.1:4420"
modprobe null_blk nr_devices=1 gb=1
N=/sys/kernel/config/nvmet
mkdir $N/subsystems/labnqn
echo 1 > $N/subsystems/labnqn/attr_allow_any_host
mkdir $N/subsystems/labnqn/namespaces/1
echo /dev/nullb0 > $N/subsystems/labnqn/namespaces/1/device_path
echo 1 > $N/subsystems/labnqn/namespaces/1/enable
mkdir $N/ports/1; echo tcp > $N/ports/1/addr_trtype; echo ipv4 > $N/ports/1/addr_adrfam
echo 127.0.0.1 > $N/ports/1/addr_traddr; echo 4420 > $N/ports/1/addr_trsvcid
chk ln -s $N/subsystems/labnqn $N/ports/1/subsystems/labnqn
mkdir $N/ports/2; echo rdma > $N/ports/2/addr_trtype; echo ipv4 > $N/ports/2/addr_adrfam
echo 192.168.77.1 > $N/ports/2/addr_traddr; echo 4420 > $N/ports/2/addr_trsvcid
chk ln -s $N/subsystems/labnqn $N/ports/2/subsystems/labnqn
for tr in "tcp 127.0.0.1" "rdma 192.168.77.1"; do set -- $tr
  step "3. nvme discover/connect -t $1 -a $2"
  chk nvme discover -t $1 -a $2 -s 4420 | grep -E "trtype|subnqn|traddr"
  chk nvme connect -t $1 -a $2 -s 4420 -n labnqn
  sleep 1; nvme list-subsys; nvme list | tail -n +3
  d=$(ls /dev/nvme*n1 | head -1)
  step "3b. fio 4k randread qd16 10s on $d ($1)"
  chk fio --name=rr --filename=$d --rw=randread --bs=4k --iodepth=16 --ioengine=libaio --direct=1 --runtime=10 --time_based | grep -E "IOPS|^ +lat.*avg"
  chk nvme disconnect -n labnqn
done
step "4. node"
chk node -e "console.log(\"node\", process.version, require(\"os\").cpus().length, \"cpus\")"
[ -d /host ] && { echo "host share /host:"; ls /host | head; }
free -m
step "done, fail=$fail"
exit $fail
'

case "${1:-}" in
  build) t=$(now); build; log "build done ($(since "$t")s)";;
  run) shift; [ $# -ge 1 ] || die "usage: lab.sh run 'CMD'"; run_guest "$*";;
  selftest) run_guest "$SELFTEST";;
  clean) rm -rf "$KCACHE";;
  *) sed -n '2,51p' "$0"; exit 2;;
esac
