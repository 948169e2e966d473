#!/usr/bin/env python3
"""Scores a grid of samples with an independent MNIST classifier: how many read as a digit, and
(for a "one row per digit" grid of a conditional model) how many as the digit their row asked for,
the worst row, and how varied each row is against real digits.

    python3 scripts/classify_samples.py GRID.png [GRID.png ...] [--rows] [--json] [--data assets/mnist]

The classifier is a small CNN trained here (seeded) on dynamically binarized MNIST training images
(the same binarization the PixelCNN sees) and cached in ~/.cache/pixelcnn-studio/classifier.pt; its
accuracy on the binarized test set is printed. A sample "reads as a digit" when the classifier's
top probability is at least --confidence (default 0.9). Needs torch and numpy (pip install torch
numpy). Grids are the PNGs `pixelcnn-studio sample` writes: side x side tiles of 28x28 pixels.

With --rows (row r asked for digit r mod 10) it also reports each row's hits and the worst row's,
and, for a 10x10 grid, the diversity of each row: the mean pairwise Hamming distance between its
10 tiles over the same for 10 real binarized test digits of that class (the mean over 2000 random
groups of the fixed test binarization, cached in ~/.cache/pixelcnn-studio/diversity_reference.json:
0 133, 1 61, 2 132, 3 119, 4 110, 5 126, 6 119, 7 99, 8 125, 9 104 pixels, within 2 of issue
16's). A ratio near 1 is as varied as real digits; well below 1 is a row of near-copies; above 1 is
noisier than real digits. --json prints one JSON object per grid instead of text.
"""
import json
import argparse
import gzip
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data, split):
    stem = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data, f"{stem}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data, f"{stem}-labels-idx1-ubyte.gz"))
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


def read_png_grey(path):
    """8-bit greyscale (or RGB) non-interlaced PNG -> 2-D uint8 array (no dependencies)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if tag == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8, "8-bit PNGs only"
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            left = cur[x - channels] if x >= channels else 0
            up = prev[x]
            ul = prev[x - channels] if x >= channels else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = left
            elif kind == 2:
                pred = up
            elif kind == 3:
                pred = (left + up) // 2
            else:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
            cur[x] = (line[x] + pred) & 0xFF
        out[y] = cur
        prev = cur
    return out[:, ::channels]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def classifier(data):
    cache = os.path.expanduser("~/.cache/pixelcnn-studio/classifier.pt")
    net = Net()
    test_x, test_y = load(data, "test")
    rng = np.random.default_rng(0)
    test_bin = torch.from_numpy((rng.random(test_x.shape) < test_x).astype(np.float32))[:, None]
    if os.path.exists(cache):
        net.load_state_dict(torch.load(cache))
    else:
        torch.manual_seed(0)
        train_x, train_y = load(data, "train")
        train_x, train_y = torch.from_numpy(train_x), torch.from_numpy(train_y)
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        for epoch in range(3):
            perm = torch.randperm(len(train_x))
            for i in range(0, len(perm), 100):
                idx = perm[i:i + 100]
                x = (torch.rand(len(idx), 28, 28) < train_x[idx]).float()[:, None]
                loss = F.cross_entropy(net(x), train_y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            print(f"classifier epoch {epoch + 1} trained", file=sys.stderr)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        torch.save(net.state_dict(), cache)
    net.eval()
    with torch.no_grad():
        accuracy = (net(test_bin).argmax(1).numpy() == test_y).mean()
    return net, accuracy


def mean_pairwise_hamming(x):
    """x (n, 784) of 0/1 -> the mean Hamming distance over the n(n-1)/2 pairs."""
    x = x.double()
    d = x @ (1 - x).T + (1 - x) @ x.T
    n = len(x)
    return float(d.triu(1).sum() / (n * (n - 1) / 2))


def diversity_reference(data, groups=2000, seed=0):
    """Per class, the mean over `groups` random groups of 10 real digits (the fixed test
    binarization, default_rng(0) as the classifier's accuracy uses) of their mean pairwise Hamming
    distance. Cached."""
    cache = os.path.expanduser("~/.cache/pixelcnn-studio/diversity_reference.json")
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)["groups"]
    test_x, test_y = load(data, "test")
    binarized = (np.random.default_rng(0).random(test_x.shape) < test_x).astype(np.float32)
    rng = np.random.default_rng(seed)
    reference = []
    for c in range(10):
        xc = torch.from_numpy(binarized[test_y == c].reshape(-1, 784))
        values = [mean_pairwise_hamming(xc[rng.choice(len(xc), 10, replace=False)])
                  for _ in range(groups)]
        reference.append(float(np.mean(values)))
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w") as f:
        json.dump({"groups": reference}, f, indent=1)
    return reference


def score(net, path, rows, confidence, data):
    """The scores of one grid, as a dict (see the module docs)."""
    grid = read_png_grey(path)
    side = grid.shape[0] // 28
    tiles = grid[:side * 28, :side * 28].reshape(side, 28, side, 28).transpose(0, 2, 1, 3)
    x = torch.from_numpy((tiles.reshape(-1, 28, 28) > 127).astype(np.float32))[:, None]
    with torch.no_grad():
        probs = F.softmax(net(x), 1)
    top, digit = probs.max(1)
    confident = top >= confidence
    result = {"grid": path, "tiles": len(x), "read_as_digit": int(confident.sum()),
              "mean_pixel": float(x.mean())}
    if rows:
        asked = torch.arange(len(x)) // side % 10
        hits = confident & (digit == asked)
        per_row = [int(hits[r * side:(r + 1) * side].sum()) for r in range(side)]
        result.update(asked_digit=int(hits.sum()), asked_digit_per_row=per_row,
                      min_row=min(per_row),
                      argmax_asked=int((digit == asked).sum()))
        if side == 10:
            reference = diversity_reference(data)
            flat = x.reshape(len(x), -1)
            ratios = [mean_pairwise_hamming(flat[r * 10:(r + 1) * 10]) / reference[r]
                      for r in range(10)]
            result.update(diversity_per_row=[round(d, 4) for d in ratios],
                          diversity_mean=sum(ratios) / 10, diversity_min=min(ratios))
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("grids", nargs="+")
    ap.add_argument("--rows", action="store_true", help="row r of each grid asked for digit r % 10")
    ap.add_argument("--confidence", type=float, default=0.9)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "assets", "mnist"))
    ap.add_argument("--json", action="store_true", help="one JSON object per grid")
    args = ap.parse_args()
    torch.set_num_threads(2)
    net, accuracy = classifier(args.data)
    if args.json:
        print(json.dumps({"classifier_accuracy": float(accuracy)}))
    else:
        print(f"classifier accuracy on the binarized test set: {accuracy:.4f}")
    for path in args.grids:
        r = score(net, path, args.rows, args.confidence, args.data)
        if args.json:
            print(json.dumps(r))
            continue
        line = f"{path}: {r['read_as_digit']}/{r['tiles']} read as a digit (p >= {args.confidence})"
        if args.rows:
            line += (f", {r['asked_digit']}/{r['tiles']} as the digit their row asked for "
                     f"(per row: {r['asked_digit_per_row']}, worst row {r['min_row']})")
            if "diversity_mean" in r:
                line += (f"; diversity vs real digits mean {r['diversity_mean']:.2f}, "
                         f"worst row {r['diversity_min']:.2f} (per row: {r['diversity_per_row']})")
        print(line)


if __name__ == "__main__":
    main()
