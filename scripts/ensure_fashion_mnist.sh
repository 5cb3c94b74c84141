#!/usr/bin/env bash
# Make sure the Fashion-MNIST IDX files are where tempcheck looks for them (`make fashion`,
# .ci/run). Found: nothing to do. Missing, and root with apt-get: install Debian's
# dataset-fashion-mnist (into /usr/share/datasets/fashion-mnist), each apt step under a time
# limit. Otherwise print the one command that gets the data and exit 1 (exit 0 with --optional,
# for CI, which must never fail for want of the data).
set -u
optional=${1:-}
folder=/usr/share/datasets/fashion-mnist
stem=train-images-idx3-ubyte

have_data() {
    # tempcheck's own search order: $TEMPCHECK_DATA (and its sub-folders), then the Debian folder
    local d
    for d in "${TEMPCHECK_DATA:-}" "${TEMPCHECK_DATA:-}/fashion_mnist" \
             "${TEMPCHECK_DATA:-}/fashion-mnist" "${TEMPCHECK_DATA:-}/FashionMNIST/raw"; do
        [ -n "${TEMPCHECK_DATA:-}" ] && { [ -f "$d/$stem" ] || [ -f "$d/$stem.gz" ]; } && return 0
    done
    [ -f "$folder/$stem" ] || [ -f "$folder/$stem.gz" ]
}

have_data && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Fashion-MNIST not found: installing Debian's dataset-fashion-mnist into $folder"
    timeout 300 apt-get update -q >/dev/null 2>&1 || echo "apt-get update failed or timed out"
    timeout 300 apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
        || echo "apt-get install dataset-fashion-mnist failed or timed out"
    have_data && exit 0
fi
echo "Fashion-MNIST not found (looked in \$TEMPCHECK_DATA and $folder); get it with:" >&2
echo "    sudo apt-get install dataset-fashion-mnist" >&2
[ "$optional" = --optional ] && exit 0
exit 1
