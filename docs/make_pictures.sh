#!/usr/bin/env bash
# Draws the README's pictures of `search --png` and `evaluate --png` into docs/ (the README's tour writes its
# own copies to tour/, git-ignored, so following it never changes a checkout). The other pictures come from
# the browser test (serve.png), a training run (curves.png) and docs/dedup_examples.py (dedup-*.png).
#   bash docs/make_pictures.sh        # from anywhere; needs ../shared beside the repository
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared="$repo/../shared"
weights="$shared/models/resnet18-cifar10.pt"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"  # the tour's own paths (photos/…) in the pictures
lookalike samples photos --cifar "$shared/datasets/cifar10/train" --broken >/dev/null 2>&1
lookalike index photos --weights "$weights" >/dev/null 2>&1
cp photos/cat/0003.jpg "photos/cat/copy of 0003.jpg"
lookalike index photos >/dev/null 2>&1
lookalike search photos/cat/0003.jpg -k 5 --png "$repo/docs/search.png" >/dev/null
cd "$repo"
lookalike evaluate ../shared/datasets/cifar10/train --weights ../shared/models/resnet18-cifar10.pt \
    --queries 500 --limit 5000 --png docs/retrieval.png >/dev/null
echo "drew docs/search.png and docs/retrieval.png"
