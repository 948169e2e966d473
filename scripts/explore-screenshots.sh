#!/usr/bin/env bash
# Screenshots of the studio's Explore tab in the real window under Xvfb, driven with the mouse
# the way a new user would: a test image's heatmap and completions, a digit drawn on the canvas,
# and a hole filled.
#
#   scripts/explore-screenshots.sh    # builds the release binary, trains a few minutes, writes screenshots/explore*.png
#
# Environment (all optional):
#   PIXELCNN_STUDIO_BIN   the studio binary (default: target/release/pixelcnn-studio, built here)
#   CHECKPOINT            a checkpoint to explore (default: train the seed model here first)
#   TRAIN_ARGS            the `train` options when no CHECKPOINT is given (default: the seed
#                         model, 3 epochs of 30000 images, about 4 minutes on 2 idle cores)
#   LIVE_SECS             seconds of training a fresh model with the tab open, for
#                         explore-live.png and explore-frames.log (default 60; 0 skips it)
#
# The pointer positions are those of the 1280x800 window's default layout (the tests'
# harness lays the tab out the same way). Needs Xvfb, ImageMagick's `import` and xdotool;
# installs them with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

LIVE_SECS=${LIVE_SECS:-60}
TRAIN_ARGS=${TRAIN_ARGS:---epochs 3 --train-limit 30000}
# shellcheck source=scripts/studio-window.sh
source scripts/studio-window.sh

CHECKPOINT=${CHECKPOINT:-}
if [[ -z "$CHECKPOINT" ]]; then
    CHECKPOINT=$SCRATCH/explore.safetensors
    echo "training: $TRAIN_ARGS..."
    # shellcheck disable=SC2086
    "$BIN" train $TRAIN_ARGS --test-limit 2000 --out "$CHECKPOINT" --json
fi
CHECKPOINT=$(realpath "$CHECKPOINT")

start_display :96

PIXELCNN_STUDIO_VIEW=explore PIXELCNN_STUDIO_OPEN=$CHECKPOINT "$BIN" 2>"$SCRATCH/studio.log" &
PIDS+=($!)
WID=$(wait_window)
sleep 8 # open the checkpoint, load the test set, score the first image

# Widget positions in the default 1280x800 layout.
CANVAS_X=288 CANVAS_Y=130 CELL=9      # the drawing canvas, 28 cells of 9 points
click() { xdotool mousemove "$1" "$2" click 1; sleep "${3:-0.5}"; }
cell() { echo $((CANVAS_X + $2 * CELL + CELL / 2)) $((CANVAS_Y + $1 * CELL + CELL / 2)); }
# Drags the left button through the cells given as "row,col" pairs.
stroke() {
    local first=1 r c
    for rc in "$@"; do
        IFS=, read -r r c <<<"$rc"
        # shellcheck disable=SC2046
        xdotool mousemove $(cell "$r" "$c")
        if ((first)); then xdotool mousedown 1; first=0; fi
        sleep 0.05
    done
    xdotool mouseup 1
    sleep 0.3
}
shot() {
    sleep "${2:-1}"
    import -window "$WID" "$OUT/$1"
    echo "saved $OUT/$1"
}
COMPLETE=(${COMPLETE_AT:-991 186})
NEXT=(${NEXT_AT:-455 94})
CLEAR=(${CLEAR_AT:-468 117})
HOLE=(${HOLE_AT:-415 117})
PEN=(${PEN_AT:-307 117})
DIGIT7=(${DIGIT7_AT:-362 459})

# 1. A test image: its heatmap, a hovered pixel, and ten completions of its top half.
click "${NEXT[@]}" 1
click "${NEXT[@]}" 1
click "${COMPLETE[@]}" 3
# shellcheck disable=SC2046
xdotool mousemove $(cell 9 14)
shot explore.png

# 2. A digit drawn with the mouse (a 7), scored and completed.
click "${CLEAR[@]}"
click "${PEN[@]}"
stroke 6,8 6,10 6,12 6,14 6,16 6,18 6,19 7,19 8,18 10,17 12,16 14,15 16,14 18,13 20,12 22,12
stroke 13,11 13,13 13,15 13,17 13,19
# A class-conditional model reads the digit: say it is a 7 (no picker, no effect, otherwise).
click "${DIGIT7[@]}"
click "${COMPLETE[@]}" 3
# shellcheck disable=SC2046
xdotool mousemove $(cell 13 19)
shot explore-drawn.png

# 3. The stretch: a hole dragged over the next test image, filled by the model.
click "${NEXT[@]}" 1
click "${HOLE[@]}"
stroke 9,6 12,12 15,19
click "${COMPLETE[@]}" 3
xdotool mousemove 1270 795
shot explore-hole.png
kill "${PIDS[-1]}" 2>/dev/null || true
wait "${PIDS[-1]}" 2>/dev/null || true

# 4. A model while it trains: the tab follows it through weight snapshots, and the UI's frame
# times (logged to screenshots/explore-frames.log) show it never waits for the work.
if ((LIVE_SECS > 0)); then
    echo "training a fresh model with the Explore tab open for ${LIVE_SECS}s..."
    PIXELCNN_STUDIO_VIEW=explore PIXELCNN_STUDIO_AUTOSTART=1 PIXELCNN_STUDIO_EPOCHS=100 \
        PIXELCNN_STUDIO_TRAIN_LIMIT=10000 PIXELCNN_STUDIO_TEST_LIMIT=1000 \
        PIXELCNN_STUDIO_FRAME_LOG=1 "$BIN" 2>"$OUT/explore-frames.log" &
    PIDS+=($!)
    WID=$(wait_window)
    sleep $((LIVE_SECS / 2))
    click "${COMPLETE[@]}" 1
    # shellcheck disable=SC2046
    xdotool mousemove $(cell 12 14)
    sleep $((LIVE_SECS - LIVE_SECS / 2))
    shot explore-live.png 0
    echo "frame times with the Explore tab open while training (last report):"
    grep "\[frames\]" "$OUT/explore-frames.log" | tail -n 1 || true
fi
