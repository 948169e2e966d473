#!/usr/bin/env bash
# The studio's layout in the real window on screens of several sizes: for each screen, a virtual
# display of that size with a window manager (openbox: title bars, placement), the studio opened
# on each tab, and a picture of the whole screen. Quick (a few seconds of training per screen),
# unlike screenshots.sh.
#
#   scripts/layout-check.sh                 # writes target/layout-check/SCREEN-TAB.png
#
# Environment (all optional):
#   PIXELCNN_STUDIO_BIN   the studio binary (default: target/release/pixelcnn-studio, built here)
#   SCREENS               screen sizes (default "800x500 1024x768 1100x768 1280x800 1600x1000")
#   CHECKPOINT            a checkpoint the Inspector and Explore windows open (default: a small
#                         gated model trained here for one short epoch)
#
# Needs Xvfb, openbox, ImageMagick's `import` and xdotool; installs them with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SCREENS=${SCREENS:-"800x500 1024x768 1100x768 1280x800 1600x1000"}
command -v openbox >/dev/null || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends openbox
}
# shellcheck source=scripts/studio-window.sh
source scripts/studio-window.sh
OUT=target/layout-check
mkdir -p "$OUT"

CHECKPOINT=${CHECKPOINT:-$SCRATCH/gated.safetensors}
if [[ ! -f "$CHECKPOINT" ]]; then
    echo "training a small gated model for the Inspector and Explore windows..."
    "$BIN" train --preset gated --conditional --train-limit 1000 --test-limit 200 --epochs 1 \
        --out "$CHECKPOINT" --json >/dev/null
fi
CHECKPOINT=$(realpath "$CHECKPOINT")

display=90
for screen in $SCREENS; do
    display=$((display + 1))
    Xvfb ":$display" -screen 0 "${screen}x24" -nolisten tcp >"$SCRATCH/xvfb-$display.log" 2>&1 &
    PIDS+=($!)
    sleep 1
    export DISPLAY=":$display"
    export HOME=$SCRATCH/home-$display XDG_DATA_HOME=$SCRATCH/data-$display
    export XDG_CONFIG_HOME=$SCRATCH/config-$display XDG_RUNTIME_DIR=$SCRATCH/run-$display
    mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
    openbox >"$SCRATCH/openbox-$display.log" 2>&1 &
    PIDS+=($!)
    sleep 1
    for view in training inspector explore; do
        if [[ $view == training ]]; then
            studio_env=(PIXELCNN_STUDIO_AUTOSTART=1 PIXELCNN_STUDIO_PRESET=seed
                PIXELCNN_STUDIO_EPOCHS=50 PIXELCNN_STUDIO_TRAIN_LIMIT=2000
                PIXELCNN_STUDIO_TEST_LIMIT=500)
            wait_secs=12
        else
            studio_env=(PIXELCNN_STUDIO_OPEN="$CHECKPOINT")
            wait_secs=6
        fi
        env "${studio_env[@]}" PIXELCNN_STUDIO_VIEW=$view "$BIN" 2>"$SCRATCH/studio.log" &
        studio=$!
        wid=$(wait_window)
        sleep "$wait_secs"
        xdotool mousemove 0 0
        sleep 0.5
        import -window root "$OUT/$screen-$view.png"
        geometry=$(xdotool getwindowgeometry "$wid" | tr '\n' ' ')
        echo "$screen $view: $geometry -> $OUT/$screen-$view.png"
        kill "$studio" 2>/dev/null || true
        wait "$studio" 2>/dev/null || true
    done
done
