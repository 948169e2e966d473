# Shared by screenshots.sh and explore-screenshots.sh (sourced, not run): the tools they need,
# the studio binary, a scratch folder cleaned up on exit, a virtual display with a private home,
# and waiting for the studio's window.
#
# Sets OUT, TITLE, BIN, SCRATCH, PIDS; `start_display SCREEN` sets DISPLAY and the private home;
# `wait_window` prints the window id. PIXELCNN_STUDIO_BIN picks a prebuilt binary.

OUT=screenshots
TITLE="PixelCNN Studio"

missing=()
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v import >/dev/null || missing+=(imagemagick)
command -v xdotool >/dev/null || missing+=(xdotool)
if ((${#missing[@]})); then
    echo "installing ${missing[*]}..."
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BIN=${PIXELCNN_STUDIO_BIN:-}
if [[ -z "$BIN" ]]; then
    cargo build --release
    BIN=target/release/pixelcnn-studio
fi

mkdir -p "$OUT"
SCRATCH=$(mktemp -d)
chmod 700 "$SCRATCH"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

# A 1280x800 virtual display on $1, and a private home: saved UI choices from earlier runs
# must not change the pictures.
start_display() {
    Xvfb "$1" -screen 0 1280x800x24 -nolisten tcp >"$SCRATCH/xvfb.log" 2>&1 &
    PIDS+=($!)
    sleep 1
    export DISPLAY=$1
    export HOME=$SCRATCH XDG_DATA_HOME=$SCRATCH/data XDG_CONFIG_HOME=$SCRATCH/config
    export XDG_RUNTIME_DIR=$SCRATCH/run
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
}

# Prints the id of the studio's window once it shows (up to a minute), or fails.
wait_window() {
    local wid=""
    for _ in $(seq 1 300); do
        wid=$(xdotool search --name "$TITLE" 2>/dev/null | head -n1 || true)
        [[ -n "$wid" ]] && break
        sleep 0.2
    done
    [[ -n "$wid" ]] || { echo "the studio window did not appear" >&2; exit 1; }
    echo "$wid"
}
