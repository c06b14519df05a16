"""Train the shipped facial expression model (``models/face-expression``) on FER2013, CPU only.

Why this design
---------------
* **Data**: FER2013 train re-cropped by :func:`crop_face` (see ``face_expression_data.py``), so
  training crops match run-time crops. 10 % of train (stratified, fixed seed) is held out for
  validation; the test split is touched only once, for the reported figure.
* **Network**: a compact VGG-style CNN (about 1.2 M parameters). Full-resolution stem (one conv
  at 48x48, where the expression detail is), then three stages of two 3x3 convs at 24, 12 and 6
  pixels, global average pooling, dropout, linear. Deeper/wider variants were 1.4-2x slower per
  epoch, i.e. fewer epochs in the same budget.
* **bf16 autocast** (``--precision bf16``, the default): convolutions run in bfloat16 with fp32
  master weights. On a CPU with AMX / AVX512-BF16 that is 2.3x the fp32 speed (about 700 images/s
  with augmentation on 2 cores, 40 s an epoch); without them, pass ``--precision fp32``. Measured
  fp32 speeds: ~550 images/s on the host of the first run, ~150/s on a 2-core AMD host, where
  bf16 is emulated and 12x *slower* than fp32 (training warns when the CPU lacks bf16).
* **Distillation** (``--teacher``, repeatable): a cycle can train against the averaged
  softened outputs of earlier releases (an ensemble the app could not afford to run: two nets
  with flip are four passes), on the *same* augmented, mixup-blended view the student sees
  ("consistent teaching": the teacher labels exactly the image the student learns from). The
  teachers are git revisions of the shipped ONNX file (``REV:PATH``), so they are fixed and
  anyone can fetch them; the card records each with its sha256. Mixup (``--mixup``) gives the
  teacher in-between images to label, which is where its soft labels carry the most.
* **Training in cycles**: ``--init`` starts from a checkpoint or from the exported ONNX file (a
  fresh checkout has only that), and a new warm-up + cosine cycle continues from there; the card
  records every cycle and the commands that rebuild the model.
* **Input normalisation inside the graph**: each crop is standardised (zero mean, unit std) in the
  model itself, so the ONNX file takes crop_face's [0, 1] output unchanged, and lighting and
  camera gain matter less than in FER2013's web photos.
* **Regularisation**: random shift/scale/rotation, horizontal flip, gamma, noise, random erasing,
  label smoothing 0.1, SGD with Nesterov momentum, weight decay, warm-up then cosine to zero.

Usage::

    flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_expression.py --epochs 32
    # a further cycle from the shipped model
    python training/face_expression.py --epochs 32 --lr 0.04 \
        --init src/affectlens/models/face-expression/face_expression.onnx

    # a wide teacher (about 4.7 M parameters, never shipped), then a student distilled from it
    python training/face_expression.py --epochs 60 --widths 64,128,256,512 --stem 48 \
        --work work_data/teacher_wide --out work_data/teacher_wide/model
    python training/face_expression.py --epochs 80 --lr 0.02 --mixup 0.2 \
        --teacher work_data/teacher_wide/model/face_expression.onnx \
        --init src/affectlens/models/face-expression/face_expression.onnx

Every epoch writes ``last.pt`` to ``--work`` (``work_data/face_expression``; and ``best.pt`` by
validation accuracy), so a run can be stopped early and still exported with ``--export-only``.
``last.pt`` also holds the optimizer, the schedule's position and the random generators, so the
same command with ``--resume`` continues a killed run exactly (weights equal to an uninterrupted
run's); ``--stop-after N`` trains N more epochs and stops, which splits a schedule longer than one
sitting (hours of fp32 on 2 cores) into parts. The validation split is the same for every
``--seed``, so models from different seeds are compared and averaged on the same held-out faces.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_expression_data import load_cache, read_teacher, split_train_val  # noqa: E402

from affectlens.core.data import REPO_ROOT  # noqa: E402
from affectlens.core.labels import LABELS  # noqa: E402
from affectlens.modalities.face.crop import (  # noqa: E402
    BOX_CENTRE_DROP,
    BOX_TO_CROP,
    CROP_SIZE,
    MAX_ROLL_DEG,
)

log = logging.getLogger("affectlens.training.face_expression")

WORK = REPO_ROOT / "work_data" / "face_expression"
MODEL_DIR = REPO_ROOT / "src" / "affectlens" / "models" / "face-expression"
ONNX_NAME = "face_expression.onnx"
DEFAULT_LR = 0.05  # the first cycle's rate; retrain commands leave it out
DEFAULT_PRECISION = "bf16"  # autocast: convs and the linear layer in bfloat16, fp32 master weights
DEFAULT_STEM, DEFAULT_WIDTHS = 32, (64, 128, 256)  # the shipped network; wider ones serve as teachers


def _cbr(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ExpressionNet(nn.Module):
    """Compact VGG-style expression CNN; input [N, 1, S, S] in [0, 1], output logits over LABELS."""

    def __init__(self, widths: tuple[int, ...] = DEFAULT_WIDTHS, stem: int = DEFAULT_STEM, dropout: float = 0.3):
        super().__init__()
        self.architecture = {"stem": int(stem), "widths": [int(w) for w in widths]}
        layers: list[nn.Module] = [*_cbr(1, stem), nn.MaxPool2d(2)]
        c = stem
        for i, w in enumerate(widths):
            layers += [*_cbr(c, w), *_cbr(w, w)]
            c = w
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, len(LABELS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.std(dim=(2, 3), keepdim=True)
        x = (x - mean) / (std + 1e-3)
        x = self.features(x)
        return self.head(x.mean(dim=(2, 3)))


def _onnx_graph(onnx_path: Path | bytes):
    import onnx

    return (onnx.load_model_from_string(onnx_path) if isinstance(onnx_path, bytes)
            else onnx.load(str(onnx_path))).graph


def onnx_architecture(onnx_path: Path | bytes) -> dict:
    """``{"stem", "widths"}`` of an exported :class:`ExpressionNet`, read off its conv shapes.

    The stem is one conv, each stage two, so the stage widths are every second conv's output
    channels after the stem. This lets a teacher or a starting point of any width be loaded
    without the command line having to repeat how it was built.
    """
    from onnx import numpy_helper

    graph = _onnx_graph(onnx_path)
    if any(n.op_type.startswith("QLinear") for n in graph.node):
        raise ValueError(f"{'this file' if isinstance(onnx_path, bytes) else onnx_path} is an int8 copy "
                         "(face_expression_ensemble.py --int8) whose float weights are gone: start from the float "
                         "network it was made from (the card's validation names each member's source)")
    shapes = {i.name: numpy_helper.to_array(i).shape for i in graph.initializer}
    outs = [int(shapes[n.input[1]][0]) for n in graph.node if n.op_type == "Conv"]
    if len(outs) < 3 or len(outs) % 2 == 0:
        raise ValueError(f"{len(outs)} convs: not an exported ExpressionNet (stem + two per stage)")
    return {"stem": outs[0], "widths": outs[1::2]}


def net_from_onnx(onnx_path: Path | bytes, crops: np.ndarray) -> ExpressionNet:
    """A network of the exported file's architecture, started from its weights."""
    arch = onnx_architecture(onnx_path)
    net = ExpressionNet(widths=tuple(arch["widths"]), stem=arch["stem"])
    load_onnx_weights(net, onnx_path, crops)
    return net


def load_onnx_weights(model: ExpressionNet, onnx_path: Path | bytes, crops: np.ndarray) -> None:
    """Start ``model`` from an exported ONNX file (e.g. the shipped one) in place.

    Checkpoints live in the gitignored ``work_data``, so a fresh checkout has only the ONNX
    file, whose export folded each BatchNorm into its conv (weight and bias). Copying the conv
    weights and re-deriving each BatchNorm from data keeps the function: with ``z`` the conv
    output on ``crops`` (a few thousand training faces), per channel ``gamma = std(z)``,
    ``beta = mean(z) + b`` and running statistics ``mean(z)``, ``var(z)`` give exactly
    ``z + b`` in eval mode and about that in train mode, so a second training cycle continues
    from the exported model instead of from scratch.
    """
    from onnx import numpy_helper

    graph = _onnx_graph(onnx_path)
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemm = next(n for n in graph.node if n.op_type == "Gemm")
    torch_convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != len(torch_convs):
        raise ValueError(f"{onnx_path}: {len(convs)} convs, the network has {len(torch_convs)}")
    biases = []
    with torch.no_grad():
        for node, conv, norm in zip(convs, torch_convs, norms, strict=True):
            conv.weight.copy_(torch.from_numpy(inits[node.input[1]]))
            biases.append(torch.from_numpy(inits[node.input[2]]))
            norm.weight.fill_(1.0)
            norm.bias.copy_(biases[-1])
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)  # eval: (z - 0) / sqrt(1) + b
        model.head[1].weight.copy_(torch.from_numpy(inits[gemm.input[1]]))
        model.head[1].bias.copy_(torch.from_numpy(inits[gemm.input[2]]))
        stats: list[tuple[torch.Tensor, torch.Tensor]] = []
        hooks = [c.register_forward_hook(lambda _m, _i, z: stats.append((z.mean((0, 2, 3)), z.var((0, 2, 3)))))
                 for c in torch_convs]
        model.eval()
        model(torch.from_numpy(crops).float().div(255.0).unsqueeze(1))
        for h in hooks:
            h.remove()
        for norm, b, (mean, var) in zip(norms, biases, stats, strict=True):
            norm.weight.copy_(torch.sqrt(var + norm.eps))
            norm.bias.copy_(mean + b)
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)


def load_teachers(specs: list[str], crops: np.ndarray) -> tuple[list[nn.Module], list[dict]]:
    """Teacher networks (eval mode, frozen) and their card records.

    A record holds the spec and the file's sha256; a teacher file that was never committed (a
    wide net exported with ``--out``) also carries its card's ``retrain`` commands, so the
    student's card says how to rebuild everything it learnt from.
    """
    nets, records = [], []
    for spec in specs:
        blob = read_teacher(spec)
        net = net_from_onnx(blob, crops)
        net.eval().requires_grad_(False)
        nets.append(net.to(memory_format=torch.channels_last))
        record = {"spec": spec, "sha256": hashlib.sha256(blob).hexdigest(), **net.architecture}
        card = Path(spec).parent / "card.json"
        if Path(spec).is_file() and card.is_file():
            record["retrain"] = json.loads(card.read_text()).get("retrain")
        records.append(record)
    return nets, records


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temp: float) -> torch.Tensor:
    """Hinton's KL term, scaled by temp**2 so its gradients keep their size across temperatures."""
    log_p = F.log_softmax(student_logits / temp, 1)
    return F.kl_div(log_p, teacher_probs, reduction="batchmean") * temp * temp


@torch.no_grad()
def teacher_targets(teachers: list[nn.Module], x: torch.Tensor, temp: float, bf16: bool) -> torch.Tensor:
    """The ensemble's averaged softened probabilities on exactly the images the student sees."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        probs = [F.softmax(t(x).float() / temp, 1) for t in teachers]
    return torch.stack(probs).mean(0)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Batched on-the-fly augmentation of [N, 1, S, S] crops in [0, 1]."""
    n = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    angle = torch.deg2rad(u(-12, 12))
    scale = u(0.88, 1.12)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-0.1, 0.1), u(-0.1, 0.1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gamma = torch.exp(u(-0.4, 0.4)).view(n, 1, 1, 1)
    x = x.clamp(1e-4, 1.0) ** gamma
    x = x + torch.randn(x.shape, generator=gen) * u(0, 0.03).view(n, 1, 1, 1)
    # random erasing: one grey rectangle on half the images (occlusion by hands, glasses...)
    s = x.shape[-1]
    for i in torch.nonzero(torch.rand(n, generator=gen) < 0.5).flatten().tolist():
        h = int(torch.randint(s // 8, s // 3, (1,), generator=gen))
        w = int(torch.randint(s // 8, s // 3, (1,), generator=gen))
        y0 = int(torch.randint(0, s - h, (1,), generator=gen))
        x0 = int(torch.randint(0, s - w, (1,), generator=gen))
        x[i, :, y0:y0 + h, x0:x0 + w] = float(torch.rand(1, generator=gen))
    return x.clamp(0.0, 1.0)


@torch.no_grad()
def predict_probs(model: nn.Module, x: np.ndarray, flip: bool = False, batch: int = 512) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i:i + batch]).float().div_(255.0).unsqueeze(1)
        p = F.softmax(model(xb), 1)
        if flip:
            p = (p + F.softmax(model(torch.flip(xb, dims=[3])), 1)) / 2
        out.append(p.numpy())
    return np.concatenate(out)


def earlier_cycles(onnx_path: Path) -> list[dict]:
    """The training cycles recorded in the card beside an exported model (one plain run for old cards).

    In an ensemble's folder (``training/face_expression_ensemble.py``) they are the member's cycles.
    """
    card_path = Path(onnx_path).parent / "card.json"
    if not card_path.is_file():
        return []
    card = json.loads(card_path.read_text())
    card = card.get("member_cards", {}).get(Path(onnx_path).name, card)
    if card.get("cycles"):
        return card["cycles"]
    # cards before cycles were recorded: "epochs" was the best epoch, the schedule's length is in "retrain"
    scheduled = re.search(r"--epochs (\d+)", card.get("retrain", ""))
    return [{"epochs": int(scheduled.group(1)) if scheduled else card.get("epochs"), "lr": DEFAULT_LR,
             "init": None, "best_epoch": card.get("epochs")}]


def this_cycle(args: argparse.Namespace, best_epoch: int, teachers: list[dict] | None = None) -> dict:
    """This run's entry in the card's ``cycles`` (``teachers``: load_teachers' records)."""
    cycle = {"epochs": args.epochs, "lr": args.lr, "init": args.init or None, "best_epoch": best_epoch,
             "precision": args.precision}
    if not args.init and (args.stem, tuple(args.widths)) != (DEFAULT_STEM, DEFAULT_WIDTHS):
        cycle.update(stem=args.stem, widths=list(args.widths))  # a later cycle inherits its start's shape
    if args.teacher:
        cycle.update(teachers=teachers or [{"spec": t} for t in args.teacher],
                     kd_weight=args.kd_weight, kd_temp=args.kd_temp)
    if args.mixup:
        cycle["mixup"] = args.mixup
    if args.seed:
        cycle["seed"] = args.seed  # an independent ensemble member differs from the others only by it
    return cycle


def bf16_is_native() -> bool:
    """Whether this CPU runs bfloat16 in hardware (AVX512-BF16 or AMX).

    Without either, oneDNN emulates bf16 and autocast is a trap rather than a speed-up: on a
    2-core AMD EPYC host one epoch of 3,000 images took 270 s in bf16 against 23 s in fp32.
    """
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def train(args: argparse.Namespace) -> bool:
    """Train (or with ``--resume`` continue) one cycle; False when ``--stop-after`` ended it early."""
    torch.set_num_threads(args.threads)
    if args.precision == "bf16" and not bf16_is_native():
        log.warning("this CPU has no AVX512-BF16/AMX: bf16 autocast is emulated, about 12x slower "
                    "than fp32 here; pass --precision fp32 (the recipe is the same)")
    torch.manual_seed(args.seed)
    data = load_cache()
    is_train = data["split"] == "train"
    x_all, y_all = data["crops"][is_train], data["labels"][is_train]
    tr, va = split_train_val(y_all)  # one split whatever --seed: releases are compared and averaged on it
    if args.limit:  # smoke runs only
        tr = tr[np.random.default_rng(args.seed).permutation(len(tr))[: args.limit]]
    x_tr, y_tr, x_va, y_va = x_all[tr], y_all[tr], x_all[va], y_all[va]
    log.info("train %d, validation %d (held out from FER2013 train)", len(tr), len(va))

    out = args.work / "smoke" if args.limit else args.work  # a smoke run never replaces a real run's checkpoints
    resumed = load_resumable(out / "last.pt", args) if args.resume else None
    model = ExpressionNet(widths=tuple(args.widths), stem=args.stem)
    earlier: list[dict] = []  # the training cycles the starting point went through
    if resumed is not None:  # the interrupted run's own weights; its start is in its cycles
        model = checkpoint_net(resumed)
        earlier = resumed["cycles"][:-1]
        log.info("resuming %s after epoch %d of %d", out / "last.pt", resumed["epoch"], args.epochs)
    elif args.init.endswith(".onnx"):  # continue from an exported model (a fresh checkout has no .pt)
        model = net_from_onnx(Path(args.init), x_tr[:4096])
        earlier = earlier_cycles(Path(args.init))
        log.info("initialised from %s, validation accuracy %.4f", args.init,
                 float((predict_probs(model, x_va).argmax(1) == y_va).mean()))
    elif args.init:  # continue from an earlier run with a fresh (shorter) schedule
        ckpt = torch.load(args.init, map_location="cpu")
        model = checkpoint_net(ckpt)
        earlier = ckpt.get("cycles", [{"epochs": ckpt["epoch"]}])
        log.info("initialised from %s", args.init)
    model = model.to(memory_format=torch.channels_last)
    teachers, teacher_records = load_teachers(args.teacher, x_tr[:4096])
    if teachers:
        p_te = np.mean([predict_probs(t, x_va, flip=True) for t in teachers], 0)
        log.info("teacher ensemble of %d, validation accuracy %.4f (with flip)", len(teachers),
                 float((p_te.argmax(1) == y_va).mean()))
    log.info("parameters: %d", sum(p.numel() for p in model.parameters()))
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, momentum=0.9, nesterov=True,
    )
    steps_per_epoch = len(tr) // args.batch
    total = steps_per_epoch * args.epochs
    warm = int(steps_per_epoch * args.warmup)

    def lr_at(step: int) -> float:
        if step < warm:
            return args.lr * (step + 1) / warm
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    gen = torch.Generator().manual_seed(args.seed)
    x_tr_t = torch.from_numpy(x_tr)
    y_tr_t = torch.from_numpy(y_tr)
    out.mkdir(parents=True, exist_ok=True)
    mix_rng = np.random.default_rng(args.seed)  # mixup's blend weights
    best, best_epoch, step, history, first = -1.0, 0, 0, [], 0
    if resumed is not None:
        opt.load_state_dict(resumed["optimizer"])
        gen.set_state(resumed["rng"]["augment"])
        mix_rng.bit_generator.state = resumed["rng"]["mixup"]
        torch.set_rng_state(resumed["rng"]["torch"])  # dropout
        history, first = resumed["history"], resumed["epoch"]
        step = first * steps_per_epoch
        best_epoch = 1 + int(np.argmax([h["val_acc"] for h in history]))  # the first best, as ``acc > best``
        best = history[best_epoch - 1]["val_acc"]
    last = min(args.epochs, first + args.stop_after) if args.stop_after else args.epochs
    for epoch in range(first, last):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(tr), generator=gen)
        run_loss = run_correct = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * args.batch:(b + 1) * args.batch]
            xb = augment(x_tr_t[idx].float().div_(255.0).unsqueeze(1), gen)
            xb = xb.contiguous(memory_format=torch.channels_last)
            yb = y_tr_t[idx]
            lam, partner = 1.0, None
            if args.mixup > 0:  # blend each image with another of the batch
                lam = float(mix_rng.beta(args.mixup, args.mixup))
                partner = torch.randperm(len(idx), generator=gen)
                xb = lam * xb + (1 - lam) * xb[partner]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            bf16 = args.precision == "bf16"
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(xb).float()
            loss = lam * F.cross_entropy(logits, yb, label_smoothing=args.smoothing)
            if partner is not None:
                loss = loss + (1 - lam) * F.cross_entropy(logits, yb[partner], label_smoothing=args.smoothing)
            if teachers:
                soft = teacher_targets(teachers, xb, args.kd_temp, bf16)
                loss = (1 - args.kd_weight) * loss + args.kd_weight * distillation_loss(logits, soft, args.kd_temp)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            run_loss += float(loss.detach()) * len(idx)
            run_correct += float((logits.argmax(1) == yb).sum())
        p_va = predict_probs(model, x_va)
        acc = float((p_va.argmax(1) == y_va).mean())
        seen = steps_per_epoch * args.batch
        history.append({"epoch": epoch + 1, "loss": run_loss / seen, "train_acc": run_correct / seen,
                        "val_acc": acc, "seconds": time.time() - t0})
        log.info("epoch %d/%d loss %.3f train %.3f val %.4f (%.0f s)", epoch + 1, args.epochs,
                 run_loss / seen, run_correct / seen, acc, time.time() - t0)
        if acc > best:
            best, best_epoch = acc, epoch + 1
        state = {"model": model.state_dict(), "architecture": model.architecture, "epoch": epoch + 1,
                 "val_acc": acc, "history": history,
                 "cycles": [*earlier, this_cycle(args, best_epoch, teacher_records)],
                 # what --resume needs to continue exactly where this epoch ended
                 "recipe": recipe(args), "optimizer": opt.state_dict(),
                 "rng": {"augment": gen.get_state(), "mixup": mix_rng.bit_generator.state,
                         "torch": torch.get_rng_state()}}
        if best_epoch == epoch + 1:
            save_atomically(state, out / "best.pt")
        save_atomically(state, out / "last.pt")  # after best.pt: a resumed run always finds the best so far
        (out / "history.json").write_text(json.dumps(history, indent=1))
    return last == args.epochs


def save_atomically(state: dict, path: Path) -> None:
    """Write a checkpoint so that a run killed mid-write leaves the previous one intact."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def recipe(args: argparse.Namespace) -> dict:
    """The settings a resumed run must share with the interrupted one (the schedule depends on them)."""
    keys = ("epochs", "batch", "lr", "wd", "smoothing", "seed", "init", "teacher", "kd_weight",
            "kd_temp", "mixup", "warmup", "limit", "widths", "stem")
    return {k: list(v) if isinstance(v, tuple | list) else v for k, v in vars(args).items() if k in keys}


def load_resumable(path: Path, args: argparse.Namespace) -> dict:
    """The checkpoint of an interrupted run, refused if this command's recipe differs from its own."""
    if not path.is_file():
        raise SystemExit(f"--resume: no checkpoint at {path}")
    ckpt = torch.load(path, map_location="cpu")
    saved = ckpt.get("recipe")
    if saved is None:
        raise SystemExit(f"--resume: {path} was written before runs could be resumed; start a new run")
    changed = {k: (saved.get(k), v) for k, v in recipe(args).items() if saved.get(k) != v}
    if changed:
        raise SystemExit(f"--resume: the command differs from the interrupted run in {changed} (saved, now)")
    return ckpt


def checkpoint_net(ckpt: dict) -> ExpressionNet:
    """The network a checkpoint was saved from (checkpoints before widths were recorded: the default)."""
    arch = ckpt.get("architecture") or {"stem": DEFAULT_STEM, "widths": list(DEFAULT_WIDTHS)}
    model = ExpressionNet(widths=tuple(arch["widths"]), stem=arch["stem"])
    model.load_state_dict(ckpt["model"])
    return model


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def retrain_command(cycles: list[dict], out: Path = MODEL_DIR, work: Path = WORK) -> str:
    """Shell commands that rebuild the model: the crop cache, any uncommitted teacher, then each cycle.

    ``out`` and ``work`` are where the model is exported and checkpointed (the shipped folder and
    ``work_data/face_expression`` unless a teacher was built elsewhere).
    """
    steps = ["python training/face_expression_data.py"]
    where = "" if (Path(out).resolve(), Path(work).resolve()) == (MODEL_DIR.resolve(), WORK.resolve()) \
        else f" --out {_rel(out)} --work {_rel(work)}"
    for c in cycles:
        for t in c.get("teachers", []):
            steps += [s for s in (t.get("retrain") or "").split(" && ") if s and s not in steps]
    for i, c in enumerate(cycles):
        cmd = f"flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_expression.py --epochs {c['epochs']}"
        if c.get("widths"):
            cmd += f" --widths {','.join(map(str, c['widths']))} --stem {c['stem']}"
        if c.get("lr") not in (None, DEFAULT_LR):
            cmd += f" --lr {c['lr']}"
        precision = c.get("precision", "fp32")  # cycles before bf16 training ran in fp32
        if precision != DEFAULT_PRECISION:
            cmd += f" --precision {precision}"
        for t in c.get("teachers", []):
            cmd += f" --teacher {t['spec']}"
        if c.get("teachers"):
            cmd += f" --kd-weight {c['kd_weight']} --kd-temp {c['kd_temp']}"
        if c.get("mixup"):
            cmd += f" --mixup {c['mixup']}"
        if c.get("seed"):
            cmd += f" --seed {c['seed']}"
        if i > 0:
            cmd += f" --init {_rel(out)}/{ONNX_NAME}"
        steps.append(cmd + where)
    return " && ".join(steps)


def export(args: argparse.Namespace) -> None:
    """Export a checkpoint to ONNX, decide on flip averaging on validation, test once, write the card."""
    import onnx

    torch.set_num_threads(args.threads)
    ckpt = torch.load(args.work / args.checkpoint, map_location="cpu")
    model = checkpoint_net(ckpt).eval()
    cycles = ckpt.get("cycles") or [this_cycle(args, int(ckpt["epoch"]))]
    data = load_cache()
    is_train = data["split"] == "train"
    y_all = data["labels"][is_train]
    _, va = split_train_val(y_all)
    x_va, y_va = data["crops"][is_train][va], y_all[va]
    val_plain = float((predict_probs(model, x_va).argmax(1) == y_va).mean())
    val_flip = float((predict_probs(model, x_va, flip=True).argmax(1) == y_va).mean())
    use_flip = val_flip > val_plain
    log.info("validation accuracy %.4f plain, %.4f with flip averaging -> flip=%s", val_plain, val_flip, use_flip)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / ONNX_NAME
    dummy = torch.rand(2, 1, CROP_SIZE, CROP_SIZE)
    torch.onnx.export(model, (dummy,), str(path), input_names=["crops"], output_names=["logits"],
                      dynamic_axes={"crops": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
    proto = onnx.load(str(path))
    proto.ir_version = min(proto.ir_version, 8)  # onnxruntime 1.31 refuses IR 14 files
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))

    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = model(dummy).detach().numpy()
    got = sess.run(None, {"crops": dummy.numpy()})[0]
    log.info("onnx vs torch max abs diff %.2e", float(np.abs(ref - got).max()))

    is_test = data["split"] == "test"
    p_te = predict_probs(model, data["crops"][is_test], flip=use_flip)
    y_te = data["labels"][is_test]
    test_acc = float((p_te.argmax(1) == y_te).mean())
    from sklearn.metrics import f1_score

    test_f1 = float(f1_score(y_te, p_te.argmax(1), average="macro"))
    log.info("FER2013 test (7,178): accuracy %.4f, macro-F1 %.4f", test_acc, test_f1)

    card = {
        "name": "face-expression" if out.resolve() == MODEL_DIR.resolve() else out.name,
        "task": "face-expression",
        "files": {ONNX_NAME: hashlib.sha256(path.read_bytes()).hexdigest()},
        "labels": list(LABELS),
        "label_mapping": "fer2013",
        "data": "FER2013 train (28,709 grey 48x48 faces; 10 % held out for validation), re-cropped with "
                "affectlens.modalities.face.crop.crop_face from MediaPipe face detection",
        "licence": "FER2013: research use, no licence stated; the weights inherit these terms",
        "metrics": {"fer2013_test_accuracy": round(test_acc, 4), "fer2013_test_macro_f1": round(test_f1, 4),
                    "fer2013_val_accuracy": round(max(val_plain, val_flip), 4)},
        "retrain": retrain_command(cycles, out, args.work),
        "input": {"name": "crops", "shape": ["n", 1, CROP_SIZE, CROP_SIZE], "range": [0.0, 1.0],
                  "produced_by": "affectlens.modalities.face.crop.crop_face"},
        "output": "logits over labels (softmax them)",
        "crop_size": CROP_SIZE,
        "crop": {"box_to_crop": BOX_TO_CROP, "box_centre_drop": BOX_CENTRE_DROP, "max_roll_deg": MAX_ROLL_DEG,
                 "grey": True, "roll_from_eyes": True},
        "tta_flip": use_flip,
        "epochs": sum(int(c.get("best_epoch") or c["epochs"]) for c in cycles),
        "cycles": cycles,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "architecture": model.architecture,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s", out / "card.json")


def _widths(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in text.split(","))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=32)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=DEFAULT_LR)
    parser.add_argument("--wd", type=float, default=5e-4)
    parser.add_argument("--smoothing", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("bf16", "fp32"), default=DEFAULT_PRECISION,
                        help="bf16 autocast is 2.3x faster where the CPU has AMX/AVX512-BF16 and about 12x "
                             "slower where it has neither (a warning says so); same recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default="",
                        help="checkpoint (.pt) or exported model (.onnx) to start from (a second, shorter cycle)")
    parser.add_argument("--teacher", action="append", default=[],
                        help="teacher ONNX (a file, or REV:PATH from git); repeat for an ensemble")
    parser.add_argument("--kd-weight", type=float, default=0.7, help="share of the distillation term")
    parser.add_argument("--kd-temp", type=float, default=2.0, help="distillation temperature")
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup Beta(a, a); 0 turns it off")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up epochs")
    parser.add_argument("--limit", type=int, default=0, help="train on this many images (smoke runs)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run checkpointed in --work/last.pt (same command, same schedule)")
    parser.add_argument("--stop-after", type=int, default=0,
                        help="train this many more epochs of the schedule, then stop (resume later)")
    parser.add_argument("--export-only", action="store_true", help="export a checkpoint, do not train")
    parser.add_argument("--checkpoint", default="best.pt", help="checkpoint file in --work")
    parser.add_argument("--widths", type=_widths, default=DEFAULT_WIDTHS,
                        help="channels per stage, e.g. 64,128,256,512 for a teacher (a first cycle only)")
    parser.add_argument("--stem", type=int, default=DEFAULT_STEM, help="channels of the full-resolution stem")
    parser.add_argument("--work", type=Path, default=WORK, help="checkpoint folder")
    parser.add_argument("--out", type=Path, default=MODEL_DIR,
                        help="export folder (default: the shipped model; a teacher goes elsewhere)")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.export_only and not train(args):
        log.info("stopped before the schedule's end: continue with the same command and --resume")
        return
    if args.limit:
        log.info("smoke run (--limit): not exported, the shipped model is unchanged")
        return
    export(args)


if __name__ == "__main__":
    main()
