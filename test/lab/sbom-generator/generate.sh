#!/bin/sh
# The lab's SBOM generator: a stand-in for docker/buildkit-syft-scanner (the lab reaches no Docker Hub) that speaks
# BuildKit's SBOM generator protocol (moby/buildkit docs/attestations/sbom-protocol.md). BuildKit mounts the built
# root filesystem read-only at $BUILDKIT_SCAN_SOURCE; this writes one in-toto statement with an SPDX 2.3 document to
# $BUILDKIT_SCAN_DESTINATION/<name>.spdx.json listing every regular file with its SHA1 (what SPDX requires of a file)
# and a package for busybox when the image has one. It does not know package managers: syft does that on a real agent.
set -eu
src="$BUILDKIT_SCAN_SOURCE"
name="$(basename "$src")"
out="$BUILDKIT_SCAN_DESTINATION/$name.spdx.json"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
esc() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
{
  printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],'
  printf '"predicate":{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"%s",' "$name"
  printf '"documentNamespace":"https://releases.lab.test/sbom/%s-%s","creationInfo":{"created":"%s","creators":["Tool: lab-sbom-generator-1"]},' "$name" "$$" "$created"
  printf '"files":['
  n=0
  (cd "$src" && find . -type f | sort) | while IFS= read -r file; do
    sum="$(sha1sum "$src/$file" | cut -d' ' -f1)"
    [ "$n" -gt 0 ] && printf ','
    n=$((n + 1))
    printf '{"fileName":"%s","SPDXID":"SPDXRef-File-%s","checksums":[{"algorithm":"SHA1","checksumValue":"%s"}]}' "$(printf '%s' "$file" | esc)" "$n" "$sum"
  done
  printf '],"packages":['
  # busybox is named, not run: a generator must not execute what it scans
  if [ -f "$src/bin/busybox" ]; then
    printf '{"name":"busybox","SPDXID":"SPDXRef-Package-busybox","versionInfo":"NOASSERTION","downloadLocation":"NOASSERTION","filesAnalyzed":false}'
  fi
  printf ']}}\n'
} > "$out"
