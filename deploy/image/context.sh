#!/usr/bin/env bash
# context.sh stages in dist/image/ what the FROM-scratch image copies besides
# the binary, because a build context cannot reach the host's files:
#   etc/ssl/certs/ca-certificates.crt  the host's CA bundle (Debian's
#                                      ca-certificates package), for Slack,
#                                      webhooks and the Kubernetes API
#   etc/passwd, etc/group              one "nonroot" user and group, 65532
#   data/                              the empty volume, owned by 65532 in the image
# Time zone data is not copied: the binary embeds it (-tags timetzdata).
set -euo pipefail
cd "$(dirname "$0")/../.."

bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "$bundle" ] || { echo "image: no CA bundle at $bundle (apt-get install ca-certificates)" >&2; exit 1; }

ctx=dist/image
rm -rf "$ctx"
mkdir -p "$ctx/etc/ssl/certs" "$ctx/data"
cp "$bundle" "$ctx/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$ctx/etc/ssl/certs/ca-certificates.crt"
printf 'nonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n' >"$ctx/etc/passwd"
printf 'nonroot:x:65532:\n' >"$ctx/etc/group"
echo "image: context staged in $ctx"
