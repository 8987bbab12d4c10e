#!/usr/bin/env python3
"""Hostile-input probe of the `forger` binary (issue 22), rebuilt from the
issue's reproductions: every case runs the binary on a bad input (or a good
one that must be handled right) and is classified as a panic, an abort
(signal, allocation failure), a hang (past the time limit), an exit with
status 0 on bad input, or an unclear error (one that does not name the file
or flag and the problem). Prints one table; with --memory, also the peak RSS
of each bomb from /usr/bin/time -v.

    python3 tests/hostile/probe.py target/debug/forger [--memory]

Standard library only (no numpy or PIL): the files are written by hand,
the JPEG from tests/hostile/photo.jpg.
"""

import gzip
import os
import random
import re
import resource
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIMEOUT = 60
# Address-space cap of every run, so that a binary that allocates what a
# header claims aborts instead of taking the machine's memory.
MEMORY_CAP = 4 << 30


def cap_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def idx(magic, dims, data=b""):
    return struct.pack(">%dI" % (1 + len(dims)), magic, *dims) + data


def npy(shape, data):
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': %s, }" % (shape,)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def png(width, height, rows=None):
    """A grey 8-bit PNG; `rows` None writes `height` zero rows, compressed."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = rows if rows is not None else b"\0" * ((width + 1) * height)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


class Probe:
    def __init__(self, binary, root):
        self.binary = binary
        self.root = Path(root)
        self.rows = []

    def path(self, name):
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def dir(self, name):
        p = self.root / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def write(self, name, data):
        p = self.path(name)
        p.write_bytes(data)
        return p

    def run(self, args):
        env = dict(os.environ, RUST_BACKTRACE="0", RUST_LOG="warn")
        try:
            r = subprocess.run([self.binary] + [str(a) for a in args], capture_output=True,
                               timeout=TIMEOUT, env=env, cwd=self.root, preexec_fn=cap_memory)
            return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            return None, ""

    def bad(self, name, args, *needles):
        """A bad input: must fail, with an error holding every needle."""
        rc, out = self.run(args)
        self.rows.append((name, classify(rc, out, bad=True, needles=needles), out))

    def good(self, name, args, check=None, *needles):
        """A good input: must succeed (and pass `check`, and show needles)."""
        rc, out = self.run(args)
        verdict = classify(rc, out, bad=False, needles=needles)
        if verdict == "ok" and check is not None and not check():
            verdict = "silent wrong data"
        self.rows.append((name, verdict, out))


def classify(rc, out, bad, needles):
    if rc is None:
        return "hang"
    if "panicked at" in out:
        return "panic"
    if rc < 0 or rc == 134 or "memory allocation of" in out:
        return "abort"
    if bad and rc == 0:
        return "exit 0 on bad input"
    if not bad and rc != 0:
        return "failed on good input"
    if any(n.lower() not in out.lower() for n in needles):
        return "unclear error"
    return "ok"


def build(p):
    """The inputs shared by many cases."""
    rng = random.Random(0)
    n = 120
    pixels = bytes(rng.randrange(256) for _ in range(n * 28 * 28))
    labels = bytes(i % 10 for i in range(n))
    good = p.dir("idx/good")
    (good / "t10k-images-idx3-ubyte").write_bytes(idx(0x803, [n, 28, 28], pixels))
    (good / "t10k-labels-idx1-ubyte").write_bytes(idx(0x801, [n], labels))
    (good / "train-images-idx3-ubyte").write_bytes(idx(0x803, [n, 28, 28], pixels))
    (good / "train-labels-idx1-ubyte").write_bytes(idx(0x801, [n], labels))
    jpeg = (HERE / "photo.jpg").read_bytes()
    tree = p.dir("tree")
    for c in ["a", "b"]:
        for k in range(3):
            p.write(f"tree/{c}/{k}.jpg", jpeg)
    return good, pixels, labels, jpeg, tree


def idx_cases(p, good, pixels, labels):
    def folder(name, images, gz=False):
        d = p.dir(f"idx/{name}")
        suffix = ".gz" if gz else ""
        (d / ("t10k-images-idx3-ubyte" + suffix)).write_bytes(images)
        (d / "t10k-labels-idx1-ubyte").write_bytes(idx(0x801, [120], labels))
        return d

    train = ["train", "mnist-cnn", "--steps", "1", "--holdout", "20", "--out"]
    # Item 1: dimensions that wrap past 2^64.
    d = folder("wrap", idx(0x803, [4, 2**31, 2**31]))
    p.bad("idx dims wrap 2^64", train + [p.path("o/wrap"), "--data", d], "t10k-images", "claim more than")
    d = folder("wrap-gz", gzip.compress(idx(0x803, [4, 2**31, 2**31])), gz=True)
    p.bad("idx.gz dims wrap 2^64", train + [p.path("o/wrapgz"), "--data", d], "t10k-images", "claim more than")
    # Item 2: a 31-byte gzip claiming 983,040 x 256 x 256.
    d = folder("claim", gzip.compress(idx(0x803, [983040, 256, 256]), mtime=0), gz=True)
    p.bad("31-byte gz claims 64 GB", train + [p.path("o/claim"), "--data", d], "t10k-images", "claim more than")
    # Items 3 and 4: gzip mutants.
    gz = gzip.compress(idx(0x803, [120, 28, 28], pixels), mtime=0)
    rng = random.Random(1)
    mutants = 0
    while mutants < 120:
        m = bytearray(gz)
        at = rng.randrange(10, len(m))
        m[at] ^= 1 << rng.randrange(8)
        try:
            gzip.decompress(bytes(m))
            continue  # gzip -t accepts it: not a bad input
        except Exception:
            pass
        d = folder(f"gzmut{mutants}", bytes(m), gz=True)
        p.bad(f"gzip mutant {mutants}", train + [p.path(f"o/gzm{mutants}"), "--data", d], "t10k-images")
        mutants += 1
    d = folder("gzhead", b"\x1f\x8b\x08\xe0" + gz[4:], gz=True)
    p.bad("corrupt gzip header", train + [p.path("o/gzh"), "--data", d], "t10k-images", "corrupt gzip")
    d = folder("gzcut", gz[: len(gz) // 2], gz=True)
    p.bad("truncated gzip", train + [p.path("o/gzc"), "--data", d], "t10k-images", "truncated")
    raw = idx(0x803, [120, 28, 28], pixels)
    d = folder("gzmulti", gzip.compress(raw[:5000]) + gzip.compress(raw[5000:]), gz=True)
    p.good("multi-member gzip", train + [p.path("o/gzmulti"), "--data", d])
    for cut in (0, 3, 10, 16, 1000):
        d = folder(f"cut{cut}", raw[:cut])
        p.bad(f"raw idx cut at {cut}", train + [p.path(f"o/cut{cut}"), "--data", d], "t10k-images", "truncated")
    d = folder("magic", idx(0x801, [120, 28, 28], pixels))
    p.bad("idx wrong magic", train + [p.path("o/magic"), "--data", d], "t10k-images", "magic")


def jpeg_cases(p, jpeg, tree):
    base = ["train", "catdog-cnn", "--epochs", "1", "--image-size", "16"]
    sos = jpeg.find(b"\xff\xda")
    broken = {"header-only": jpeg[: sos + 20]}
    for cut in range(10, 100, 10):
        broken[f"cut{cut}"] = jpeg[: len(jpeg) * cut // 100]
    for k, at in enumerate((0.3, 0.5, 0.7)):
        m = bytearray(jpeg)
        i = sos + int((len(jpeg) - sos) * at)
        m[i:i + 40] = b"\xff" * 40
        broken[f"ff-run{k}"] = bytes(m)
    for name, data in broken.items():
        for full in (False, True):
            t = p.dir(f"jtree-{name}-{full}")
            for c in ["a", "b"]:
                for k in range(3):
                    p.write(f"jtree-{name}-{full}/{c}/{k}.jpg", jpeg)
            p.write(f"jtree-{name}-{full}/b/bad.jpg", data)
            extra = ["--full-size-jpeg"] if full else []
            p.bad(f"jpeg {name}{' full-size' if full else ''}",
                  base + extra + ["--data", t, "--out", p.path(f"o/j{name}{full}")], "bad.jpg")
            p.good(f"jpeg {name}{' full-size' if full else ''} --skip-bad-images",
                   base + extra + ["--skip-bad-images", "--data", t, "--out", p.path(f"o/js{name}{full}")],
                   None, "bad.jpg")
    # A 758-byte-class JPEG claiming 65500 x 65500.
    m = bytearray(jpeg)
    sof = m.find(b"\xff\xc0")
    m[sof + 5:sof + 9] = struct.pack(">HH", 65500, 65500)
    t = p.dir("jhuge")
    for c in ["a", "b"]:
        p.write(f"jhuge/{c}/0.jpg", jpeg)
    p.write("jhuge/b/huge.jpg", bytes(m))
    p.bad("jpeg claims 65500^2", base + ["--data", t, "--out", p.path("o/jhuge")], "huge.jpg", "pixels")
    # A 16000^2 PNG of zeros, 249 KB-class.
    t = p.dir("phuge")
    for c in ["a", "b"]:
        p.write(f"phuge/{c}/0.jpg", jpeg)
    p.write("phuge/b/huge.png", png(16000, 16000))
    p.bad("png 16000^2", base + ["--data", t, "--out", p.path("o/phuge")], "huge.png", "pixels")
    # FIFO and /dev/zero named x.jpg.
    t = p.dir("fifo")
    for c in ["a", "b"]:
        p.write(f"fifo/{c}/0.jpg", jpeg)
    os.mkfifo(t / "b" / "x.jpg")
    p.bad("fifo x.jpg", base + ["--data", t, "--out", p.path("o/fifo")], "x.jpg", "regular file")
    t = p.dir("zero")
    for c in ["a", "b"]:
        p.write(f"zero/{c}/0.jpg", jpeg)
    os.symlink("/dev/zero", t / "b" / "x.jpg")
    p.bad("/dev/zero x.jpg", base + ["--data", t, "--out", p.path("o/zero")], "x.jpg", "regular file")
    # Two non-UTF-8 class folders.
    t = p.path("nonutf8")
    for c in [b"\xff1", b"\xff2"]:
        d = Path(os.fsdecode(bytes(t) + b"/" + c))
        d.mkdir(parents=True)
        (d / "0.jpg").write_bytes(jpeg)
    p.bad("non-UTF-8 class folders", base + ["--data", t, "--out", p.path("o/nonutf8")], "UTF-8")
    # Sizes that would abort.
    p.bad("catdog --image-size 70000", ["train", "catdog-cnn", "--image-size", "70000", "--data", tree], "--image-size")
    p.bad("augment-preview --zoom 100000", ["augment-preview", "--zoom", "100000", "--data", tree,
                                            "--out", p.path("o/prev.png")], "--zoom")
    for flag, value in [("--epochs", "0"), ("--lr", "0"), ("--lr", "-1"), ("--lr", "nan"), ("--batch-size", "0"),
                        ("--val-split", "1"), ("--test-split", "-0.1"), ("--patience", "0")]:
        p.bad(f"catdog {flag}={value}", base + [f"{flag}={value}", "--data", tree], flag)


def npz_cases(p):
    def archive(name, members, method=zipfile.ZIP_DEFLATED):
        path = p.path(f"npz/{name}.npz")
        with zipfile.ZipFile(path, "w", method) as z:
            for k, v in members.items():
                z.writestr(k + ".npy", v)
        return path

    img = npy((4, 8, 8), bytes(256))
    lab = npy((4,), bytes([0, 1, 0, 1]))
    ok = {f"{s}_{k}": (img if k == "images" else lab) for s in ("train", "val", "test") for k in ("images", "labels")}
    train = ["train", "mnist-cnn", "--steps", "1", "--out"]
    # The zip bomb: a small header over ~2.9 GB of zeros (2.3 MB-class file).
    bomb = dict(ok)
    bomb_path = p.path("npz/bomb.npz")
    with zipfile.ZipFile(bomb_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for k, v in ok.items():
            if k != "train_images":
                z.writestr(k + ".npy", v)
        with z.open("train_images.npy", "w", force_zip64=True) as f:
            f.write(img)
            block = bytes(1 << 24)
            for _ in range(175):
                f.write(block)
    p.bad("npz zip bomb", train + [p.path("o/nbomb"), "--data", bomb_path], "bomb.npz", "train_images")
    shapes = dict(ok, test_images=npy((4, 4, 16), bytes(256)))
    p.bad("npz splits of two shapes", train + [p.path("o/nshape"), "--data", archive("shapes", shapes)],
          "shapes.npz", "test_images")
    wrap = dict(ok, train_images=npy((2**32, 2**32, 2), b""))
    p.bad("npz shape overflows", train + [p.path("o/nwrap"), "--data", archive("wrap", wrap)], "wrap.npz")
    stored = archive("stored", ok, zipfile.ZIP_STORED)
    data = bytearray(stored.read_bytes())
    data[data.find(b"\x00" * 64) + 10] = 7
    p.bad("npz CRC mismatch", train + [p.path("o/ncrc"), "--data", p.write("npz/crc.npz", bytes(data))],
          "crc.npz", "checksum")
    good = archive("good", ok)
    rng = random.Random(2)
    src = good.read_bytes()
    for k in range(40):
        m = bytearray(src)
        for _ in range(1 + k % 3):
            m[rng.randrange(len(m))] = rng.randrange(256)
        path = p.write(f"npz/mut{k}.npz", bytes(m))
        rc, out = p.run(train + [p.path(f"o/nmut{k}"), "--data", path])
        # A mutant may still be a valid archive: only crashes count.
        verdict = classify(rc, out, bad=False, needles=())
        if verdict == "failed on good input":
            verdict = "ok" if f"mut{k}.npz" in out else "unclear error"
        p.rows.append((f"npz mutant {k}", verdict, out))


def run_cases(p, good, tree):
    base = ["train", "mnist-cnn", "--data", good, "--holdout", "20", "--eval-every", "1"]
    run = p.path("o/run")
    p.good("train a run", base + ["--steps", "2", "--out", run])
    # Item 6: another --holdout on --resume.
    p.bad("--resume with another --holdout",
          ["train", "mnist-cnn", "--data", good, "--holdout", "30", "--eval-every", "1", "--steps", "3",
           "--resume", "--out", run], "data_content")
    # Item 7: --resume with nothing to resume.
    p.bad("--resume, no checkpoint", base + ["--steps", "2", "--resume", "--out", p.path("o/none")], "--resume",
          "no checkpoint")
    # Item 9: a stale temp file is removed when the run opens its folder.
    stale = run / ".checkpoint.safetensors.4000000000.tmp"
    stale.write_bytes(b"x" * 4096)
    p.good("stale .tmp removed on --resume", base + ["--steps", "3", "--resume", "--out", run],
           lambda: not stale.exists())
    # Item 8: a corrupted tensor byte, and an edited step.
    ck = (run / "checkpoint.safetensors").read_bytes()
    flipped = bytearray(ck)
    flipped[-100] ^= 0x55
    (run / "checkpoint.safetensors").write_bytes(bytes(flipped))
    p.bad("checkpoint tensor byte flipped", base + ["--steps", "4", "--resume", "--out", run], "checkpoint",
          "checksum")
    edited = re.sub(rb'(\\"step\\":)3', rb"\g<1>9", ck, count=1)
    (run / "checkpoint.safetensors").write_bytes(edited)
    p.bad("checkpoint step edited", base + ["--steps", "4", "--resume", "--out", run], "checkpoint", "checksum")
    (run / "checkpoint.safetensors").write_bytes(ck)
    # Item 13: flags.
    for flag, value in [("--steps", "0"), ("--lr", "0"), ("--eval-every", "0"), ("--batch-size", "0"),
                        ("--holdout", "0")]:
        p.bad(f"mnist-cnn {flag}={value}", ["train", "mnist-cnn", "--data", good, f"{flag}={value}",
                                             "--out", p.path("o/flag")], flag)
    p.bad("eval --split val on IDX", ["eval", "--run", run, "--data", good, "--split", "val"], "--split", "val")
    gan = p.path("o/gan")
    p.good("gan train", ["gan", "train", "--data", good, "--steps", "2", "--sample-every", "1", "--out", gan])
    p.bad("eval on a GAN run", ["eval", "--run", gan, "--data", good], "config.json", "forger train")
    p.bad("gan train --image-size 100000", ["gan", "train", "--data", tree, "--image-size", "100000"],
          "--image-size")
    p.bad("gan train --real-target 2", ["gan", "train", "--data", good, "--real-target", "2"], "--real-target")
    p.bad("gan train --steps 0", ["gan", "train", "--data", good, "--steps", "0"], "--steps")
    t10k = p.dir("idx/t10k-only")
    for f in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (t10k / f).write_bytes((Path(good) / f).read_bytes())
    p.bad("gan train, no training images", ["gan", "train", "--data", t10k, "--out", p.path("o/g2")],
          "train-images")
    p.bad("gan sample --n 100000000", ["gan", "sample", "--run", gan, "--n", "100000000", "--out",
                                       p.path("o/s1")], "--n")
    p.bad("gan sample --n 0", ["gan", "sample", "--run", gan, "--n", "0", "--out", p.path("o/s2")], "--n")
    # Items 11, 12 and the report.
    p.bad("teach --quiz 100000", ["teach", "--gan", gan, "--real", good, "--quiz", "100000", "--out",
                                  p.path("o/site1")], "--quiz")
    p.bad("teach --cases 0", ["teach", "--gan", gan, "--real", good, "--cases", "0", "--out",
                              p.path("o/site2")], "--cases")
    site, gan2, big = p.path("o/site3"), p.path("o/gan2"), p.dir("bigtree")
    for c in "ab":
        for k in range(12):
            p.write(f"bigtree/{c}/{k}.jpg", (HERE / "photo.jpg").read_bytes())
    p.good("gan train on a tree", ["gan", "train", "--data", big, "--steps", "2", "--sample-every", "1", "--batch-size", "8",
                                   "--out", gan2])
    p.good("teach --real FOLDER: one image size", ["teach", "--gan", gan2, "--real", big, "--quiz", "4",
                                                   "--cases", "2", "--out", site], lambda: one_png_size(site))
    study = p.dir("study")
    (study / "report.md").write_text("<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
                                     "[a](javascript:alert(3)) ![s](s.png)\n")
    os.symlink("/etc/hostname", study / "s.png")
    p.bad("teach --study: symlink out of the study", ["teach", "--gan", gan, "--real", good, "--study", study,
                                                      "--out", p.path("o/site4")], "s.png", "inside")
    (study / "report.md").write_text("<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
                                     "[a](javascript:alert(3))\n")
    site = p.path("o/site5")
    p.good("teach --study: hostile report.md", ["teach", "--gan", gan, "--real", good, "--study", study,
                                                "--out", site], lambda: safe_report(site))


def one_png_size(site):
    sizes = set()
    for f in Path(site).rglob("*.png"):
        if "cases" in str(f) or "quiz" in str(f):
            b = f.read_bytes()
            sizes.add(struct.unpack(">II", b[16:24]))
    return len(sizes) == 1


def safe_report(site):
    html = (Path(site) / "report.html").read_text().lower()
    return "<script>alert" not in html and "<img src=x" not in html and 'href="javascript' not in html


def memory(binary, root):
    """Peak RSS of each bomb, from /usr/bin/time -v."""
    p = Probe(binary, root)
    rows = []
    d = p.dir("mem/gz")
    # A 1.9 MB gzip of 1.96 GB of zeros whose header claims 2^32 bytes more.
    n = (1_960_000_000 + (1 << 32)) // 784
    with gzip.open(d / "t10k-images-idx3-ubyte.gz", "wb", compresslevel=9) as f:
        f.write(idx(0x803, [n, 28, 28]))
        block = bytes(1 << 24)
        for _ in range(1_960_000_000 // len(block)):
            f.write(block)
    (d / "t10k-labels-idx1-ubyte").write_bytes(idx(0x801, [n]))
    c = p.dir("mem/claim")
    (c / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(0x803, [983040, 256, 256]), mtime=0))
    (c / "t10k-labels-idx1-ubyte").write_bytes(idx(0x801, [983040]))
    jpeg = (HERE / "photo.jpg").read_bytes()
    m = bytearray(jpeg)
    sof = m.find(b"\xff\xc0")
    m[sof + 5:sof + 9] = struct.pack(">HH", 65500, 65500)
    trees = {}
    for name, data in [("png", png(16000, 16000)), ("jpeg", bytes(m))]:
        t = p.dir(f"mem/{name}")
        for cl in "ab":
            p.write(f"mem/{name}/{cl}/0.jpg", jpeg)
        p.write(f"mem/{name}/b/huge.{'png' if name == 'png' else 'jpg'}", data)
        trees[name] = t
    z = p.dir("mem/zero")
    for cl in "ab":
        p.write(f"mem/zero/{cl}/0.jpg", jpeg)
    os.symlink("/dev/zero", z / "b" / "x.jpg")
    npz_root = Path(root) / "npz" / "bomb.npz"
    cases = [
        ("gzip bomb, 1.96 GB of zeros", (d / "t10k-images-idx3-ubyte.gz").stat().st_size,
         ["train", "mnist-cnn", "--holdout", "1", "--data", d]),
        ("31-byte gzip claiming 64 GB", 31, ["train", "mnist-cnn", "--holdout", "1", "--data", c]),
        ("NPZ zip bomb, 2.9 GB of zeros", npz_root.stat().st_size, ["train", "mnist-cnn", "--data", npz_root]),
        ("PNG 16000x16000", (trees["png"] / "b/huge.png").stat().st_size,
         ["train", "catdog-cnn", "--image-size", "16", "--data", trees["png"]]),
        ("JPEG claiming 65500x65500", len(m), ["train", "catdog-cnn", "--image-size", "16", "--data", trees["jpeg"]]),
        ("/dev/zero as x.jpg", 0, ["train", "catdog-cnn", "--image-size", "16", "--data", z]),
    ]
    for name, size, args in cases:
        env = dict(os.environ, RUST_BACKTRACE="0")
        try:
            r = subprocess.run(["/usr/bin/time", "-v", binary] + [str(a) for a in args] + ["--out", p.path("o/m")],
                               capture_output=True, timeout=120, env=env, cwd=root,
                               preexec_fn=cap_memory)
            err = r.stderr.decode(errors="replace")
            rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) // 1024
            lines = [ln for ln in err.splitlines() if "Error" in ln or "error" in ln]
            rows.append((name, size, rss, r.returncode, (lines[0] if lines else "")[:110]))
        except subprocess.TimeoutExpired:
            rows.append((name, size, -1, "hang", ""))
    print("\n| bomb | file bytes | peak RSS (MB) | rc | message |\n|---|---|---|---|---|")
    for row in rows:
        print("| %s | %s | %s | %s | %s |" % row)


def main():
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as root:
        p = Probe(binary, root)
        good, pixels, labels, jpeg, tree = build(p)
        idx_cases(p, good, pixels, labels)
        jpeg_cases(p, jpeg, tree)
        npz_cases(p)
        run_cases(p, good, tree)
        kinds = ["panic", "abort", "hang", "exit 0 on bad input", "unclear error", "failed on good input",
                 "silent wrong data"]
        counts = {k: sum(1 for _, v, _ in p.rows if v == k) for k in kinds}
        print("| cases | " + " | ".join(kinds) + " |")
        print("|---" * (len(kinds) + 1) + "|")
        print("| %d | " % len(p.rows) + " | ".join(str(counts[k]) for k in kinds) + " |")
        if "-v" in sys.argv:
            for name, verdict, out in p.rows:
                if verdict != "ok":
                    last = [ln for ln in out.strip().splitlines() if ln.strip()][-1:] or [""]
                    print(f"  {verdict:22} {name}: {last[0][:160]}")
        if "--memory" in sys.argv:
            memory(binary, root)


if __name__ == "__main__":
    main()
