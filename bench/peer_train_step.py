#!/usr/bin/python3
"""Peer for bench_train_step: the same training step in PyTorch (Debian python3-torch 1.13, CPU,
float32), on the project's independent reference models (tests/ref/ldm_reference.py).

A UNet step: zero the gradients (set_to_none), eps = UNetModel(x, t, context), loss =
F.mse_loss(eps, target), loss.backward() (every weight's gradient; x and context need none),
torch.optim.AdamW.step() over every parameter. A CLIP step: the text model's forward (token +
position embeddings, the layers with the causal mask, the final layer norm of the last hidden
state), MSE against a random target, backward, AdamW. Inputs are random, drawn once.

    /usr/bin/python3 bench/peer_train_step.py --unet CONFIG.json|JSON --clip CONFIG.json|JSON
        --batch B --threads N [--size 16] [--context 4] [--tokens 16] [--serve | --steps N]

--serve is how bench_train_step drives it: the peer builds both models, prints one JSON line
{"ready": ...}, then answers each line "unet N" / "clip N" on stdin with one JSON line holding
the N steps' times in ms (total and per phase: fwd = zero_grad + forward + loss, bwd, opt), until
"quit" or end of input. The bench alternates blocks of steps between itself and the peer, so a
busy neighbour on a shared machine slows both about equally. --steps N runs N UNet and N CLIP
steps on its own and prints the same lines (for a quick look by hand).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import ldm_reference as ref  # noqa: E402


def config(model, text):
    if text.lstrip().startswith("{"):
        return ref.load_config_obj(model, json.loads(text))
    with open(text) as f:
        return ref.load_config_obj(model, json.load(f))


class UNetStep:
    def __init__(self, cfg, B, size, T, gen):
        self.net = ref.build("unet", cfg, dtype=torch.float32)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=1e-2)
        self.x = torch.randn(B, cfg["in_channels"], size, size, generator=gen)
        self.t = torch.rand(B, generator=gen, dtype=torch.float64) * 1000
        self.ctx = torch.randn(B, T, cfg["context_dim"], generator=gen)
        self.target = torch.randn(B, cfg["out_channels"], size, size, generator=gen)

    def step(self):
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.net(self.x, self.t, self.ctx), self.target)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        self.opt.step()
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, loss.item()


class ClipStep:
    def __init__(self, cfg, B, T, gen):
        self.net = ref.build("clip", cfg, dtype=torch.float32)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=1e-2)
        self.ids = torch.randint(0, cfg["vocab_size"], (B, T), generator=gen)
        self.target = torch.randn(B, T, cfg["hidden_size"], generator=gen)
        self.mask = torch.full((T, T), float("-inf")).triu(1)

    def forward(self):
        tm = self.net.text_model
        x = tm.embeddings(self.ids)
        for layer in tm.encoder.layers:
            x = layer(x, self.mask)
        return tm.final_layer_norm(x)

    def step(self):
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.forward(), self.target)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        self.opt.step()
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, loss.item()


def run(model, n):
    rows = [model.step() for _ in range(n)]
    ms = lambda i: [round(r[i] * 1e3, 4) for r in rows]  # noqa: E731
    return {"ms": [round(sum(r[:3]) * 1e3, 4) for r in rows], "fwd": ms(0), "bwd": ms(1),
            "opt": ms(2), "loss": rows[-1][3] if rows else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unet", required=True, help="UNet config: JSON text or a file")
    ap.add_argument("--clip", required=True, help="CLIP text config: JSON text or a file")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--context", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(1234)
    unet = UNetStep(config("unet", a.unet), a.batch, a.size, a.context, gen)
    clip = ClipStep(config("clip", a.clip), a.batch, a.tokens, gen)
    nparams = lambda m: sum(p.numel() for p in m.net.parameters())  # noqa: E731
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "unet_params": nparams(unet), "clip_params": nparams(clip),
                      "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}), flush=True)
    if not a.serve:
        for name, m in (("unet", unet), ("clip", clip)):
            print(json.dumps({name: run(m, a.steps)}), flush=True)
        return
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] not in ("unet", "clip") or len(words) != 2:
            print(json.dumps({"error": f"bad command {line.strip()!r}"}), flush=True)
            continue
        print(json.dumps(run(unet if words[0] == "unet" else clip, int(words[1]))), flush=True)


if __name__ == "__main__":
    main()
