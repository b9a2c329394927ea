#!/usr/bin/env bash
# Every GPU measurement of issues 2, 3 and 4, prepared for one device session (two calls, each < 10 min).
#
#   bash benchmarks/gpu.sh pack    # here, before the session: data and weights into .data/ (git-ignored)
#   bash benchmarks/gpu.sh train   # there: seed, fast-20s, fast-60s × 3 seeds (≈ 7 min on one H100)
#   bash benchmarks/gpu.sh embed   # there: photos + CIFAR-10 end to end, then fp16/bf16 fidelity
#   bash benchmarks/gpu.sh smoke   # here, on the CPU: both parts at tiny sizes, to check the script runs
#
# With the device tool:
#   run(command="bash benchmarks/gpu.sh train", carry=[".data/cifar10-train.zip"], timeout_s=590)
#   run(command="bash benchmarks/gpu.sh embed", carry=[".data/cifar10-20k.zip", ".data/resnet18-cifar10.pt"])
# Results (JSON and logs) land in $OUT, else .data/gpu; copy their numbers into benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.data/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
SHARED=../shared

install() {  # the GPU machine has torch, torchvision and numpy; the project itself goes in without deps
    python -c "import lookalike" 2>/dev/null || python -m pip install -q --no-deps -e .
}

unpack() {  # $1 zip → $2 folder; the zip holds train/<class>/*.jpg
    [ -d "$2/train" ] || { mkdir -p "$2" && python -m zipfile -e "$1" "$2"; }
}

case "${1:-}" in
pack)
    [ -f .data/cifar10-train.zip ] || python -m zipfile -c .data/cifar10-train.zip "$SHARED/datasets/cifar10/train"
    # 2,000 images per class (the embedding stage cycles through them): fits one call's carry with the weights
    [ -f .data/cifar10-20k.zip ] || python - "$SHARED/datasets/cifar10/train" <<'PY'
import sys, zipfile
from pathlib import Path
root = Path(sys.argv[1])
with zipfile.ZipFile(".data/cifar10-20k.zip.tmp", "w") as z:
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(d.glob("*.jpg"))[:2000]:
            z.write(f, f"train/{d.name}/{f.name}")
Path(".data/cifar10-20k.zip.tmp").replace(".data/cifar10-20k.zip")
PY
    [ -f .data/resnet18-cifar10.pt ] || cp "$SHARED/models/resnet18-cifar10.pt" .data/resnet18-cifar10.pt
    ls -l .data/cifar10-train.zip .data/cifar10-20k.zip .data/resnet18-cifar10.pt
    ;;
train)
    install
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    python benchmarks/train_cifar10.py --data .data/cifar10-train.zip --out "$OUT/train.json" 2>&1 \
        | tee "$OUT/train.log"
    ;;
embed)
    install
    unpack .data/cifar10-20k.zip /tmp/cifar20k
    python benchmarks/embed.py --device cuda --n 4000 --rounds 2 --stages baseline,pipeline,cifar \
        --cifar-n 50000 --cifar-dir /tmp/cifar20k/train --cifar-weights .data/resnet18-cifar10.pt \
        --json "$OUT/embed.json" 2>&1 | tee "$OUT/embed.log"
    python benchmarks/fidelity.py --study precision --n 1000 --cifar-dir /tmp/cifar20k/train \
        --weights .data/resnet18-cifar10.pt --json "$OUT/fidelity.json" 2>&1 | tee "$OUT/fidelity.log"
    ;;
smoke)
    [ -f .data/cifar10-20k.zip ] || bash "$0" pack
    python benchmarks/train_cifar10.py --smoke --data .data/cifar10-20k.zip --configs seed,fast-20s \
        --seeds 1 --out "$OUT/train-smoke.json" 2>&1 | tail -5
    unpack .data/cifar10-20k.zip /tmp/cifar20k
    python benchmarks/embed.py --smoke --stages baseline,pipeline,cifar --cifar-dir /tmp/cifar20k/train \
        --cifar-weights .data/resnet18-cifar10.pt --json "$OUT/embed-smoke.json" 2>&1 | tail -4
    python benchmarks/fidelity.py --study precision --n 100 --cifar-dir /tmp/cifar20k/train \
        --weights .data/resnet18-cifar10.pt --json "$OUT/fidelity-smoke.json" 2>&1 | tail -4
    ;;
*)
    sed -n 2,12p "$0"
    exit 2
    ;;
esac
