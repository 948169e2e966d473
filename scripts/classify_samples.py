#!/usr/bin/env python3
"""Scores a grid of samples with an independent MNIST classifier: how many read as a digit, and
(for a "one row per digit" grid of a conditional model) how many as the digit their row asked for.

    python3 scripts/classify_samples.py GRID.png [GRID.png ...] [--rows] [--data assets/mnist]

The classifier is a small CNN trained here on dynamically binarized MNIST training images (the
same binarization the PixelCNN sees) and cached in ~/.cache/pixelcnn-studio/classifier.pt; its
accuracy on the binarized test set is printed. A sample "reads as a digit" when the classifier's
top probability is at least --confidence (default 0.9). Needs torch and numpy (pip install torch
numpy). Grids are the PNGs `pixelcnn-studio sample` writes: side x side tiles of 28x28 pixels.
"""
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("grids", nargs="+")
    ap.add_argument("--rows", action="store_true", help="row r of each grid asked for digit r % 10")
    ap.add_argument("--confidence", type=float, default=0.9)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "assets", "mnist"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    net, accuracy = classifier(args.data)
    print(f"classifier accuracy on the binarized test set: {accuracy:.4f}")
    for path in args.grids:
        grid = read_png_grey(path)
        side = grid.shape[0] // 28
        tiles = grid[:side * 28, :side * 28].reshape(side, 28, side, 28).transpose(0, 2, 1, 3)
        x = torch.from_numpy((tiles.reshape(-1, 28, 28) > 127).astype(np.float32))[:, None]
        with torch.no_grad():
            probs = F.softmax(net(x), 1)
        top, digit = probs.max(1)
        confident = top >= args.confidence
        line = f"{path}: {int(confident.sum())}/{len(x)} read as a digit (p >= {args.confidence})"
        if args.rows:
            asked = torch.arange(len(x)) // side % 10
            hits = confident & (digit == asked)
            line += f", {int(hits.sum())}/{len(x)} as the digit their row asked for"
            per_row = [int(hits[r * side:(r + 1) * side].sum()) for r in range(side)]
            line += f" (per row: {per_row})"
        print(line)


if __name__ == "__main__":
    main()
