#!/usr/bin/python3
"""Writes the model fixtures of tests/fixtures/model/ from the PyTorch reference
(tests/ref/ldm_reference.py), so that the C tests compare against it without PyTorch.

    /usr/bin/python3 tests/ref/make_model_fixtures.py [--out DIR] [--check-fp32] [--sensitivity]
        [FIXTURE...]

Each fixture directory holds config.json (the architecture keys `tagbench model --config` reads),
weights.safetensors (random non-zero weights, single-file checkpoint keys), inputs.safetensors,
expected.safetensors (what `tagbench model` must write for them) and, for the LoRA fixtures,
lora.safetensors (kohya names). Weights and inputs are float32 (or f16/bf16 where noted); the
expected tensors are computed in float64 from exactly those values and rounded to float32.
Deterministic: fixed seeds, one thread, sorted tensor names; running it twice gives identical
files. --check-fp32 also runs the reference in float32 and prints how far that lands from the
float64 truth (the noise floor a correct fp32 implementation is expected to show);
--sensitivity breaks each convention of tests/ref/README.md in turn and checks that the fixtures
catch it.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ldm_reference as R  # noqa: E402
import safetensors_io as st  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PRODUCER = "tests/ref/make_model_fixtures.py"

# Three levels (4, 8, 8 channels; 8x8 -> 4x4 -> 2x2) so that every block kind appears: a ResBlock
# with and without skip_connection on the way down, Downsample twice, SpatialTransformers only at
# ds 2 (input_blocks.3.1, middle_block.1, output_blocks.2.1 / 3.1), an Upsample after a ResBlock
# (output_blocks.1.1.conv) and after a transformer (output_blocks.3.2.conv), like sd15's .2.1 and
# .5.2. model_channels 4 keeps the files small (time embedding 16 wide: 2 frequencies).
UNET_TINY = {"in_channels": 4, "out_channels": 4, "model_channels": 4, "channel_mult": [1, 2, 2],
             "num_res_blocks": 1, "attention_resolutions": [2], "num_heads": 2,
             "transformer_depth": 1, "context_dim": 12, "norm_num_groups": 2,
             "use_spatial_transformer": True, "legacy": False}
CLIP_TINY = {"vocab_size": 50, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
             "num_attention_heads": 2, "max_position_embeddings": 16, "layer_norm_eps": 1e-5,
             "hidden_act": "quick_gelu", "bos_token_id": 48, "eos_token_id": 49, "pad_token_id": 49}
VAE_TINY = {"embed_dim": 4, "ddconfig": {
    "double_z": True, "z_channels": 4, "resolution": 16, "in_channels": 3, "out_ch": 3, "ch": 8,
    "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0,
    "norm_num_groups": 4}}


def with_(base, **kw):
    out = json.loads(json.dumps(base))
    for k, v in kw.items():
        if k == "ddconfig":
            out["ddconfig"].update(v)
        else:
            out[k] = v
    return out


# name: (family, config, seed, weight dtype, LoRA (rank, alphas cycled, module index without
# alpha) or None, notes)
FIXTURES = {
    "unet": ("unet", UNET_TINY, 101, torch.float32, None,
             "loss = sum(dy * eps); grad.<key> for every parameter"),
    "unet_lora": ("unet", UNET_TINY, 102, torch.float32, (4, [1.0, 2.0, 6.0, 3.0], 5),
                  "base frozen; loss = sum(dy * eps); grad.<kohya name>.lora_{down,up}.weight"),
    "clip": ("clip", CLIP_TINY, 201, torch.float32, None,
             "loss = sum(dy * last_hidden_state) + sum(dy_penultimate * penultimate_ln)"),
    "clip_lora": ("clip", with_(CLIP_TINY, hidden_act="gelu"), 202, torch.bfloat16,
                  (3, [1.5, 3.0, 0.5], 4),
                  "base frozen, weights stored BF16, hidden_act gelu; same loss as clip"),
    "vae": ("vae", VAE_TINY, 301, torch.float32, None, "forward only"),
    "vae_attn": ("vae", with_(VAE_TINY, ddconfig={"attn_resolutions": [8]}), 302, torch.float16,
                 None, "attention at the 8x8 level; weights stored F16; quant_conv.bias of logvar "
                       "channels 0/1 set to -40/+40 so the clamp to [-30, 20] is exercised"),
}


# Weights scaled by SHRINK_BY so that the norm right after them sees a variance of about 1e-4,
# where its eps matters: a GroupNorm/LayerNorm eps of 1e-5 instead of 1e-6 (or back) changes the
# outputs by percents, far beyond the tolerance (--sensitivity shows it). Targets: UNet conv_in
# -> ResBlock GroupNorm (eps 1e-5); input_blocks.3.0's out conv and skip -> SpatialTransformer
# GroupNorm (1e-6); middle proj_in -> LayerNorm norm1 (1e-5); CLIP embeddings -> layer_norm1
# (layer_norm_eps); VAE encoder/decoder conv_in -> their first ResnetBlock GroupNorm (1e-6).
SHRINK_BY = 1e-2
SHRINK = {"unet": ("input_blocks.0.0.", "input_blocks.3.0.out_layers.3.",
                   "input_blocks.3.0.skip_connection.", "middle_block.1.proj_in."),
          "clip": ("text_model.embeddings.",),
          "vae": ("encoder.conv_in.", "decoder.conv_in.")}


def make_inputs(family, cfg, gen):
    def randn(*shape):
        return torch.randn(shape, generator=gen, dtype=torch.float64).float()
    if family == "unet":
        return {"x": randn(2, cfg["in_channels"], 8, 8),
                "timesteps": torch.tensor([731.5, 17.0], dtype=torch.float32),
                "context": randn(2, 5, cfg["context_dim"]),
                "dy": randn(2, cfg["out_channels"], 8, 8)}
    if family == "clip":
        return R.random_inputs("clip", cfg, gen, batch=2)
    return R.random_inputs("vae", cfg, gen, batch=2, size=16)


def store(t, dtype):
    """The stored value (rounded to the file's dtype) and the float64 value computed from."""
    s = t.detach().to(dtype)
    return s, s.to(torch.float64)


def make_lora(net, spec, gen):
    rank, alphas, no_alpha = spec
    targets = net.lora_targets()
    names = sorted(targets)
    al = {n: alphas[i % len(alphas)] for i, n in enumerate(names) if i != no_alpha}
    lora = R.LoRANetwork(targets, {n: rank for n in names}, al, {"dtype": torch.float64, "device": "cpu"})
    with torch.no_grad():
        for name, p in sorted(lora.named_parameters()):
            std = p[0].numel() ** -0.5  # 1/sqrt(fan-in) for down and up: up is non-zero
            p.copy_((std * torch.randn(p.shape, generator=gen, dtype=torch.float64)).float().double())
    tensors = {k: v.detach().float() for k, v in lora.state_dict().items()
               if not (k.endswith(".alpha") and k[:-6] not in al)}
    return lora, tensors


def make_fixture(name, out_dir, check_fp32):
    family, cfg_json, seed, wdtype, lora_spec, notes = FIXTURES[name]
    gen = torch.Generator().manual_seed(seed)
    cfg = R.load_config_obj(family, cfg_json)
    net = R.build(family, cfg, torch.float64)
    R.randomize(net, gen)
    with torch.no_grad():
        for k, p in net.named_parameters():
            if k.startswith(SHRINK[family]):
                p.mul_(SHRINK_BY)
    if name == "vae_attn":
        with torch.no_grad():
            net.quant_conv.bias[cfg["embed_dim"] + 0] = -40.0
            net.quant_conv.bias[cfg["embed_dim"] + 1] = 40.0
    weights = {}
    with torch.no_grad():
        for k, v in R.named_weights(family, net).items():
            if v.dtype == torch.int64:  # position_ids: an I64 buffer, as real checkpoints carry
                weights[k] = v.detach().clone()
                continue
            s, d = store(v, wdtype)
            v.copy_(d)
            weights[k] = s
    inputs = make_inputs(family, cfg, gen)
    lora, lora_tensors = make_lora(net, lora_spec, gen) if lora_spec else (None, None)
    backward = family != "vae"
    expected = R.run(family, net, inputs, backward, lora)

    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(json.dumps(cfg_json, indent=2) + "\n")
    meta = {"producer": PRODUCER, "fixture": name}
    st.save(os.path.join(d, "weights.safetensors"), weights, meta)
    st.save(os.path.join(d, "inputs.safetensors"), inputs, meta)
    if lora_tensors is not None:
        st.save(os.path.join(d, "lora.safetensors"), lora_tensors, meta)
    st.save(os.path.join(d, "expected.safetensors"), expected,
            dict(meta, computed="float64, rounded to float32", notes=notes))

    if check_fp32:
        net32 = R.build(family, cfg, torch.float32)
        net32.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in net.state_dict().items()})
        lora32 = None
        if lora is not None:
            lora32 = R.LoRANetwork(net32.lora_targets(), {n: m.rank for n, m in lora.named_children()},
                                   {n: float(m.alpha) for n, m in lora.named_children()},
                                   {"dtype": torch.float32, "device": "cpu"})
            lora32.load_state_dict({k: v.float() for k, v in lora.state_dict().items()})
        got = R.run(family, net32, inputs, backward, lora32)
        rel = max(((got[k] - v).abs().max().item() / v.abs().max().item(), k)
                  for k, v in expected.items() if v.abs().max().item() > 1e-6)
        ab = max(((got[k] - v).abs().max().item(), k) for k, v in expected.items())
        print(f"  fp32 vs fp64: worst max|a-b|/max|b| {rel[0]:.2e} ({rel[1]}); "
              f"worst max|a-b| {ab[0]:.2e} ({ab[1]})")
    return d


# ---- --sensitivity: do the fixtures catch the conventions an implementation could get wrong? ----

class patched:
    """A reusable context: obj.attr = value inside, restored after."""

    def __init__(self, obj, attr, value):
        self.obj, self.attr, self.value = obj, attr, value

    def __enter__(self):
        self.old = getattr(self.obj, self.attr)
        setattr(self.obj, self.attr, self.value)

    def __exit__(self, *exc):
        setattr(self.obj, self.attr, self.old)


def eps_swapped(cls, old, new):
    init = cls.__init__

    def swapped(self, *a, **k):
        if k.get("eps") == old:
            k["eps"] = new
        init(self, *a, **k)
    return patched(cls, "__init__", swapped)


def worst_error(out_dir, name):
    """Runs the (possibly patched) reference in float32 on a written fixture: the worst
    max|got - expected| / max(max|expected|, 1e-2) over its tensors."""
    family = FIXTURES[name][0]
    d = os.path.join(out_dir, name)
    cfg = R.load_config(family, os.path.join(d, "config.json"))
    net = R.build(family, cfg, torch.float32)
    R.load_weights(family, net, os.path.join(d, "weights.safetensors"))
    lora = (R.lora_from_file(net, os.path.join(d, "lora.safetensors"),
                             {"dtype": torch.float32, "device": "cpu"})
            if FIXTURES[name][4] else None)
    inputs, _ = st.load(os.path.join(d, "inputs.safetensors"))
    expected, _ = st.load(os.path.join(d, "expected.safetensors"))
    got = R.run(family, net, inputs, family != "vae", lora)
    return max((((got[k] - v).abs().max() / max(v.abs().max().item(), 1e-2)).item(), k)
               for k, v in expected.items())


def sensitivity(out_dir, tol=1e-3):
    te = R.timestep_embedding
    attention = R.attention
    encode = R.CLIPTextModel.encode
    vae_forward = R.AutoencoderKL.forward

    def sin_first(t, dim, dtype, max_period=10000):
        e, h = te(t, dim, dtype, max_period), dim // 2
        return torch.cat([e[:, h:2 * h], e[:, :h]], 1)

    def freq_shift(t, dim, dtype, max_period=10000):  # diffusers' downscale_freq_shift = 1
        h = dim // 2
        f = torch.exp(-math.log(max_period) * torch.arange(h, dtype=torch.float64) / (h - 1))
        a = t.double()[:, None] * f[None]
        return torch.cat([torch.cos(a), torch.sin(a)], -1).to(dtype)

    def no_final_ln(self, x):
        hidden, last, _ = encode(self, x)
        return hidden, last, hidden[-2]

    lora_init = R.LoRAModule.__init__

    def alpha_default_1(self, base, rank, alpha, fk, multiplier=1.0):
        lora_init(self, base, rank, 1.0 if alpha is None else alpha, fk, multiplier)

    def no_clamp(self, image, latent, noise):
        out = vae_forward(self, image, latent, noise)
        mean, logvar = torch.chunk(out["moments"], 2, dim=1)
        out.update(logvar=logvar, std=torch.exp(0.5 * logvar))
        out["z_sample"] = mean + out["std"] * noise
        return out

    cases = [
        ("ResBlock/out GroupNorm eps 1e-6", eps_swapped(nn.GroupNorm, 1e-5, 1e-6), ["unet"]),
        ("SpatialTransformer GroupNorm eps 1e-5", eps_swapped(nn.GroupNorm, 1e-6, 1e-5), ["unet"]),
        ("VAE GroupNorm eps 1e-5", eps_swapped(nn.GroupNorm, 1e-6, 1e-5), ["vae", "vae_attn"]),
        ("LayerNorm eps 1e-6", eps_swapped(nn.LayerNorm, 1e-5, 1e-6), ["unet", "clip"]),
        ("timestep embedding sin first", patched(R, "timestep_embedding", sin_first), ["unet"]),
        ("timestep frequencies / (half - 1)", patched(R, "timestep_embedding", freq_shift), ["unet"]),
        ("GEGLU halves swapped", patched(R.GEGLU, "forward", lambda self, x: (
            lambda v, g: g * F.gelu(v))(*self.proj(x).chunk(2, -1))), ["unet"]),
        ("GEGLU with tanh GELU", patched(R.GEGLU, "forward", lambda self, x: (
            lambda v, g: v * F.gelu(g, approximate="tanh"))(*self.proj(x).chunk(2, -1))), ["unet"]),
        ("heads merged into one", patched(R, "attention", lambda q, k, v, h, s, m=None: attention(
            q, k, v, 1, s, m)), ["unet", "clip"]),
        ("no causal mask", patched(R, "attention", lambda q, k, v, h, s, m=None: attention(
            q, k, v, h, s, None)), ["clip"]),
        ("penultimate without final LN", patched(R.CLIPTextModel, "encode", no_final_ln), ["clip"]),
        ("LoRA scale 1 (alpha ignored)", patched(R.LoRAModule, "_hook", lambda self, m, i, o: (
            o + self.lora_up(self.lora_down(i[0])))), ["unet_lora", "clip_lora"]),
        ("missing .alpha read as 1, not rank", patched(R.LoRAModule, "__init__", alpha_default_1),
         ["unet_lora", "clip_lora"]),
        ("VAE Downsample padded left/top", patched(R.VDownsample, "forward", lambda self, x: (
            self.conv(F.pad(x, (1, 0, 1, 0))))), ["vae"]),
        ("logvar not clamped", patched(R.AutoencoderKL, "forward", no_clamp), ["vae_attn"]),
    ]
    missed = 0
    for name in FIXTURES:
        err, k = worst_error(out_dir, name)
        print(f"  unchanged reference, fp32   {name:10s} {err:.1e} {'ok' if err < tol else 'TOO FAR'}")
        missed += err >= tol
    for label, ctx, names in cases:
        for name in names:
            with ctx:
                err, k = worst_error(out_dir, name)
            print(f"  {label:36s} {name:10s} {err:.1e} {'caught' if err > tol else 'MISSED'} ({k})")
            missed += err <= tol
    return missed


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "model"))
    ap.add_argument("--check-fp32", action="store_true")
    ap.add_argument("--sensitivity", action="store_true",
                    help="then run a float32 reference with each convention broken on purpose and "
                         "report whether the fixtures catch it (exit 1 if one is missed)")
    ap.add_argument("only", nargs="*", help="fixture names (default: all)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)  # float64 sums in one fixed order: identical files every run
    for name in a.only or FIXTURES:
        d = make_fixture(name, a.out, a.check_fp32)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"{os.path.relpath(d, ROOT)}: {size} bytes")
    if a.sensitivity:
        return 1 if sensitivity(a.out) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
