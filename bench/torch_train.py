#!/usr/bin/python3
"""torch_train.py — the PyTorch peer of `slm train` (issue 5's benchmark).

Trains the same llama-architecture model as src/train (token embedding,
RMSNorm eps 1e-5, RoPE "normal" pairs (2i, 2i+1) base 10000, GQA causal
attention scaled by 1/sqrt(head_dim), SwiGLU, output tied to the
embedding), with the same optimisation (AdamW with decoupled weight decay
on matrices only, betas, eps 1e-8, linear warmup then cosine decay to
lr * min_lr_frac, clipping by global norm) on the same token stream (the
text tokenized by `slm tokenize` with the same tokenizer), batch of random
windows of ctx + 1 tokens, F32, `--threads` threads.

Two modes:
  torch_train.py train --tokens IDS.txt [shape/optimisation flags]
      one training run; prints one JSON line with tokens/s.
  torch_train.py ab --slm build/slm --tokenizer TOK.gguf --text FILE [--rounds N] [flags]
      tokenizes FILE once, then alternates `slm train` and the PyTorch run
      (A, B, A, B, ...) with identical settings and prints every round and
      the medians: tokens/s over the training steps (as each engine reports
      it) and the CPU seconds of each whole process (setup, tokenization or
      import included). The machine is shared: compare ratios, not absolutes.

Needs Debian's python3-torch (run with /usr/bin/python3: a pyenv python
will not see it); exits 77 with a message when torch is absent. Debian's
torch calls the system BLAS: install libopenblas0-pthread for a fair peer
(the reference BLAS is about 10x slower).
"""
import argparse
import gzip
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def add_shape_args(p):
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ff", type=int, default=384)
    p.add_argument("--ctx", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr-frac", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)


def slm_flags(a):
    return ["--dim", str(a.dim), "--layers", str(a.layers), "--heads", str(a.heads),
            "--kv-heads", str(a.kv_heads), "--ff", str(a.ff), "--ctx", str(a.ctx),
            "--batch", str(a.batch), "--steps", str(a.steps), "--lr", str(a.lr),
            "--min-lr-frac", str(a.min_lr_frac), "--warmup", str(a.warmup),
            "--weight-decay", str(a.weight_decay), "--clip", str(a.clip),
            "--seed", str(a.seed), "-t", str(a.threads)]


def run_torch(a):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError:
        print("SKIP: python3-torch is not installed (apt-get install python3-torch; "
              "run with /usr/bin/python3)")
        sys.exit(77)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(a.tokens) as f:
        ids = torch.tensor([int(x) for x in f.read().split()], dtype=torch.long)
    V = a.vocab
    E, L, H, G, FF, T, B = a.dim, a.layers, a.heads, a.kv_heads, a.ff, a.ctx, a.batch
    hd = E // H

    class RMSNorm(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight

    # RoPE table: angle of pair i at position t = t * base^(-2i/hd)
    inv = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]

    def rope(x):  # x [B][T][n][hd], pairs (2i, 2i+1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2)

    mask = torch.full((T, T), float("-inf")).triu(1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_norm, self.ffn_norm = RMSNorm(E), RMSNorm(E)
            self.wq = nn.Linear(E, H * hd, bias=False)
            self.wk = nn.Linear(E, G * hd, bias=False)
            self.wv = nn.Linear(E, G * hd, bias=False)
            self.wo = nn.Linear(H * hd, E, bias=False)
            self.gate = nn.Linear(E, FF, bias=False)
            self.up = nn.Linear(E, FF, bias=False)
            self.down = nn.Linear(FF, E, bias=False)

        def forward(self, x):
            b, t, _ = x.shape
            h = self.attn_norm(x)
            q = rope(self.wq(h).view(b, t, H, hd))
            k = rope(self.wk(h).view(b, t, G, hd))
            v = self.wv(h).view(b, t, G, hd)
            if G != H:
                k = k.repeat_interleave(H // G, dim=2)
                v = v.repeat_interleave(H // G, dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
            o = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, H * hd)
            x = x + self.wo(o)
            h = self.ffn_norm(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, E)
            self.blocks = nn.ModuleList(Block() for _ in range(L))
            self.norm = RMSNorm(E)

        def forward(self, x, y):
            h = self.emb(x)
            for blk in self.blocks:
                h = blk(h)
            logits = self.norm(h) @ self.emb.weight.t()
            return F.cross_entropy(logits.view(-1, V), y.view(-1))

    m = Model()
    with torch.no_grad():  # N(0, 0.02), residual projections / sqrt(2L), norms 1 (as slm)
        for name, p in m.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith(("wo.weight", "down.weight")) else 0.02
                p.normal_(0.0, std)
    decay = [p for p in m.parameters() if p.dim() == 2]
    nodecay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8)
    n_params = sum(p.numel() for p in m.parameters())
    gen = torch.Generator().manual_seed(a.seed)
    losses = []
    t0 = time.perf_counter()
    for step in range(a.steps):
        if step < a.warmup:
            lr = a.lr * (step + 1) / a.warmup
        else:
            frac = (step - a.warmup) / max(1, a.steps - a.warmup)
            lr = a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(ids) - T - 1, (B,), generator=gen)
        x = torch.stack([ids[s:s + T] for s in starts])
        y = torch.stack([ids[s + 1:s + T + 1] for s in starts])
        loss = m(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
        opt.step()
        losses.append(loss.item())
    dt = time.perf_counter() - t0
    out = {"engine": "torch", "torch": torch.__version__, "threads": a.threads,
           "n_params": n_params, "steps": a.steps, "tokens": a.steps * B * T, "seconds": dt,
           "tokens_per_s": a.steps * B * T / dt, "first_loss": losses[0], "last_loss": losses[-1]}
    print(json.dumps(out))
    return out


def tokenize(slm, tok, text, out_path):
    if text.endswith(".gz"):
        with gzip.open(text, "rb") as f:
            raw = f.read()
        fd, plain = tempfile.mkstemp(suffix=".txt")
        os.write(fd, raw)
        os.close(fd)
    else:
        plain = None
    r = subprocess.run([slm, "tokenize", tok, "--file", plain or text, "--ids"],
                       capture_output=True, text=True, check=True)
    if plain:
        os.remove(plain)
    with open(out_path, "w") as f:
        f.write(r.stdout)
    return len(r.stdout.split())


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_slm(a, tok, text, scratch):
    out = os.path.join(scratch, "slm_ab.gguf")
    cmd = [a.slm, "train", "--data", text, "--tokenizer", tok, "-o", out,
           "--svg", os.path.join(scratch, "slm_ab.svg"), "--log-every", "1"] + slm_flags(a)
    c0 = child_cpu()
    r = subprocess.run(cmd, capture_output=True, text=True)
    cpu = child_cpu() - c0
    if r.returncode != 0:
        sys.exit("slm train failed: " + r.stderr[-2000:])
    last = [ln for ln in r.stderr.splitlines() if ln.startswith("step ")][-1]
    tps = float(re.search(r" (\d+) tok/s", last).group(1))
    loss = float(re.search(r"loss ([0-9.]+)", last).group(1))
    return {"engine": "slm", "tokens_per_s": tps, "last_loss": loss, "cpu_s": cpu}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("train")
    t.add_argument("--tokens", required=True, help="token ids, whitespace-separated")
    t.add_argument("--vocab", type=int, required=True)
    add_shape_args(t)
    b = sub.add_parser("ab")
    b.add_argument("--slm", required=True)
    b.add_argument("--tokenizer", required=True)
    b.add_argument("--text", required=True)
    b.add_argument("--rounds", type=int, default=3)
    add_shape_args(b)
    a = ap.parse_args()
    if a.mode == "train":
        run_torch(a)
        return
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    if probe.returncode != 0:
        print("SKIP: python3-torch is not installed (apt-get install python3-torch; "
              "run with /usr/bin/python3)")
        sys.exit(77)
    info = subprocess.run([a.slm, "info", a.tokenizer, "--json"], capture_output=True, text=True)
    m = re.search(r'"n_vocab"\s*:\s*(\d+)', info.stdout)
    if not m:
        sys.exit("cannot read the vocabulary size of " + a.tokenizer + ": " + info.stderr[-500:])
    vocab = int(m.group(1))
    with tempfile.TemporaryDirectory() as scratch:
        ids = os.path.join(scratch, "ids.txt")
        n = tokenize(a.slm, a.tokenizer, a.text, ids)
        print(f"# {n} tokens, vocab {vocab}; {a.rounds} rounds of slm then torch, "
              f"{a.steps} steps x {a.batch} x {a.ctx}, {a.threads} threads; OMP_WAIT_POLICY="
              f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}; load average at start "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        res = {"slm": [], "torch": []}
        for r in range(a.rounds):
            s = run_slm(a, a.tokenizer, a.text, scratch)
            flags = slm_flags(a)
            flags[flags.index("-t")] = "--threads"
            cmd = [sys.executable, os.path.abspath(__file__), "train", "--tokens", ids,
                   "--vocab", str(vocab)] + flags
            c0 = child_cpu()
            tr = subprocess.run(cmd, capture_output=True, text=True)
            tcpu = child_cpu() - c0
            if tr.returncode != 0:
                sys.exit("torch run failed: " + tr.stderr[-2000:])
            tt = json.loads(tr.stdout.strip().splitlines()[-1])
            res["slm"].append(s["tokens_per_s"])
            res["torch"].append(tt["tokens_per_s"])
            res.setdefault("slm_cpu", []).append(s["cpu_s"])
            res.setdefault("torch_cpu", []).append(tcpu)
            print(f"round {r + 1}: slm {s['tokens_per_s']:.0f} tok/s (loss {s['last_loss']:.3f}), "
                  f"torch {tt['tokens_per_s']:.0f} tok/s (loss {tt['last_loss']:.3f}, "
                  f"{tt['n_params']} params); ratio {s['tokens_per_s'] / tt['tokens_per_s']:.2f}; "
                  f"CPU s of the whole process (setup included): slm {s['cpu_s']:.1f}, "
                  f"torch {tcpu:.1f}", flush=True)
        ms, mt = statistics.median(res["slm"]), statistics.median(res["torch"])
        ratios = [x / y for x, y in zip(res["slm"], res["torch"])]
        print(json.dumps({"slm_median_tok_s": ms, "torch_median_tok_s": mt,
                          "ratio_of_medians": ms / mt, "median_ratio": statistics.median(ratios),
                          "slm_median_cpu_s": statistics.median(res["slm_cpu"]),
                          "torch_median_cpu_s": statistics.median(res["torch_cpu"]),
                          "rounds": a.rounds, "load_avg_end": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
