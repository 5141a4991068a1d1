#!/usr/bin/env bash
# Same reports from two builds of the CLI: runs each `check` setting below, and `notebook`, with
# both binaries and compares their JSON reports with the wall time ("seconds") left out. A speed
# change that claims "the same bits" must pass this (and `cargo test`). Exit status 1 if any
# report differs.
#
#     git stash && cargo build --release && cp target/release/gradproof /tmp/before
#     git stash pop && cargo build --release
#     scripts/same-reports.sh /tmp/before target/release/gradproof
#
# The two large checks (512-1024-512-1 × 256, 10–20 s each) run only with LARGE=1.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BEFORE_BINARY AFTER_BINARY" >&2
    exit 2
fi
before=$1
after=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

settings=(
    "--layers 30,256,128,1 --examples 1024"
    "--layers 30,256,128,1 --examples 1024 --bug dW1[5,7]:add=1e-4"
    "--layers 30,256,128,1 --examples 1024 --step 1e-3"
    "--layers 20,64,32,1 --examples 256"
    "--layers 20,64,32,1 --examples 256 --bug dW2[1,3]:add=1e-3"
    "--layers 20,64,32,1 --examples 256 --activation leaky_relu"
    "--layers 20,64,32,1 --examples 256 --activation tanh"
    "--layers 20,64,32,1 --examples 256 --dropout 0.3"
    "--layers 20,64,32,1 --examples 256 --method forward"
    "--layers 20,64,32,1 --examples 256 --method central4"
    "--layers 20,64,32,1 --examples 256 --method richardson"
    "--layers 20,64,32,1 --examples 256 --threads 1"
    "--layers 20,64,32,1 --examples 256 --step 1e-3"
    "--layers 20,64,32,1 --examples 256 --step 1e-2"
    "--layers 20,64,32,1 --examples 256 --step 1e-2 --activation leaky_relu"
    "--layers 20,64,32,1 --examples 256 --step 1e3"
    "--layers 20,64,32,1 --examples 256 --step auto"
    "--layers 20,64,32,1 --examples 256 --precision f32"
    "--layers 20,64,32,1 --examples 256 --mode sampled=20"
    "--layers 20,64,32,1 --examples 256 --points 3"
    "--layers 20,64,32,16,1 --examples 256"
    "--layers 20,64,32,16,1 --examples 256 --step 1e-2 --dropout 0.2"
    "--layers 20,64,32,16,1 --examples 256 --activation leaky_relu --dropout 0.1 --bug dW3[2,5]:add=1e-3"
    "--layers 20,64,32,16,1 --examples 128 --activation sigmoid --dropout 0.2"
    "--layers 20,64,1 --examples 256 --l2 0.1"
    "--layers 20,48,1 --examples 300 --activation leaky_relu"
    "--layers 7,300,5,1 --examples 33"
    "--layers 7,300,5,1 --examples 33 --step 1e-1"
    "--layers 20,64,32,1 --examples 256 --rtol 1e-3 --atol 1e-8"
    "--layers 20,64,32,1 --examples 256 --rtol 1e-9 --bug dW2[1,3]:add=1e-3"
    "--layers 20,48,1 --examples 300 --activation leaky_relu --step 1e-1 --rtol 1e-4"
    "--layers 20,64,32,1 --examples 256 --method dual --activation leaky_relu"
    "--layers 20,64,32,1 --examples 256 --mode directional --bug dW2[1,3]:add=1e-3"
)
if [ "${LARGE:-0}" = 1 ]; then
    settings+=("--layers 512,1024,512,1 --examples 256")
fi

differ=0
for setting in "${settings[@]}"; do
    # shellcheck disable=SC2086 # each setting is a list of flags
    "$before" check $setting --format json 2>&1 | grep -v '"seconds"' > "$scratch/before" || true
    # shellcheck disable=SC2086
    "$after" check $setting --format json 2>&1 | grep -v '"seconds"' > "$scratch/after" || true
    if ! cmp -s "$scratch/before" "$scratch/after"; then
        echo "differ: check $setting"
        differ=$((differ + 1))
    fi
done
# The notebook's checks too (the seed's digits).
"$before" notebook --format json 2>&1 | grep -v '"seconds"' > "$scratch/before" || true
"$after" notebook --format json 2>&1 | grep -v '"seconds"' > "$scratch/after" || true
if ! cmp -s "$scratch/before" "$scratch/after"; then
    echo "differ: notebook"
    differ=$((differ + 1))
fi
echo "${#settings[@]} check settings and the notebook compared, $differ differ"
[ "$differ" = 0 ]
