#!/usr/bin/env python3
"""PyTorch (CPU) reference of benchmark W5 `gan128`, written to the same
specification as forger's (crates/forger-lab/src/bench.rs `gan128`, the
scaled GAN of crates/forger-models/src/gan/scaled.rs at its W5 widths).
Prints one JSON line, as shared/bench/reference_torch.py does:
{"workload", "framework", "threads", "batch", "steps", "images_per_s"}.

W5: one conditional GAN step at 128x128x1, 32 real + 32 generated images,
two classes. Map of side 128 / 2^l has min(8 * 2^l, 256) channels.
G: [z(100), embedding(2 -> 16)] -> linear (no bias) -> 256x4x4 -> BN, ReLU ->
5 x [convT 4x4 s2 p1 (no bias), BN, ReLU] (128, 64, 32, 16, 8 channels) ->
conv 3x3 p1 -> 1, tanh.
D (spectral norm on every weight): conv 3x3 p1 1 -> 8, LReLU(0.2) ->
5 x [conv 4x4 s2 p1, LReLU(0.2)] (16, 32, 64, 128, 256) -> sum over positions
-> linear 256 -> 1 plus the projection <embedding(2 -> 256)(y), h>.
Step: one D step on the mixed real+fake batch (BCE with logits), then one G
step (non-saturating BCE); Adam 2e-4, betas (0.5, 0.999).

Usage: python3 reference_w5.py [--workloads gan128] [--steps N] [--threads T]
"""
import argparse, json, time
import torch, torch.nn as nn, torch.nn.functional as F
from torch.nn.utils import spectral_norm as sn

SIDE, BASE, CLASSES, Z, EMB = 128, 4, 2, 100, 16
LEVELS = 5  # 128 = 4 * 2^5
WIDTHS = [min(8 * 2**l, 256) for l in range(LEVELS + 1)]  # full size first


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        top = WIDTHS[-1]
        self.embed = nn.Embedding(CLASSES, EMB)
        self.fc = nn.Linear(Z + EMB, top * BASE * BASE, bias=False)
        self.bn0 = nn.BatchNorm2d(top)
        self.ups = nn.ModuleList()
        self.bns = nn.ModuleList()
        for l in reversed(range(LEVELS)):
            self.ups.append(nn.ConvTranspose2d(WIDTHS[l + 1], WIDTHS[l], 4, 2, 1, bias=False))
            self.bns.append(nn.BatchNorm2d(WIDTHS[l]))
        self.to_image = nn.Conv2d(WIDTHS[0], 1, 3, padding=1)

    def forward(self, z, y):
        x = self.fc(torch.cat([z, self.embed(y)], 1)).view(-1, WIDTHS[-1], BASE, BASE)
        x = F.relu(self.bn0(x))
        for up, bn in zip(self.ups, self.bns):
            x = F.relu(bn(up(x)))
        return torch.tanh(self.to_image(x))


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        convs = [sn(nn.Conv2d(1, WIDTHS[0], 3, padding=1))]
        for l in range(LEVELS):
            convs.append(sn(nn.Conv2d(WIDTHS[l], WIDTHS[l + 1], 4, 2, 1)))
        self.convs = nn.ModuleList(convs)
        self.head = sn(nn.Linear(WIDTHS[-1], 1))
        self.projection = sn(nn.Embedding(CLASSES, WIDTHS[-1]))

    def forward(self, x, y):
        for c in self.convs:
            x = F.leaky_relu(c(x), 0.2)
        h = x.sum((2, 3))
        return self.head(h) + (self.projection(y) * h).sum(1, keepdim=True)


def bench_gan128(batch, steps, warmup):
    g, d = Gen(), Disc()
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch, 1, SIDE, SIDE) * 2 - 1
    y = torch.randint(0, CLASSES, (batch,))
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    bce = F.binary_cross_entropy_with_logits
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        z = torch.randn(batch, Z)
        fake = g(z, y)
        # D step: real and fake in one batch
        od.zero_grad(set_to_none=True)
        logits = d(torch.cat([real, fake.detach()]), torch.cat([y, y]))
        ld = bce(logits, torch.cat([ones, zeros]))
        ld.backward()
        od.step()
        # G step: non-saturating loss; D's weights take no gradient here
        og.zero_grad(set_to_none=True)
        for p in d.parameters():
            p.requires_grad_(False)
        lg = bce(d(fake, y), ones)
        lg.backward()
        for p in d.parameters():
            p.requires_grad_(True)
        og.step()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", default="gan128")
    ap.add_argument("--steps", type=int, default=0, help="0 = the default, 10")
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for w in args.workloads.split(","):
        if w != "gan128":
            raise SystemExit(f"unknown workload {w}: this script runs gan128 (W5)")
        b, steps = 32, args.steps or 10
        dt = bench_gan128(b, steps, 2)
        print(json.dumps({"workload": w, "framework": f"pytorch-{torch.__version__}",
                          "threads": torch.get_num_threads(), "batch": b, "steps": steps,
                          "images_per_s": round(b * steps / dt, 1)}), flush=True)


if __name__ == "__main__":
    main()
