#!/usr/bin/python3
"""An independent PyTorch reference for the C model families (issue 4): the LDM UNet, the CLIP
text model, the SD VAE (AutoencoderKL) and kohya LoRA, written again from the architecture as
CompVis/stable-diffusion (ldm/modules/diffusionmodules/openaimodel.py, util.py, model.py,
ldm/modules/attention.py, ldm/models/autoencoder.py, ldm/modules/distributions/distributions.py),
HF transformers' CLIPTextModel and kohya-ss/sd-scripts networks/lora.py define it
(shared/reference/engines.md §3, §4.1, §5; trainers.md §5). Only torch and the standard library.

Parameters are named exactly as in single-file SD 1.x checkpoints: the module trees below mirror
LDM's (Sequential indices included), so the names come out of state_dict() rather than from a
table. Run with Debian's torch: /usr/bin/python3 (1.13).

    /usr/bin/python3 tests/ref/ldm_reference.py selfcheck
    /usr/bin/python3 tests/ref/ldm_reference.py model --model unet|clip|vae --config NAME|FILE.json \\
        --weights W.safetensors --inputs I.safetensors --out O.safetensors [--lora L.safetensors] \\
        [--backward] [--dtype float64|float32]
    /usr/bin/python3 tests/ref/ldm_reference.py inputs --model unet|clip|vae --config NAME|FILE.json \\
        --out I.safetensors [--batch B] [--size H] [--seed S]
    /usr/bin/python3 tests/ref/ldm_reference.py weights --model ... --config ... --out W.safetensors
        (random weights, for a shape-only run without a real checkpoint)

`model` reads and writes the tensors `tagbench model` reads and writes (tests/ref/README.md).
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
import safetensors_io as st  # noqa: E402

UNET_PREFIX = "model.diffusion_model."
CLIP_PREFIX = "cond_stage_model.transformer."  # + text_model.*
VAE_PREFIX = "first_stage_model."
PREFIX = {"unet": UNET_PREFIX, "clip": CLIP_PREFIX, "vae": VAE_PREFIX}

# ---------------------------------------------------------------------------------------------
# configs (the keys `tagbench model --config FILE.json` takes)
# ---------------------------------------------------------------------------------------------

# CompVis/stable-diffusion configs/stable-diffusion/v1-inference.yaml unet_config.params
UNET_SD15 = {"image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320,
             "attention_resolutions": [4, 2, 1], "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4],
             "num_heads": 8, "use_spatial_transformer": True, "transformer_depth": 1,
             "context_dim": 768, "use_checkpoint": True, "legacy": False, "norm_num_groups": 32}
# openai/clip-vit-large-patch14 text_config (token ids: SD 1.x's tokenizer, engines.md §4.1)
CLIP_SD15 = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072,
             "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 77,
             "layer_norm_eps": 1e-5, "hidden_act": "quick_gelu", "bos_token_id": 49406,
             "eos_token_id": 49407, "pad_token_id": 49407}
# v1-inference.yaml first_stage_config.params (lossconfig: torch.nn.Identity)
VAE_SD15 = {"embed_dim": 4, "ddconfig": {
    "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
    "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}}
BUILTIN = {"unet": {"sd15": UNET_SD15}, "clip": {"sd15": CLIP_SD15}, "vae": {"sd15": VAE_SD15}}


class ConfigError(ValueError):
    pass


def _int(obj, key, lo=None, default=None, required=False):
    if key not in obj or obj[key] is None:
        if required:
            raise ConfigError(f"{key}: required")
        return default
    v = obj[key]
    if type(v) is not int and not (isinstance(v, float) and v.is_integer()):
        raise ConfigError(f"{key}: must be an integer, got {v!r}")
    v = int(v)
    if lo is not None and v < lo:
        raise ConfigError(f"{key}: must be >= {lo}, got {v}")
    return v


def _ints(obj, key, lo=1, default=None, required=False, empty_ok=True):
    if key not in obj:
        if required:
            raise ConfigError(f"{key}: required")
        return list(default)
    v = obj[key]
    if not isinstance(v, list) or not all(type(x) is int and x >= lo for x in v):
        raise ConfigError(f"{key}: must be a list of integers >= {lo}, got {v!r}")
    if not v and not empty_ok:
        raise ConfigError(f"{key}: must not be empty")
    return list(v)


def _check_keys(obj, known, fixed, where):
    """known: keys read; fixed: {key: allowed value or None for any} accepted and unused."""
    for k, v in obj.items():
        if k in known:
            continue
        if k in fixed:
            if fixed[k] is not None and v != fixed[k]:
                raise ConfigError(f"{where}{k}: only {json.dumps(fixed[k])} is implemented, got {v!r}")
            continue
        raise ConfigError(f"{where}{k}: unknown key")


def unet_config(obj):
    """LDM's UNetModel arguments (unet_config.params) plus norm_num_groups (default 32)."""
    if "params" in obj and isinstance(obj["params"], dict):
        obj = obj["params"]
    known = {"in_channels", "out_channels", "model_channels", "attention_resolutions",
             "num_res_blocks", "channel_mult", "num_heads", "num_head_channels",
             "transformer_depth", "context_dim", "norm_num_groups"}
    fixed = {"image_size": None, "use_checkpoint": None, "use_fp16": None, "dropout": None,
             "legacy": None, "use_spatial_transformer": True, "num_heads_upsample": -1,
             "conv_resample": True, "dims": 2, "num_classes": None, "use_scale_shift_norm": False,
             "resblock_updown": False, "use_new_attention_order": None, "n_embed": None,
             "target": None}
    _check_keys(obj, known, fixed, "")
    c = {"in_channels": _int(obj, "in_channels", 1, required=True),
         "out_channels": _int(obj, "out_channels", 1, required=True),
         "model_channels": _int(obj, "model_channels", 1, required=True),
         "attention_resolutions": _ints(obj, "attention_resolutions", required=True),
         "num_res_blocks": _int(obj, "num_res_blocks", 1, required=True),
         "channel_mult": _ints(obj, "channel_mult", default=[1, 2, 4, 8], empty_ok=False),
         "num_heads": _int(obj, "num_heads", default=-1),
         "num_head_channels": _int(obj, "num_head_channels", default=-1),
         "transformer_depth": _int(obj, "transformer_depth", 1, default=1),
         "context_dim": _int(obj, "context_dim", 1, required=True),
         "norm_num_groups": _int(obj, "norm_num_groups", 1, default=32)}
    if c["num_heads"] == -1 and c["num_head_channels"] == -1:
        raise ConfigError("num_heads: either num_heads or num_head_channels must be set")
    for mult in c["channel_mult"]:
        ch = mult * c["model_channels"]
        if ch % c["norm_num_groups"]:
            raise ConfigError(f"norm_num_groups: {c['norm_num_groups']} does not divide {ch} channels")
        if c["num_head_channels"] != -1:
            if ch % c["num_head_channels"]:
                raise ConfigError(f"num_head_channels: {c['num_head_channels']} does not divide {ch}")
        elif ch % c["num_heads"]:
            # LDM would build inner_dim = heads * (ch // heads) != ch; the C side refuses it too
            raise ConfigError(f"num_heads: {c['num_heads']} does not divide {ch} channels")
    return c


CLIP_IGNORED = {"projection_dim", "initializer_range", "initializer_factor", "attention_dropout",
                "dropout", "model_type", "torch_dtype", "architectures", "transformers_version",
                "_name_or_path", "hidden_dropout_prob", "gradient_checkpointing"}


def clip_config(obj):
    """HF CLIPTextConfig keys (a whole CLIPConfig is read through its text_config)."""
    if isinstance(obj.get("text_config"), dict):
        obj = obj["text_config"]
    known = {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
             "num_attention_heads", "max_position_embeddings", "layer_norm_eps", "hidden_act",
             "bos_token_id", "eos_token_id", "pad_token_id"}
    _check_keys(obj, known, {k: None for k in CLIP_IGNORED}, "")
    c = {"vocab_size": _int(obj, "vocab_size", 1, default=49408),
         "hidden_size": _int(obj, "hidden_size", 1, default=512),
         "intermediate_size": _int(obj, "intermediate_size", 1, default=2048),
         "num_hidden_layers": _int(obj, "num_hidden_layers", 1, default=12),
         "num_attention_heads": _int(obj, "num_attention_heads", 1, default=8),
         "max_position_embeddings": _int(obj, "max_position_embeddings", 1, default=77),
         "layer_norm_eps": float(obj.get("layer_norm_eps", 1e-5)),
         "hidden_act": obj.get("hidden_act", "quick_gelu")}
    for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
        c[k] = _int(obj, k, 0, default=-1)
    if c["hidden_act"] not in ("quick_gelu", "gelu"):
        raise ConfigError(f"hidden_act: \"quick_gelu\" or \"gelu\", got {c['hidden_act']!r}")
    if c["hidden_size"] % c["num_attention_heads"]:
        raise ConfigError("num_attention_heads: does not divide hidden_size")
    if not c["layer_norm_eps"] > 0:
        raise ConfigError("layer_norm_eps: must be > 0")
    return c


def vae_config(obj):
    """LDM first_stage_config.params: embed_dim and ddconfig (+ ddconfig.norm_num_groups)."""
    if "params" in obj and isinstance(obj["params"], dict):
        obj = obj["params"]
    _check_keys(obj, {"embed_dim", "ddconfig"}, {"monitor": None, "lossconfig": None, "target": None}, "")
    dd = obj.get("ddconfig")
    if not isinstance(dd, dict):
        raise ConfigError("ddconfig: required, an object")
    known = {"double_z", "z_channels", "resolution", "in_channels", "out_ch", "ch", "ch_mult",
             "num_res_blocks", "attn_resolutions", "dropout", "norm_num_groups"}
    fixed = {"resamp_with_conv": True, "give_pre_end": False, "tanh_out": False,
             "use_linear_attn": False, "attn_type": "vanilla"}
    _check_keys(dd, known, fixed, "ddconfig.")
    try:
        c = {"embed_dim": _int(obj, "embed_dim", 1, required=True)}
        for k in ("z_channels", "resolution", "in_channels", "out_ch", "ch", "num_res_blocks"):
            c[k] = _int(dd, k, 1, required=True)
        c["ch_mult"] = _ints(dd, "ch_mult", default=[1, 2, 4, 8], empty_ok=False)
        c["attn_resolutions"] = _ints(dd, "attn_resolutions", required=True)
        c["norm_num_groups"] = _int(dd, "norm_num_groups", 1, default=32)
    except ConfigError as e:
        raise ConfigError(("" if str(e).startswith("embed_dim") else "ddconfig.") + str(e)) from None
    if dd.get("double_z", True) is not True:
        raise ConfigError("ddconfig.double_z: AutoencoderKL needs true")
    for m in [1] + c["ch_mult"]:
        if (c["ch"] * m) % c["norm_num_groups"]:
            raise ConfigError(f"ddconfig.norm_num_groups: does not divide {c['ch'] * m} channels")
    return c


def load_config_obj(model, obj):
    return {"unet": unet_config, "clip": clip_config, "vae": vae_config}[model](obj)


def load_config(model, name_or_path):
    """A built-in name ("sd15") or a JSON file's path."""
    if name_or_path in BUILTIN[model]:
        return load_config_obj(model, BUILTIN[model][name_or_path])
    with open(name_or_path) as f:
        return load_config_obj(model, json.load(f))


# ---------------------------------------------------------------------------------------------
# LDM UNet (openaimodel.py UNetModel with use_spatial_transformer, attention.py)
# ---------------------------------------------------------------------------------------------

def timestep_embedding(t, dim, dtype, max_period=10000):
    """util.py timestep_embedding: [cos(t f), sin(t f)] (cos first), f_i = exp(-ln(P) i / half);
    zero column appended for odd dim. Computed in float64, then cast."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
    args = t.to(torch.float64)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb.to(dtype)


class ResBlock(nn.Module):
    """openaimodel.py ResBlock, use_scale_shift_norm False, dropout 0 (eval)."""

    def __init__(self, ch, emb_ch, out_ch, groups, fk):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(groups, ch, eps=1e-5, **fk), nn.SiLU(),
                                       nn.Conv2d(ch, out_ch, 3, padding=1, **fk))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_ch, out_ch, **fk))
        self.out_layers = nn.Sequential(nn.GroupNorm(groups, out_ch, eps=1e-5, **fk), nn.SiLU(),
                                        nn.Identity(),  # Dropout
                                        nn.Conv2d(out_ch, out_ch, 3, padding=1, **fk))
        self.skip_connection = (nn.Identity() if out_ch == ch
                                else nn.Conv2d(ch, out_ch, 1, **fk))

    def forward(self, x, emb):
        h = self.in_layers(x)
        h = h + self.emb_layers(emb)[:, :, None, None]
        h = self.out_layers(h)
        return self.skip_connection(x) + h


class Downsample(nn.Module):
    def __init__(self, ch, fk):
        super().__init__()
        self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1, **fk)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, ch, fk):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1, **fk)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def attention(q, k, v, heads, scale, mask=None):
    """q [B,N,H*D], k/v [B,M,H*D] with heads outermost in the channel axis ('b n (h d)')."""
    b, n, c = q.shape
    m, d = k.shape[1], c // heads
    q = q.reshape(b, n, heads, d).transpose(1, 2)
    k = k.reshape(b, m, heads, d).transpose(1, 2)
    v = v.reshape(b, m, heads, d).transpose(1, 2)
    s = (q @ k.transpose(-1, -2)) * scale
    if mask is not None:
        s = s + mask
    return (s.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)


class CrossAttention(nn.Module):
    def __init__(self, query_dim, context_dim, heads, dim_head, fk):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(query_dim, inner, bias=False, **fk)
        self.to_k = nn.Linear(context_dim, inner, bias=False, **fk)
        self.to_v = nn.Linear(context_dim, inner, bias=False, **fk)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim, **fk), nn.Identity())

    def forward(self, x, context=None):
        ctx = x if context is None else context
        o = attention(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads, self.scale)
        return self.to_out(o)


class GEGLU(nn.Module):
    """attention.py GEGLU: proj -> chunk(2): first half the value, second half the gate."""

    def __init__(self, dim_in, dim_out, fk):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2, **fk)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)  # exact (erf) GELU


class FeedForward(nn.Module):
    def __init__(self, dim, fk, mult=4):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult, fk), nn.Identity(),
                                 nn.Linear(dim * mult, dim, **fk))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, dim_head, context_dim, fk):
        super().__init__()
        self.attn1 = CrossAttention(dim, dim, heads, dim_head, fk)
        self.ff = FeedForward(dim, fk)
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head, fk)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5, **fk)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    """attention.py SpatialTransformer (SD 1.x: proj_in/out are 1x1 convs; GroupNorm eps 1e-6)."""

    def __init__(self, ch, heads, dim_head, depth, context_dim, groups, fk):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6, **fk)
        self.proj_in = nn.Conv2d(ch, inner, 1, **fk)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, context_dim, fk) for _ in range(depth)])
        self.proj_out = nn.Conv2d(inner, ch, 1, **fk)

    def forward(self, x, context):
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x))
        y = y.reshape(b, -1, h * w).transpose(1, 2)  # b c h w -> b (h w) c
        for blk in self.transformer_blocks:
            y = blk(y, context)
        y = y.transpose(1, 2).reshape(b, -1, h, w)
        return self.proj_out(y) + x


class TimestepEmbedSequential(nn.Sequential):
    def forward(self, x, emb, context):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            else:
                x = layer(x)
        return x


class UNetModel(nn.Module):
    """openaimodel.py UNetModel. self.transformers lists (LDM path, diffusers path) of each
    SpatialTransformer, the diffusers path being what kohya's LoRA names are made from."""

    def __init__(self, c, fk):
        super().__init__()
        mc, R, G, levels = c["model_channels"], c["num_res_blocks"], c["norm_num_groups"], c["channel_mult"]
        ted = mc * 4
        self.model_channels = mc
        self.transformers = []

        def st(ch, ldm, diffusers):
            if c["num_head_channels"] == -1:
                heads, dim_head = c["num_heads"], ch // c["num_heads"]
            else:
                heads, dim_head = ch // c["num_head_channels"], c["num_head_channels"]
            self.transformers.append((ldm, diffusers))
            return SpatialTransformer(ch, heads, dim_head, c["transformer_depth"], c["context_dim"], G, fk)

        self.time_embed = nn.Sequential(nn.Linear(mc, ted, **fk), nn.SiLU(), nn.Linear(ted, ted, **fk))
        self.input_blocks = nn.ModuleList(
            [TimestepEmbedSequential(nn.Conv2d(c["in_channels"], mc, 3, padding=1, **fk))])
        chans, ch, ds = [mc], mc, 1
        for level, mult in enumerate(levels):
            for nr in range(R):
                layers = [ResBlock(ch, ted, mult * mc, G, fk)]
                ch = mult * mc
                if ds in c["attention_resolutions"]:
                    layers.append(st(ch, f"input_blocks.{len(self.input_blocks)}.1",
                                     f"down_blocks.{level}.attentions.{nr}"))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                chans.append(ch)
            if level != len(levels) - 1:
                self.input_blocks.append(TimestepEmbedSequential(Downsample(ch, fk)))
                chans.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(
            ResBlock(ch, ted, ch, G, fk), st(ch, "middle_block.1", "mid_block.attentions.0"),
            ResBlock(ch, ted, ch, G, fk))
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(levels))):
            for i in range(R + 1):
                layers = [ResBlock(ch + chans.pop(), ted, mc * mult, G, fk)]
                ch = mc * mult
                if ds in c["attention_resolutions"]:
                    # diffusers counts up blocks from the deepest level
                    layers.append(st(ch, f"output_blocks.{len(self.output_blocks)}.1",
                                     f"up_blocks.{len(levels) - 1 - level}.attentions.{i}"))
                if level and i == R:
                    layers.append(Upsample(ch, fk))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = nn.Sequential(nn.GroupNorm(G, ch, eps=1e-5, **fk), nn.SiLU(),
                                 nn.Conv2d(mc, c["out_channels"], 3, padding=1, **fk))

    def forward(self, x, timesteps, context):
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels, x.dtype))
        hs, h = [], x
        for m in self.input_blocks:
            h = m(h, emb, context)
            hs.append(h)
        h = self.middle_block(h, emb, context)
        for m in self.output_blocks:
            h = m(torch.cat([h, hs.pop()], dim=1), emb, context)
        return self.out(h)

    def lora_targets(self):
        """{kohya module name: module}: every Linear / 1x1 Conv2d inside a SpatialTransformer
        (kohya UNET_TARGET_REPLACE_MODULE = Transformer2DModel, whose children are named as ours)."""
        out = {}
        for ldm, diffusers in self.transformers:
            for child, mod in self.get_submodule(ldm).named_modules():
                if isinstance(mod, nn.Linear) or (isinstance(mod, nn.Conv2d) and mod.kernel_size == (1, 1)):
                    out["lora_unet_" + f"{diffusers}.{child}".replace(".", "_")] = mod
        return out


# ---------------------------------------------------------------------------------------------
# CLIP text model (HF transformers CLIPTextModel; openai/CLIP model.py)
# ---------------------------------------------------------------------------------------------

class CLIPAttention(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        C = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.scale = (C // self.heads) ** -0.5
        self.k_proj = nn.Linear(C, C, **fk)
        self.v_proj = nn.Linear(C, C, **fk)
        self.q_proj = nn.Linear(C, C, **fk)
        self.out_proj = nn.Linear(C, C, **fk)

    def forward(self, x, mask):
        o = attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, self.scale, mask)
        return self.out_proj(o)


class CLIPMLP(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        self.quick = c["hidden_act"] == "quick_gelu"
        self.fc1 = nn.Linear(c["hidden_size"], c["intermediate_size"], **fk)
        self.fc2 = nn.Linear(c["intermediate_size"], c["hidden_size"], **fk)

    def forward(self, x):
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.quick else F.gelu(h)
        return self.fc2(h)


class CLIPEncoderLayer(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        self.self_attn = CLIPAttention(c, fk)
        self.layer_norm1 = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"], **fk)
        self.mlp = CLIPMLP(c, fk)
        self.layer_norm2 = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"], **fk)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEmbeddings(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        P = c["max_position_embeddings"]
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"], **fk)
        self.position_embedding = nn.Embedding(P, c["hidden_size"], **fk)
        self.register_buffer("position_ids", torch.arange(P, device=fk.get("device")).expand(1, -1))

    def forward(self, ids):
        return self.token_embedding(ids) + self.position_embedding(self.position_ids[:, :ids.shape[1]])


class CLIPEncoder(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(c, fk) for _ in range(c["num_hidden_layers"])])


class CLIPTextTransformer(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        self.embeddings = CLIPEmbeddings(c, fk)
        self.encoder = CLIPEncoder(c, fk)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"], **fk)


class CLIPTextModel(nn.Module):
    """Keys text_model.*; under cond_stage_model.transformer. in an SD checkpoint."""

    def __init__(self, c, fk):
        super().__init__()
        self.text_model = CLIPTextTransformer(c, fk)

    def forward(self, ids):
        """Returns (embeds, hidden states [embeds, after layer 0, ...], last_hidden_state,
        penultimate_ln)."""
        embeds = self.text_model.embeddings(ids)
        return (embeds,) + self.encode(embeds)

    def encode(self, embeds):
        """From the token + position embedding sum: (hidden, last_hidden_state, penultimate_ln).
        clip_skip n = final_layer_norm(hidden[-n]); n = 1 and n = 2 are returned."""
        tm = self.text_model
        T = embeds.shape[1]
        mask = torch.full((T, T), float("-inf"), dtype=embeds.dtype, device=embeds.device).triu(1)
        hidden, x = [embeds], embeds
        for layer in tm.encoder.layers:
            x = layer(x, mask)
            hidden.append(x)
        return hidden, tm.final_layer_norm(hidden[-1]), tm.final_layer_norm(hidden[-2])

    def lora_targets(self):
        """kohya TEXT_ENCODER_TARGET_REPLACE_MODULE (CLIPAttention, CLIPMLP): their Linears."""
        out = {}
        for name, mod in self.named_modules():
            if isinstance(mod, (CLIPAttention, CLIPMLP)):
                for child, sub in mod.named_children():
                    if isinstance(sub, nn.Linear):
                        out["lora_te_" + f"{name}.{child}".replace(".", "_")] = sub
        return out


# ---------------------------------------------------------------------------------------------
# AutoencoderKL (ldm/modules/diffusionmodules/model.py Encoder/Decoder, autoencoder.py)
# ---------------------------------------------------------------------------------------------

class VResnetBlock(nn.Module):
    def __init__(self, cin, cout, G, fk):
        super().__init__()
        self.norm1 = nn.GroupNorm(G, cin, eps=1e-6, **fk)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, **fk)
        self.norm2 = nn.GroupNorm(G, cout, eps=1e-6, **fk)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, **fk)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, **fk)
        self.cin, self.cout = cin, cout

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))  # dropout between: eval
        return (self.nin_shortcut(x) if self.cin != self.cout else x) + h


class VAttnBlock(nn.Module):
    """Single-head attention over the h*w positions; q/k/v/proj_out are 1x1 convs."""

    def __init__(self, ch, G, fk):
        super().__init__()
        self.norm = nn.GroupNorm(G, ch, eps=1e-6, **fk)
        self.q = nn.Conv2d(ch, ch, 1, **fk)
        self.k = nn.Conv2d(ch, ch, 1, **fk)
        self.v = nn.Conv2d(ch, ch, 1, **fk)
        self.proj_out = nn.Conv2d(ch, ch, 1, **fk)

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.norm(x)
        q = self.q(y).reshape(b, c, h * w).transpose(1, 2)
        k = self.k(y).reshape(b, c, h * w).transpose(1, 2)
        v = self.v(y).reshape(b, c, h * w).transpose(1, 2)
        o = attention(q, k, v, 1, c ** -0.5)
        return x + self.proj_out(o.transpose(1, 2).reshape(b, c, h, w))


class VDownsample(nn.Module):
    def __init__(self, ch, fk):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0, **fk)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # pad right and bottom only


class VUpsample(nn.Module):
    def __init__(self, ch, fk):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1, **fk)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Level(nn.Module):
    pass


class Mid(nn.Module):
    def __init__(self, ch, G, fk):
        super().__init__()
        self.block_1 = VResnetBlock(ch, ch, G, fk)
        self.attn_1 = VAttnBlock(ch, G, fk)
        self.block_2 = VResnetBlock(ch, ch, G, fk)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        ch, mult, R, G = c["ch"], c["ch_mult"], c["num_res_blocks"], c["norm_num_groups"]
        self.conv_in = nn.Conv2d(c["in_channels"], ch, 3, padding=1, **fk)
        res, cin = c["resolution"], ch
        self.down = nn.ModuleList()
        for i, m in enumerate(mult):
            lv = Level()
            lv.block, lv.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(R):
                lv.block.append(VResnetBlock(cin, ch * m, G, fk))
                cin = ch * m
                if res in c["attn_resolutions"]:
                    lv.attn.append(VAttnBlock(cin, G, fk))
            if i != len(mult) - 1:
                lv.downsample = VDownsample(cin, fk)
                res //= 2
            self.down.append(lv)
        self.mid = Mid(cin, G, fk)
        self.norm_out = nn.GroupNorm(G, cin, eps=1e-6, **fk)
        self.conv_out = nn.Conv2d(cin, 2 * c["z_channels"], 3, padding=1, **fk)

    def forward(self, x):
        h = self.conv_in(x)
        for i, lv in enumerate(self.down):
            for j, blk in enumerate(lv.block):
                h = blk(h)
                if len(lv.attn):
                    h = lv.attn[j](h)
            if i != len(self.down) - 1:
                h = lv.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        ch, mult, R, G = c["ch"], c["ch_mult"], c["num_res_blocks"], c["norm_num_groups"]
        cin = ch * mult[-1]
        res = c["resolution"] // 2 ** (len(mult) - 1)
        self.conv_in = nn.Conv2d(c["z_channels"], cin, 3, padding=1, **fk)
        self.mid = Mid(cin, G, fk)
        ups = []
        for i in reversed(range(len(mult))):
            lv = Level()
            lv.block, lv.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(R + 1):
                lv.block.append(VResnetBlock(cin, ch * mult[i], G, fk))
                cin = ch * mult[i]
                if res in c["attn_resolutions"]:
                    lv.attn.append(VAttnBlock(cin, G, fk))
            if i != 0:
                lv.upsample = VUpsample(cin, fk)
                res *= 2
            ups.insert(0, lv)  # up[i] is resolution level i; the deepest runs first
        self.up = nn.ModuleList(ups)
        self.norm_out = nn.GroupNorm(G, cin, eps=1e-6, **fk)
        self.conv_out = nn.Conv2d(cin, c["out_ch"], 3, padding=1, **fk)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for i in reversed(range(len(self.up))):
            lv = self.up[i]
            for j, blk in enumerate(lv.block):
                h = blk(h)
                if len(lv.attn):
                    h = lv.attn[j](h)
            if i != 0:
                h = lv.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, c, fk):
        super().__init__()
        self.encoder = Encoder(c, fk)
        self.decoder = Decoder(c, fk)
        self.quant_conv = nn.Conv2d(2 * c["z_channels"], 2 * c["embed_dim"], 1, **fk)
        self.post_quant_conv = nn.Conv2d(c["embed_dim"], c["z_channels"], 1, **fk)

    def forward(self, image, latent, noise):
        """DiagonalGaussianDistribution: mean, logvar = chunk(moments, 2, dim=1); logvar clamped
        to [-30, 20]; std = exp(logvar / 2); sample = mean + std * noise. decoded = D(latent)."""
        moments = self.quant_conv(self.encoder(image))
        mean, logvar = torch.chunk(moments, 2, dim=1)
        logvar = torch.clamp(logvar, -30.0, 20.0)
        std = torch.exp(0.5 * logvar)
        out = {"moments": moments, "mean": mean, "logvar": logvar, "std": std,
               "z_sample": mean + std * noise}
        if latent is not None:
            out["decoded"] = self.decoder(self.post_quant_conv(latent))
        return out


# ---------------------------------------------------------------------------------------------
# kohya LoRA (sd-scripts networks/lora.py LoRAModule)
# ---------------------------------------------------------------------------------------------

class LoRAModule(nn.Module):
    """y = base(x) + multiplier * (alpha / rank) * up(down(x)); down/up without bias, Linear or
    1x1 Conv2d like the wrapped layer; alpha a 0-d buffer (saved as `.alpha`)."""

    def __init__(self, base, rank, alpha, fk, multiplier=1.0):
        super().__init__()
        if isinstance(base, nn.Linear):
            self.lora_down = nn.Linear(base.in_features, rank, bias=False, **fk)
            self.lora_up = nn.Linear(rank, base.out_features, bias=False, **fk)
        else:
            self.lora_down = nn.Conv2d(base.in_channels, rank, 1, bias=False, **fk)
            self.lora_up = nn.Conv2d(rank, base.out_channels, 1, bias=False, **fk)
        alpha = float(rank) if alpha is None or alpha == 0 else float(alpha)
        self.register_buffer("alpha", torch.tensor(alpha, dtype=torch.float32, device=fk.get("device")))
        self.rank, self.multiplier = rank, multiplier
        self.scale = alpha / rank
        self.handle = base.register_forward_hook(self._hook)

    def _hook(self, mod, inputs, output):
        return output + self.multiplier * self.scale * self.lora_up(self.lora_down(inputs[0]))


class LoRANetwork(nn.Module):
    """Children named by kohya's module names, so state_dict() gives the file's keys."""

    def __init__(self, targets, ranks, alphas, fk):
        super().__init__()
        for name in sorted(ranks):
            if name not in targets:
                raise KeyError(f"{name}: not a LoRA module of this model")
            self.add_module(name, LoRAModule(targets[name], ranks[name], alphas.get(name), fk))

    def remove(self):
        for m in self.children():
            m.handle.remove()


def lora_from_file(model, path, fk):
    """A LoRANetwork holding a kohya file's modules (alpha missing: alpha = rank, scale 1)."""
    tensors, _ = st.load(path)
    targets = model.lora_targets()
    ranks, alphas = {}, {}
    for k, t in tensors.items():
        if k.endswith(".lora_down.weight"):
            ranks[k[:-len(".lora_down.weight")]] = t.shape[0]
        elif k.endswith(".alpha"):
            alphas[k[:-len(".alpha")]] = float(t)
        elif not k.endswith(".lora_up.weight"):
            raise KeyError(f"{path}: {k}: not a kohya LoRA tensor")
    net = LoRANetwork(targets, ranks, alphas, fk)
    sd = net.state_dict()
    for k, t in tensors.items():
        if k not in sd:
            raise KeyError(f"{path}: {k}: no such LoRA module for this model")
        if tuple(sd[k].shape) != tuple(t.shape):
            raise ValueError(f"{path}: {k}: shape {list(t.shape)}, expected {list(sd[k].shape)}")
    net.load_state_dict({**sd, **{k: t for k, t in tensors.items()}}, strict=True)
    return net


# ---------------------------------------------------------------------------------------------
# building, loading, running (the `tagbench model` contract)
# ---------------------------------------------------------------------------------------------

def build(model, cfg, dtype=torch.float64, device="cpu"):
    fk = {"dtype": dtype, "device": device}
    return {"unet": UNetModel, "clip": CLIPTextModel, "vae": AutoencoderKL}[model](cfg, fk)


def named_weights(model, net):
    """{checkpoint key: tensor} of the model's parameters and buffers."""
    return {PREFIX[model] + k: v for k, v in net.state_dict(keep_vars=True).items()}


def load_weights(model, net, path):
    """Loads every parameter by checkpoint key (any float dtype; converted). position_ids may
    be absent. Keys under the model's prefix that the model lacks are an error."""
    pre = PREFIX[model]
    tensors, _ = st.load(path, prefix=pre)
    sd = net.state_dict()
    missing = [k for k in sd if pre + k not in tensors and not k.endswith("position_ids")]
    extra = [k for k in tensors if k[len(pre):] not in sd]
    if missing or extra:
        raise KeyError(f"{path}: missing {missing[:5]}{'...' if len(missing) > 5 else ''} "
                       f"({len(missing)}), unexpected {extra[:5]} ({len(extra)})")
    new = {}
    for k, v in sd.items():
        if pre + k not in tensors:
            new[k] = v
            continue
        t = tensors[pre + k]
        if tuple(t.shape) != tuple(v.shape):
            raise ValueError(f"{path}: {pre + k}: shape {list(t.shape)}, expected {list(v.shape)}")
        new[k] = t.to(v.dtype)
    net.load_state_dict(new, strict=True)


def run(model, net, inputs, backward=False, lora=None):
    """Computes the outputs `tagbench model` writes, from {name: tensor} inputs."""
    dt = next(net.parameters()).dtype
    for p in net.parameters():
        p.requires_grad_(backward and lora is None)
    if lora is not None:
        for p in lora.parameters():
            p.requires_grad_(backward)
    out = {}
    with torch.set_grad_enabled(backward):
        if model == "unet":
            x = inputs["x"].to(dt).requires_grad_(backward)
            ctx = inputs["context"].to(dt).requires_grad_(backward)
            eps = net(x, inputs["timesteps"].to(torch.float64), ctx)
            out["eps"] = eps
            if backward:
                (eps * inputs["dy"].to(dt)).sum().backward()
                out["grad_x"], out["grad_context"] = x.grad, ctx.grad
        elif model == "clip":
            embeds = net.text_model.embeddings(inputs["input_ids"].to(torch.int64))
            leaf = embeds.detach().requires_grad_(backward)  # grad_embeds is d loss / d leaf
            _, last, pen = net.encode(leaf)
            out["last_hidden_state"], out["penultimate_ln"] = last, pen
            if backward:
                loss = (last * inputs["dy"].to(dt)).sum()
                if "dy_penultimate" in inputs:
                    loss = loss + (pen * inputs["dy_penultimate"].to(dt)).sum()
                loss.backward()
                out["grad_embeds"] = leaf.grad
                if embeds.requires_grad:  # on into token_embedding / position_embedding
                    embeds.backward(leaf.grad)
        else:
            out.update(net(inputs["image"].to(dt), inputs["latent"].to(dt) if "latent" in inputs else None,
                           inputs["noise"].to(dt)))
    if backward and model != "vae":
        src = ({k: v for k, v in lora.named_parameters()} if lora is not None else
               {k: v for k, v in named_weights(model, net).items() if isinstance(v, nn.Parameter)})
        for k, p in src.items():
            out["grad." + k] = p.grad if p.grad is not None else torch.zeros_like(p)
    return {k: v.detach().to(torch.float32) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# random weights and inputs (fixtures, shape-only runs)
# ---------------------------------------------------------------------------------------------

def randomize(net, gen, norm_jitter=0.2, bias_std=0.1, emb_std=0.5):
    """Deterministic non-zero weights for every parameter (the zero-init layers too):
    conv/linear weights ~ N(0, 1/fan_in), biases ~ N(0, bias_std^2), norm weights 1 + N(0, j^2),
    norm biases ~ N(0, bias_std^2), embeddings ~ N(0, emb_std^2). Drawn in float64, rounded to
    float32 (the stored values are what every implementation computes from)."""
    def draw(shape, std, mean=0.0):
        return (mean + std * torch.randn(shape, generator=gen, dtype=torch.float64)).float().double()
    with torch.no_grad():
        for _, m in net.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(draw(m.weight.shape, fan_in ** -0.5))
                if m.bias is not None:
                    m.bias.copy_(draw(m.bias.shape, bias_std))
            elif isinstance(m, (nn.GroupNorm, nn.LayerNorm)):
                m.weight.copy_(draw(m.weight.shape, norm_jitter, 1.0))
                m.bias.copy_(draw(m.bias.shape, bias_std))
            elif isinstance(m, nn.Embedding):
                m.weight.copy_(draw(m.weight.shape, emb_std))


def random_inputs(model, cfg, gen, batch=1, size=None, context_len=None):
    def randn(*shape):
        return torch.randn(shape, generator=gen, dtype=torch.float64).float()
    if model == "unet":
        H = size or 64
        T = context_len or 77
        return {"x": randn(batch, cfg["in_channels"], H, H),
                "timesteps": torch.randint(0, 1000, (batch,), generator=gen).float(),
                "context": randn(batch, T, cfg["context_dim"]),
                "dy": randn(batch, cfg["out_channels"], H, H)}
    if model == "clip":
        T, V, C = cfg["max_position_embeddings"], cfg["vocab_size"], cfg["hidden_size"]
        ids = torch.randint(0, V, (batch, T), generator=gen, dtype=torch.int64)
        if cfg["bos_token_id"] >= 0 and cfg["eos_token_id"] >= 0:
            pad = cfg["pad_token_id"] if cfg["pad_token_id"] >= 0 else cfg["eos_token_id"]
            for b in range(batch):  # BOS, a prompt of random length, EOS, padding
                n = int(torch.randint(1, T - 1, (1,), generator=gen))
                ids[b, 0], ids[b, n + 1], ids[b, n + 2:] = cfg["bos_token_id"], cfg["eos_token_id"], pad
        return {"input_ids": ids, "dy": randn(batch, T, C), "dy_penultimate": randn(batch, T, C)}
    H = size or cfg["resolution"]
    f = 2 ** (len(cfg["ch_mult"]) - 1)
    return {"image": (torch.rand((batch, cfg["in_channels"], H, H), generator=gen,
                                 dtype=torch.float64) * 2 - 1).float(),
            "latent": randn(batch, cfg["embed_dim"], H // f, H // f),
            "noise": randn(batch, cfg["embed_dim"], H // f, H // f)}


# ---------------------------------------------------------------------------------------------
# self-check: the sd15 configs' counts and names (built on the meta device: no memory)
# ---------------------------------------------------------------------------------------------

def selfcheck():
    ok = True

    def check(what, got, want):
        nonlocal ok
        good = got == want
        ok &= good
        print(f"{'ok ' if good else 'BAD'} {what}: {got}" + ("" if good else f" (expected {want})"))

    nets = {m: build(m, load_config(m, "sd15"), torch.float32, "meta") for m in ("unet", "clip", "vae")}
    for m, want in (("unet", 859_520_964), ("clip", 123_060_480), ("vae", 83_653_863)):
        net = nets[m]
        check(f"{m} sd15 parameters", sum(p.numel() for p in net.parameters()), want)
        keys = named_weights(m, net)
        params = [k for k, v in keys.items() if isinstance(v, nn.Parameter)]
        check(f"{m} sd15 parameter tensors", len(params), {"unet": 686, "clip": 196, "vae": 248}[m])
        if m == "clip":
            check("clip buffers", [k for k in keys if k not in params],
                  ["cond_stage_model.transformer.text_model.embeddings.position_ids"])
    u, c = nets["unet"], nets["clip"]
    ut, ct = u.lora_targets(), c.lora_targets()
    check("kohya UNet LoRA modules", len(ut), 192)
    check("kohya TE LoRA modules", len(ct), 72)
    ln = LoRANetwork(ut, {k: 1 for k in ut}, {}, {"device": "meta", "dtype": torch.float32})
    lt = LoRANetwork(ct, {k: 1 for k in ct}, {}, {"device": "meta", "dtype": torch.float32})
    check("UNet LoRA params per rank", sum(p.numel() for p in ln.parameters()), 423_936)
    check("TE LoRA params per rank", sum(p.numel() for p in lt.parameters()), 165_888)
    sd = {k: list(v.shape) for k, v in named_weights("unet", u).items()}
    spots = {  # engines.md §3.4
        "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
        "input_blocks.4.0.skip_connection.weight": [640, 320, 1, 1],
        "input_blocks.3.0.op.weight": [320, 320, 3, 3],
        "input_blocks.1.1.transformer_blocks.0.ff.net.0.proj.weight": [2560, 320],
        "input_blocks.1.1.transformer_blocks.0.ff.net.2.weight": [320, 1280],
        "output_blocks.2.1.conv.weight": [1280, 1280, 3, 3],
        "output_blocks.5.2.conv.weight": [1280, 1280, 3, 3],
        "output_blocks.8.2.conv.weight": [640, 640, 3, 3],
        "output_blocks.2.0.in_layers.2.weight": [1280, 2560, 3, 3],
        "middle_block.1.transformer_blocks.0.attn2.to_k.weight": [1280, 768],
        "out.2.weight": [4, 320, 3, 3], "time_embed.0.weight": [1280, 320]}
    for k, shape in spots.items():
        check(k, sd.get(UNET_PREFIX + k), shape)
    kohya = {  # trainers.md §5.3 (r = 1)
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": [1, 320, 1, 1],
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": [1, 768],
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.lora_up.weight": [320, 1],
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj.lora_up.weight": [2560, 1],
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2.lora_down.weight": [1, 1280],
        "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_v.alpha": [],
        "lora_unet_up_blocks_3_attentions_2_proj_out.lora_up.weight": [320, 1, 1, 1],
        "lora_unet_up_blocks_1_attentions_0_proj_in.lora_down.weight": [1, 1280, 1, 1]}
    lsd = {k: list(v.shape) for k, v in ln.state_dict().items()}
    for k, shape in kohya.items():
        check(k, lsd.get(k), shape)
    check("no up_blocks_0 attentions", [k for k in lsd if "up_blocks_0_" in k], [])
    tsd = {k: list(v.shape) for k, v in lt.state_dict().items()}
    for k, shape in {"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": [1, 768],
                     "lora_te_text_model_encoder_layers_11_mlp_fc1.lora_up.weight": [3072, 1],
                     "lora_te_text_model_encoder_layers_11_mlp_fc2.alpha": []}.items():
        check(k, tsd.get(k), shape)
    # the LDM <-> diffusers placement of the 16 transformers (lora_names.h / sd.cpp's table)
    tr = u.transformers
    check("transformer placement", tr[:3] + [tr[6], tr[7], tr[-1]],
          [("input_blocks.1.1", "down_blocks.0.attentions.0"),
           ("input_blocks.2.1", "down_blocks.0.attentions.1"),
           ("input_blocks.4.1", "down_blocks.1.attentions.0"),
           ("middle_block.1", "mid_block.attentions.0"),
           ("output_blocks.3.1", "up_blocks.1.attentions.0"),
           ("output_blocks.11.1", "up_blocks.3.attentions.2")])
    vsd = named_weights("vae", nets["vae"])
    check("vae encoder.down.3.downsample absent", any(".down.3.downsample" in k for k in vsd), False)
    check("vae decoder.up.0.upsample absent", any("decoder.up.0.upsample" in k for k in vsd), False)
    check("vae decoder.up.3.block count", len({k.split(".block.")[1][0] for k in vsd
                                                 if "decoder.up.3.block." in k}), 3)
    print("selfcheck:", "all ok" if ok else "FAILED")
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selfcheck")
    pm = sub.add_parser("model", help="run a model like `tagbench model`")
    pi = sub.add_parser("inputs", help="random inputs for `model`")
    pw = sub.add_parser("weights", help="random weights (checkpoint keys)")
    for p in (pm, pi, pw):
        p.add_argument("--model", required=True, choices=["unet", "clip", "vae"])
        p.add_argument("--config", required=True)
        p.add_argument("--out", required=True)
    pm.add_argument("--weights", required=True)
    pm.add_argument("--inputs", required=True)
    pm.add_argument("--lora")
    pm.add_argument("--backward", action="store_true")
    pm.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    pm.add_argument("--threads", type=int)
    for p in (pi, pw):
        p.add_argument("--seed", type=int, default=0)
    pi.add_argument("--batch", type=int, default=1)
    pi.add_argument("--size", type=int, help="H = W (unet default 64, vae: the config's resolution)")
    pi.add_argument("--context-len", type=int, default=77)
    a = ap.parse_args(argv)
    if a.cmd == "selfcheck":
        return selfcheck()
    cfg = load_config(a.model, a.config)
    gen = torch.Generator().manual_seed(a.seed) if a.cmd != "model" else None
    if a.cmd == "inputs":
        st.save(a.out, random_inputs(a.model, cfg, gen, a.batch, a.size, a.context_len))
        return 0
    if a.cmd == "weights":
        net = build(a.model, cfg, torch.float32)
        randomize(net, gen)
        st.save(a.out, {k: v.detach() for k, v in named_weights(a.model, net).items()})
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    dt = getattr(torch, a.dtype)
    net = build(a.model, cfg, dt)
    load_weights(a.model, net, a.weights)
    lora = lora_from_file(net, a.lora, {"dtype": dt, "device": "cpu"}) if a.lora else None
    inputs, _ = st.load(a.inputs)
    st.save(a.out, run(a.model, net, inputs, a.backward, lora),
            {"producer": "tests/ref/ldm_reference.py", "dtype": a.dtype})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
