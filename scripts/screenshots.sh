#!/usr/bin/env bash
# Screenshots of the real studio window under Xvfb, from a real training run on the shipped MNIST.
#
#   scripts/screenshots.sh            # builds the release binary, trains ~10 minutes, writes screenshots/
#
# Environment (all optional):
#   PIXELCNN_STUDIO_BIN   the studio binary (default: target/release/pixelcnn-studio, built here)
#   TRAIN_SECS            seconds of training before the training screenshot (default 600;
#                         0 takes only the inspector screenshots)
#   TRAIN_LIMIT           training images per epoch, so epochs finish quickly (default 20000)
#   TEST_LIMIT            test images per epoch (default 2000)
#   EPOCHS                epochs to ask for, so training is still running at the shot (default 100)
#   MODEL                 a JSON model configuration for the training window (default: the
#                         studio's default, the conditional gated preset), e.g. '{"masked_layers":5,"masked_relu":true,"residual":true,"feature_maps":48}'
#
# Needs Xvfb, ImageMagick's `import` and xdotool; installs them with apt-get when missing.
# Also writes screenshots/frames.log: the UI's frame-time statistics while training.
set -euo pipefail
cd "$(dirname "$0")/.."

TRAIN_SECS=${TRAIN_SECS:-600}
TRAIN_LIMIT=${TRAIN_LIMIT:-20000}
TEST_LIMIT=${TEST_LIMIT:-2000}
EPOCHS=${EPOCHS:-100}
MODEL=${MODEL:-}
# shellcheck source=scripts/studio-window.sh
source scripts/studio-window.sh
start_display :97

shot() {
    # Keep the pointer off the plot (it would draw a hover crosshair).
    xdotool mousemove 1270 795
    sleep 0.5
    import -window "$1" "$OUT/$2"
    echo "saved $OUT/$2"
}

if ((TRAIN_SECS > 0)); then
    echo "training on real MNIST ($TRAIN_LIMIT train / $TEST_LIMIT test images per epoch) for ${TRAIN_SECS}s..."
    model_env=()
    [[ -n "$MODEL" ]] && model_env=(PIXELCNN_STUDIO_MODEL="$MODEL")
    env "${model_env[@]}" PIXELCNN_STUDIO_AUTOSTART=1 PIXELCNN_STUDIO_VIEW=training \
        PIXELCNN_STUDIO_EPOCHS=$EPOCHS PIXELCNN_STUDIO_TRAIN_LIMIT=$TRAIN_LIMIT \
        PIXELCNN_STUDIO_TEST_LIMIT=$TEST_LIMIT PIXELCNN_STUDIO_FRAME_LOG=1 "$BIN" 2>"$OUT/frames.log" &
    TRAINING_PID=$!
    PIDS+=($TRAINING_PID)
    WID=$(wait_window)
    sleep $((TRAIN_SECS / 3))
    shot "$WID" training-early.png
    sleep $((TRAIN_SECS - TRAIN_SECS / 3))
    shot "$WID" training.png
    echo "frame times while training (last report):"
    grep "\[frames\]" "$OUT/frames.log" | tail -n 1 || true
    kill "$TRAINING_PID" 2>/dev/null || true
    wait "$TRAINING_PID" 2>/dev/null || true
fi

# The inspector of the gated model (the studio's default: two stacks, no blind spot), of the seed
# model, and of the paper's 15-layer stack, whose receptive field shows the blind spot of stacked
# masked convolutions.
# A fresh profile: no offer to resume the run above (killed, it reads as crashed), no settings
# it saved.
rm -rf "$XDG_DATA_HOME" "$XDG_CONFIG_HOME"
for preset in gated seed paper; do
    PIXELCNN_STUDIO_VIEW=inspector PIXELCNN_STUDIO_PRESET=$preset "$BIN" 2>"$SCRATCH/inspector.log" &
    pid=$!
    PIDS+=($pid)
    WID=$(wait_window)
    sleep 2
    name=inspector-$preset.png
    [[ $preset == gated ]] && name=inspector.png
    shot "$WID" "$name"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
