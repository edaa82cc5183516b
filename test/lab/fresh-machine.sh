#!/usr/bin/env bash
# Proves the quick start on a machine that starts from nothing: a debootstrapped Debian root (bookworm or trixie) with
# only what this kind of machine ships (Node.js and npm, the docker 28 client, the machine's CA certificates), a fresh
# clone of this repository's HEAD, then `npm run demo` and `npm test` in it, timed, and dpkg-query -W before and after.
# Not part of CI (a run takes 20-40 minutes); run it by hand, as root, with this machine's lab down (`npm run lab:down`):
# the root shares the kernel (binfmt_misc), the network (ports, docker0) and cgroups with this machine.
#
#   test/lab/fresh-machine.sh bookworm /srv/fresh12              # a fresh Debian 12 machine
#   test/lab/fresh-machine.sh trixie /srv/fresh13 --lab-ran      # Debian 13 where an earlier lab installed docker.io and qemu
#   test/lab/fresh-machine.sh bookworm /srv/fresh12 --again      # the same root and checkout (pulled): the lab ran there
# Prints a report. At the end the root's lab is stopped (lab:down) and its mounts are undone; the root is left for
# inspection and for --again (umount -R <dir> before deleting it).
set -euo pipefail
suite=${1:?suite}
root=${2:?directory}
mode=${3:-}
repo=$(cd "$(dirname "$0")/../.." && pwd)
say() { printf '\n=== %s\n' "$*"; }

mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || { echo "no Debian mirror in /etc/apt/sources.list.d/*.sources" >&2; exit 2; }
debootstrap=$repo/.lab/engine/root/usr/sbin/debootstrap
[ -x "$debootstrap" ] || { echo "run npm run lab:up once first (it unpacks debootstrap)" >&2; exit 2; }

if [ "$mode" != "--again" ]; then
  if [ ! -x "$root/usr/bin/apt-get" ]; then
    say "debootstrap $suite into $root"
    DEBOOTSTRAP_DIR=$repo/.lab/engine/root/usr/share/debootstrap "$debootstrap" --variant=minbase --include=ca-certificates,git,xz-utils "$suite" "$root" "$mirror"
  fi
  # what this kind of machine ships besides Debian: Node.js 20 with npm, the docker 28 client, its CA certificates
  install -D -m 0755 /usr/bin/node "$root/usr/bin/node"
  rm -rf "$root/usr/lib/node_modules/npm" && mkdir -p "$root/usr/lib/node_modules" && cp -a /usr/lib/node_modules/npm "$root/usr/lib/node_modules/"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
  install -D -m 0755 /usr/local/bin/docker "$root/usr/local/bin/docker"
  for ca in /usr/local/share/ca-certificates/*.crt; do
    case "$ca" in *container-release-lab*) ;; *) install -D -m 0644 "$ca" "$root/usr/local/share/ca-certificates/$(basename "$ca")" ;; esac
  done
  for rc in /etc/npmrc /usr/etc/npmrc; do [ -f "$rc" ] && install -D -m 0644 "$rc" "$root$rc"; done
  [ -f /root/.npmrc ] && install -D -m 0600 /root/.npmrc "$root/root/.npmrc"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
  for f in /etc/apt/apt.conf.d/*; do cp "$f" "$root/etc/apt/apt.conf.d/"; done
fi

# runc makes the container's root a slave mount and pivots into it: the root must be a mount point of its own
mountpoint -q "$root" || mount --bind "$root" "$root"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/sys" || mount --rbind /sys "$root/sys"
mountpoint -q "$root/dev" || mount --rbind /dev "$root/dev"
mountpoint -q "$root/run" || mount -t tmpfs tmpfs "$root/run"
# the machine's environment as CI gets it: a clean one, but for the variables that point tools at the CA bundle
ca_env=()
for name in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE GIT_SSL_CAINFO; do
  [ -n "${!name:-}" ] && ca_env+=("$name=${!name}")
done
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 CI=true "${ca_env[@]}" "$@"; }
in_root update-ca-certificates >/dev/null
finish() {
  in_root bash -c 'cd /root/main 2>/dev/null && [ -d node_modules ] && npx tsx test/lab/cli.ts down' >/dev/null 2>&1 || true
  umount -R "$root/proc" "$root/sys" "$root/dev" "$root/run" 2>/dev/null || true
}
trap finish EXIT

if [ "$mode" = "--lab-ran" ]; then
  say "an earlier lab ran here: docker.io, docker-buildx, qemu-user-static and binfmt-support installed with apt"
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io docker-cli docker-buildx containerd qemu-user-static binfmt-support >/dev/null
fi

in_root dpkg-query -W > "$root/root/dpkg-before.txt"
if [ "$mode" = "--again" ]; then
  git -C "$root/root/main" pull -q --ff-only  # the same checkout, brought up to date: its .lab is kept
else
  rm -rf "$root/root/main"
  git clone -q "$repo" "$root/root/main"
fi
say "npm run demo"
start=$(date +%s); set +e
in_root bash -c 'cd /root/main && npm run demo' > "$root/root/demo.log" 2>&1; demo=$?
demo_s=$(( $(date +%s) - start ))
say "npm test"
start=$(date +%s)
in_root bash -c 'cd /root/main && npm test' > "$root/root/test.log" 2>&1; tests=$?
test_s=$(( $(date +%s) - start )); set -e
in_root dpkg-query -W > "$root/root/dpkg-after.txt"

say "report ($suite${mode:+ $mode})"
echo "npm run demo: exit $demo in ${demo_s} s (log $root/root/demo.log)"
echo "npm test:     exit $tests in ${test_s} s (log $root/root/test.log): $(grep -E '^\s+[0-9]+ (passing|failing|pending)' "$root/root/test.log" | tr -s ' ' | tr '\n' ' ')"
echo "packages changed (dpkg-query -W, before -> after; added packages not shown):"
join -t "$(printf '\t')" <(sort "$root/root/dpkg-before.txt") <(sort "$root/root/dpkg-after.txt") | awk -F'\t' '$2 != $3 {print "  " $1 ": " $2 " -> " $3; n++} END {if (!n) print "  none"}'
comm -23 <(cut -f1 "$root/root/dpkg-before.txt" | sort) <(cut -f1 "$root/root/dpkg-after.txt" | sort) | sed 's/^/  removed: /'
echo "added: $(comm -13 <(cut -f1 "$root/root/dpkg-before.txt" | sort) <(cut -f1 "$root/root/dpkg-after.txt" | sort) | tr '\n' ' ')"
[ "$demo" = 0 ] && [ "$tests" = 0 ]
