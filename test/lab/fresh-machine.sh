#!/usr/bin/env bash
# Proves the quick start on a machine that starts from nothing: a debootstrapped Debian root (bookworm or trixie) with
# only what this kind of machine ships besides Debian (Node.js and npm, the docker 28 client, the machine's CA
# certificates), a fresh clone of this repository's HEAD, then `npm run demo` and `npm test` in it, timed, and
# dpkg-query -W before and after. The root runs in a mount namespace of its own, pivoted into (runc needs a real root);
# it shares the kernel (binfmt_misc), the network (ports, docker0) and cgroups with this machine, so run it by hand, as
# root, with this machine's lab down (`npm run lab:down`). Not part of CI: a run takes 10-20 minutes.
#
#   test/lab/fresh-machine.sh bookworm /srv/fresh12              # a fresh Debian 12 machine
#   test/lab/fresh-machine.sh bookworm /srv/fresh12 --again      # the same root and checkout (pulled): the lab ran there
#   test/lab/fresh-machine.sh trixie /srv/fresh13 --lab-ran      # Debian 13 where an earlier lab installed docker.io and qemu
#   test/lab/fresh-machine.sh bookworm /srv/fresh12 --purge      # lab:down --purge there, then what is left of it
#   test/lab/fresh-machine.sh bookworm /srv/first12 --test-first # a fresh Debian 12 machine, npm test before npm run demo
# Prints a report; the root's lab is stopped at the end and the root is left for inspection.
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

if [ "$mode" != "--again" ] && [ "$mode" != "--purge" ]; then
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
  # and python3, which this kind's description promises (the package test unzips the .vsix with it)
  if [ ! -x "$root/usr/bin/python3" ]; then
    chroot "$root" apt-get update -qq
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
  fi
fi
case "$mode" in
  --again) git -C "$root/work/main" pull -q --ff-only ;; # the same checkout, brought up to date: its .lab is kept
  --purge) ;;
  # where this kind of machine keeps the checkout (readable by the agent containers' other users, unlike /root)
  *) rm -rf "$root/work/main" && mkdir -p "$root/work" && git clone -q "$repo" "$root/work/main" ;;
esac

# the machine's environment as CI gets it: a clean one, but for the variables that point tools at the CA bundle
ca_env=()
for name in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE GIT_SSL_CAINFO; do
  [ -n "${!name:-}" ] && ca_env+=("$name=${!name}")
done

# Everything inside runs in one go: the lab's daemons live in this mount namespace, a second one would not see them.
cat > "$root/root/fresh-run.sh" <<'INNER'
#!/bin/bash
set -u
mode=$1
cd /root
update-ca-certificates >/dev/null 2>&1
if [ "$mode" = "--lab-ran" ]; then
  echo "=== an earlier lab ran here: docker.io, docker-buildx, containerd, qemu-user-static and binfmt-support installed with apt"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io docker-cli docker-buildx containerd qemu-user-static binfmt-support >/dev/null
fi
dpkg-query -W > /root/dpkg-before.txt
if [ "$mode" = "--purge" ]; then
  left() {
    echo "hosts lines $(grep -c container-release-lab /etc/hosts), certs.d $(ls /etc/docker/certs.d 2>/dev/null | wc -l)," \
      "system CA $(ls /usr/local/share/ca-certificates | grep -c container-release-lab), buildx copy $(ls /usr/local/libexec/docker/cli-plugins 2>/dev/null | wc -l)," \
      "binfmt qemu-aarch64 $(ls /proc/sys/fs/binfmt_misc 2>/dev/null | grep -c qemu-aarch64), .lab $(ls -d /work/main/.lab 2>/dev/null | wc -l)"
  }
  (cd /work/main && npm run lab:up) > /root/purge.log 2>&1
  echo "--- after lab:up: $(left)" >> /root/purge.log
  (cd /work/main && npm run lab:down -- --purge) >> /root/purge.log 2>&1; echo "purge=$?" > /root/results
  echo "--- after lab:down --purge: $(left)" >> /root/purge.log
else
  demo() { start=$(date +%s); (cd /work/main && npm run demo) > /root/demo.log 2>&1; echo "demo=$? demo_s=$(( $(date +%s) - start ))" >> /root/results; }
  tests() { start=$(date +%s); (cd /work/main && npm test) > /root/test.log 2>&1; echo "tests=$? test_s=$(( $(date +%s) - start ))" >> /root/results; }
  : > /root/results
  if [ "$mode" = "--test-first" ]; then tests; demo; else demo; tests; fi
  (cd /work/main && npx tsx test/lab/cli.ts down) > /root/down.log 2>&1
fi
dpkg-query -W > /root/dpkg-after.txt
INNER
chmod +x "$root/root/fresh-run.sh"

say "running in $root ($suite${mode:+ $mode})"
started=$(date +%s)
unshare --mount --propagation private -- env ROOT="$root" MODE="$mode" bash -c '
  set -e
  mount --bind "$ROOT" "$ROOT"
  cd "$ROOT" && mkdir -p .oldroot && pivot_root . .oldroot
  mount -t proc proc /proc
  mount --rbind /.oldroot/sys /sys
  mount --rbind /.oldroot/dev /dev
  mount -t tmpfs tmpfs /run
  umount -l /.oldroot
  exec /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 CI=true "$@" /root/fresh-run.sh "$MODE"
' fresh "${ca_env[@]}"
rmdir "$root/.oldroot" 2>/dev/null || true

say "report ($suite${mode:+ $mode}, $(( $(date +%s) - started )) s in all)"
cat "$root/root/results"
[ "$mode" = "--purge" ] && tail -20 "$root/root/purge.log"
[ -f "$root/root/test.log" ] && [ "$mode" != "--purge" ] && echo "npm test: $(grep -E '^\s+[0-9]+ (passing|failing|pending)' "$root/root/test.log" | tr -s ' ' | tr '\n' ' ')"
echo "packages whose version changed (dpkg-query -W, before -> after):"
join -t "$(printf '\t')" <(sort "$root/root/dpkg-before.txt") <(sort "$root/root/dpkg-after.txt") | awk -F'\t' '$2 != $3 {print "  " $1 ": " $2 " -> " $3; n++} END {if (!n) print "  none"}'
comm -23 <(cut -f1 "$root/root/dpkg-before.txt" | sort) <(cut -f1 "$root/root/dpkg-after.txt" | sort) | sed 's/^/  removed: /'
echo "packages added: $(comm -13 <(cut -f1 "$root/root/dpkg-before.txt" | sort) <(cut -f1 "$root/root/dpkg-after.txt" | sort) | tr '\n' ' ')"
grep -qE '^(demo=0 .*|purge=0)$' "$root/root/results" && ! grep -qE 'tests=[1-9]|demo=[1-9]' "$root/root/results"
