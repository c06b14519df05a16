"""Fine-tune MiniLM's top layers on MELD in conversational context, and ship them as a small graph.

Two ways of adapting the encoder, both shipped as a small graph on top of the pip package's
weights: ``--layers N`` trains the top N blocks in full (default 2 of 6; ~3.5 MB each as
float16), and ``--lora R`` additionally gives every block below a rank-R LoRA update (for
``--layers 0 --lora 16``: all six blocks adapted, ~1.3 MB). Two linear heads (7 MELD emotions,
3 sentiments) are trained jointly. Hidden states below the first trained block are computed
once and cached (for LoRA, the embeddings), so an epoch on a 2-core CPU takes minutes, and the
shipped difference from the pip package's weights stays a few MB. Input: the
utterance, then its two previous turns of the same dialogue as the second segment, each
tagged ``same:`` / ``other:`` speaker. Loss: cross-entropy with sqrt-inverse-frequency class
weights (MELD is half neutral). The epoch is chosen by dev weighted F1 with the tuned blocks
already rounded to float16, as they ship.

Writes ``emotion.onnx`` and the emotion/sentiment arrays of ``heads.npz`` into
``src/affectlens/models/text-emotion-minilm/`` (the GoEmotions head from
``words_minilm.py heads`` is kept), and updates the card.

    flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_finetune.py
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score
from tokenizers import Tokenizer

from affectlens.modalities.words.context import build_context
from affectlens.modalities.words.corpora import MELD_EMOTIONS, load_goemotions, load_meld
from affectlens.models.registry import external_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from words_bert import MiniLM  # noqa: E402
from words_minilm import MODEL_DIR, WORK, base_safetensors, tune_thresholds, write_card  # noqa: E402
from words_onnx import export_encoder  # noqa: E402

log = logging.getLogger("words_finetune")
SPLITS = ("train", "dev", "test")


def tokenize(split: str, previous: int) -> tuple[list[tuple[list[int], list[int]]], np.ndarray, np.ndarray]:
    tok = Tokenizer.from_file(str(external_path("all-MiniLM-L6-v2") / "tokenizer.json"))
    tok.enable_truncation(256, strategy="longest_first")
    tok.no_padding()
    s = load_meld(split)
    ctx = build_context(s.texts, s.speakers, s.dialogues, previous=previous)
    enc = tok.encode_batch([(t, c) if c else t for t, c in zip(s.texts, ctx, strict=True)])
    return [(e.ids, e.type_ids) for e in enc], s.emotions, s.sentiments


def tokenize_goemotions(split: str) -> tuple[list[tuple[list[int], list[int]]], np.ndarray, np.ndarray]:
    """GoEmotions comments alone (no context): tokens, the 28-label multi-hot matrix, and the
    comment's Ekman label as a MELD emotion index (-1 when it has several Ekman labels).

    The Ekman version of GoEmotions uses MELD's seven classes exactly (joy = MELD joy), so a
    single-label comment is also a training example for the MELD emotion head."""
    tok = Tokenizer.from_file(str(external_path("all-MiniLM-L6-v2") / "tokenizer.json"))
    tok.enable_truncation(256, strategy="longest_first")
    tok.no_padding()
    texts, y = load_goemotions(split)
    enc = tok.encode_batch(texts)
    import pandas as pd

    from affectlens.core.data import dataset_path

    ekman_names = dataset_path("text", "goemotions", "ekman", "labels.txt").read_text().split()
    ekman = pd.read_csv(dataset_path("text", "goemotions", "ekman", f"{split}.tsv"), sep="\t", header=None,
                        names=["text", "labels", "id"], quoting=3, dtype=str)
    original = pd.read_csv(dataset_path("text", "goemotions", "original", f"{split}.tsv"), sep="\t", header=None,
                           names=["text", "labels", "id"], quoting=3, dtype=str)
    by_id = dict(zip(ekman["id"], ekman["labels"], strict=True))
    target = np.full(len(texts), -1, dtype=np.int64)
    for i, cid in enumerate(original["id"]):
        labels = str(by_id.get(cid, "")).split(",")
        if len(labels) == 1 and labels[0].isdigit():
            target[i] = MELD_EMOTIONS.index(ekman_names[int(labels[0])])
    return [(e.ids, e.type_ids) for e in enc], y, target


def pad(items: list[tuple[list[int], list[int]]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t = max(len(ids) for ids, _ in items)
    ids = torch.zeros((len(items), t), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, (i, ty) in enumerate(items):
        ids[r, :len(i)] = torch.tensor(i)
        types[r, :len(ty)] = torch.tensor(ty)
        mask[r, :len(i)] = 1
    return ids, types, mask


@torch.no_grad()
def lower_states(model: MiniLM, items, stop: int, batch: int = 64) -> list[torch.Tensor]:
    """Hidden states after the first ``stop`` blocks, one fp16 ``[len, 384]`` tensor per item."""
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    out: list[torch.Tensor | None] = [None] * len(items)
    for k in range(0, len(order), batch):
        idx = order[k:k + batch]
        ids, types, mask = pad([items[i] for i in idx])
        x = model.run_layers(model.embed(ids, types), mask, 0, stop)
        for r, i in enumerate(idx):
            out[i] = x[r, : int(mask[r].sum())].to(torch.float16).clone()
    return out


class LoRALinear(torch.nn.Linear):
    """A frozen linear layer plus a trainable low-rank update ``B @ A`` (LoRA, Hu et al. 2021).

    It subclasses ``nn.Linear`` so the frozen ``weight``/``bias`` keep their names, which is how
    the ONNX export recognises them as the pip package's tensors; only ``lora_A``/``lora_B``
    (a few hundred kB for all six blocks) are embedded in the graph.
    """

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float) -> None:
        super().__init__(base.in_features, base.out_features)
        with torch.no_grad():
            self.weight.copy_(base.weight)
            self.bias.copy_(base.bias)
        self.weight.requires_grad_(False)
        self.bias.requires_grad_(False)
        self.lora_A = torch.nn.Parameter(torch.randn(rank, base.in_features) / base.in_features**0.5)
        self.lora_B = torch.nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale


LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense")


def add_lora(block: torch.nn.Module, rank: int, alpha: float) -> None:
    """Freeze ``block`` and give each of its linear layers a LoRA update."""
    for p in block.parameters():
        p.requires_grad_(False)
    for path in LORA_TARGETS:
        *parents, leaf = path.split(".")
        owner = block
        for name in parents:
            owner = getattr(owner, name)
        setattr(owner, leaf, LoRALinear(getattr(owner, leaf), rank, alpha))


class Top(torch.nn.Module):
    """The trained blocks + mean pooling + emotion and sentiment heads.

    Blocks from ``start`` on run here, on cached hidden states; the last ``tuned`` of them are
    trained in full, the ones before (only when LoRA is on) through LoRA updates.
    """

    def __init__(self, base: MiniLM, start: int, tuned: int | None = None, lora: int = 0, alpha: float = 16) -> None:
        super().__init__()
        self.start = start
        self.blocks = copy.deepcopy(base.encoder.layer[start:])
        tuned = len(self.blocks) if tuned is None else tuned
        for block in list(self.blocks)[: len(self.blocks) - tuned]:
            add_lora(block, lora, alpha)
        self.drop = torch.nn.Dropout(0.1)
        self.emotion = torch.nn.Linear(384, len(MELD_EMOTIONS))
        self.sentiment = torch.nn.Linear(384, 3)
        self.goemotions = torch.nn.Linear(384, 28)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.start == 0:
            x = self.drop(x)  # the embedding dropout the cached states skipped
        bias = MiniLM.attention_bias(mask)
        for block in self.blocks:
            x = block(x, bias)
        pooled = self.drop(MiniLM.pool(x, mask))
        return self.emotion(pooled), self.sentiment(pooled), self.goemotions(pooled)


def batches(states, n_batch: int, shuffle: bool):
    """Length-bucketed batches: shuffled within buckets of similar length so padding stays small."""
    order = sorted(range(len(states)), key=lambda i: len(states[i]) + (random.random() * 4 if shuffle else 0))
    chunks = [order[k:k + n_batch] for k in range(0, len(order), n_batch)]
    if shuffle:
        random.shuffle(chunks)
    for idx in chunks:
        t = max(len(states[i]) for i in idx)
        x = torch.zeros((len(idx), t, 384))
        mask = torch.zeros((len(idx), t), dtype=torch.long)
        for r, i in enumerate(idx):
            x[r, : len(states[i])] = states[i].float()
            mask[r, : len(states[i])] = 1
        yield idx, x, mask


@torch.no_grad()
def evaluate(top: Top, states) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits of the emotion, sentiment and GoEmotions heads."""
    top.eval()
    emo = np.zeros((len(states), len(MELD_EMOTIONS)), dtype=np.float32)
    sen = np.zeros((len(states), 3), dtype=np.float32)
    goe = np.zeros((len(states), 28), dtype=np.float32)
    for idx, x, mask in batches(states, 128, shuffle=False):
        e, s, g = top(x, mask)
        emo[idx], sen[idx], goe[idx] = e.numpy(), s.numpy(), g.numpy()
    return emo, sen, goe


def goemotions_f1(logits: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> float:
    return float(f1_score(y, 1 / (1 + np.exp(-logits)) >= thresholds, average="macro", zero_division=0))


def fp16_rounded(top: Top) -> Top:
    """A copy whose tuned blocks hold exactly the float16 values that ship."""
    out = copy.deepcopy(top)
    with torch.no_grad():
        for p in out.blocks.parameters():
            if p.requires_grad and p.numel() >= 1024:  # what words_onnx.export_encoder embeds as fp16
                p.copy_(p.to(torch.float16).to(torch.float32))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, default=2, help="top blocks trained in full")
    parser.add_argument("--lora", type=int, default=0, help="LoRA rank for the blocks below (0: they stay frozen)")
    parser.add_argument("--lora-alpha", type=float, default=16.0)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--previous", type=int, default=2)
    parser.add_argument("--sentiment-weight", type=float, default=0.5)
    parser.add_argument("--goemotions-per-epoch", type=int, default=0,
                        help="GoEmotions train comments drawn per epoch for the multi-task heads (0: MELD only)")
    parser.add_argument("--goemotions-weight", type=float, default=3.0, help="weight of the 28-label BCE loss")
    parser.add_argument("--ekman-weight", type=float, default=0.3,
                        help="weight of single-label GoEmotions comments in the MELD emotion loss (Ekman labels)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N items per split (smoke test)")
    parser.add_argument("--no-write", action="store_true", help="train and score, but leave the model folder alone")
    parser.add_argument("--force", action="store_true", help="write even if the shipped model is better on dev")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    t_start = time.process_time()
    base = MiniLM.from_safetensors(base_safetensors()).eval()
    start = 0 if args.lora else 6 - args.layers
    multitask = args.goemotions_per_epoch > 0
    data, goemo = {}, {}
    for split in SPLITS:
        items, emo, sen = tokenize(split, args.previous)
        if args.limit:
            items, emo, sen = items[: args.limit], emo[: args.limit], sen[: args.limit]
        t0 = time.time()
        data[split] = (lower_states(base, items, start), emo, sen)
        log.info("%s: %d items, lower states in %.0f s", split, len(items), time.time() - t0)
        if multitask:
            items, y28, ekman = tokenize_goemotions(split)
            if args.limit:
                items, y28, ekman = items[: args.limit], y28[: args.limit], ekman[: args.limit]
            goemo[split] = (lower_states(base, items, start), y28.astype(np.float32), ekman)
            log.info("GoEmotions %s: %d comments (%d single Ekman label)", split, len(items), int((ekman >= 0).sum()))
    y_train = data["train"][1]
    freq = np.maximum(np.bincount(y_train, minlength=len(MELD_EMOTIONS)) / len(y_train), 1e-3)
    weights = torch.tensor((1 / np.sqrt(freq)) / (1 / np.sqrt(freq)).mean(), dtype=torch.float32)
    top = Top(base, start, tuned=args.layers, lora=args.lora, alpha=args.lora_alpha)
    trainable = [p for p in top.parameters() if p.requires_grad]
    log.info("training %d parameters", sum(p.numel() for p in trainable))
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    n_goemo = min(args.goemotions_per_epoch, len(goemo["train"][0])) if multitask else 0
    steps = args.epochs * ((len(y_train) + args.batch - 1) // args.batch + (n_goemo + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1,
                                                anneal_strategy="linear")
    emo_loss = torch.nn.CrossEntropyLoss(weight=weights)
    ekman_loss = torch.nn.CrossEntropyLoss(weight=weights, reduction="sum")
    sen_loss = torch.nn.CrossEntropyLoss()
    bce = torch.nn.BCEWithLogitsLoss()
    best = None
    history = []
    for epoch in range(1, args.epochs + 1):
        top.train()
        t0 = time.time()
        total = 0.0
        states, emo, sen = data["train"]
        jobs = [("meld", idx, x, mask) for idx, x, mask in batches(states, args.batch, shuffle=True)]
        if multitask:
            g_states, g_y, g_ekman = goemo["train"]
            drawn = random.sample(range(len(g_states)), n_goemo)
            jobs += [("goemo", [drawn[i] for i in idx], x, mask)
                     for idx, x, mask in batches([g_states[i] for i in drawn], args.batch, shuffle=True)]
            random.shuffle(jobs)
        for kind, idx, x, mask in jobs:
            e, s, g = top(x, mask)
            if kind == "meld":
                loss = emo_loss(e, torch.from_numpy(emo[idx])) + args.sentiment_weight * sen_loss(s, torch.from_numpy(sen[idx]))
            else:
                loss = args.goemotions_weight * bce(g, torch.from_numpy(g_y[idx]))
                target = torch.from_numpy(g_ekman[idx])
                single = target >= 0
                if args.ekman_weight > 0 and bool(single.any()):
                    loss = loss + args.ekman_weight * ekman_loss(e[single], target[single]) / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        rounded = fp16_rounded(top)
        e_dev, s_dev, g_dev = evaluate(rounded, data["dev"][0])
        dev_f1 = f1_score(data["dev"][1], e_dev.argmax(1), average="weighted")
        dev_sf1 = f1_score(data["dev"][2], s_dev.argmax(1), average="weighted")
        record = {"epoch": epoch, "loss": round(total / (len(y_train) + n_goemo), 4), "dev_weighted_f1": round(float(dev_f1), 4),
                  "dev_sentiment_weighted_f1": round(float(dev_sf1), 4)}
        thresholds = None
        if multitask:
            g_logits = evaluate(rounded, goemo["dev"][0])[2]
            thresholds = tune_thresholds(1 / (1 + np.exp(-g_logits)), goemo["dev"][1])
            record["goemotions_dev_macro_f1"] = round(goemotions_f1(g_logits, goemo["dev"][1], thresholds), 4)
        record["seconds"] = round(time.time() - t0)
        history.append(record)
        log.info("epoch %d: %s", epoch, record)
        if best is None or dev_f1 > best[0]:
            best = (dev_f1, epoch, rounded, thresholds)
    dev_f1, epoch, top, thresholds = best
    e_test, s_test, _ = evaluate(top, data["test"][0])
    y_test, sen_test = data["test"][1], data["test"][2]
    metrics = {
        "meld_test_weighted_f1": round(float(f1_score(y_test, e_test.argmax(1), average="weighted")), 4),
        "meld_test_macro_f1": round(float(f1_score(y_test, e_test.argmax(1), average="macro")), 4),
        "meld_test_accuracy": round(float((e_test.argmax(1) == y_test).mean()), 4),
        "meld_sentiment_test_weighted_f1": round(float(f1_score(sen_test, s_test.argmax(1), average="weighted")), 4),
        "meld_dev_weighted_f1": round(float(dev_f1), 4),
    }
    if multitask:
        g_test = evaluate(top, goemo["test"][0])[2]
        metrics["goemotions_test_macro_f1"] = round(goemotions_f1(g_test, goemo["test"][1], thresholds), 4)
    log.info("chosen epoch %d: %s", epoch, metrics)
    (WORK / "finetune_last.json").write_text(json.dumps({"args": vars(args), "metrics": metrics, "history": history}, indent=2))
    if args.no_write:
        return
    card_path = MODEL_DIR / "card.json"
    old_card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    shipped_dev = old_card.get("metrics", {}).get("meld_dev_weighted_f1", 0.0)
    if dev_f1 <= shipped_dev and not args.force:
        log.info("dev weighted F1 %.4f does not beat the shipped model's %.4f; not writing (--force to override)",
                 dev_f1, shipped_dev)
        return
    # Put the tuned blocks back into a full encoder and export it: base tensors become references.
    full = MiniLM.from_safetensors(base_safetensors()).eval()
    for i, block in enumerate(top.blocks):
        full.encoder.layer[start + i] = block.eval()
    info = export_encoder(full, base_safetensors(), MODEL_DIR / "emotion.onnx")
    log.info("exported tuned graph: %s", info)
    np.save(WORK / "finetune_test_logits.npy", e_test)
    np.save(WORK / "finetune_dev_logits.npy", evaluate(top, data["dev"][0])[0])
    heads_path = MODEL_DIR / "heads.npz"
    with np.load(heads_path) as old:
        arrays = {k: old[k] for k in old.files}
    arrays["emotion_W"] = top.emotion.weight.detach().numpy().astype(np.float32)
    arrays["emotion_b"] = top.emotion.bias.detach().numpy().astype(np.float32)
    arrays["sentiment_W"] = top.sentiment.weight.detach().numpy().astype(np.float32)
    arrays["sentiment_b"] = top.sentiment.bias.detach().numpy().astype(np.float32)
    tuned = {"inputs": [["emotion.onnx", "ctx"]], "normalise": False}
    kept = {}
    if multitask:  # one graph serves every head: one encoder pass per utterance
        for k in ("goemotions_hidden_W", "goemotions_hidden_b"):
            arrays.pop(k, None)
        arrays["goemotions_W"] = top.goemotions.weight.detach().numpy().astype(np.float32)
        arrays["goemotions_b"] = top.goemotions.bias.detach().numpy().astype(np.float32)
        arrays["goemotions_thresholds"] = thresholds.astype(np.float32)
        heads = {"emotion": tuned, "sentiment": tuned, "goemotions": tuned}
        features = {"emotion": "tuned ctx", "sentiment": "tuned ctx", "goemotions": "tuned ctx (trained on comments alone)"}
        kept["goemotions_head"] = {"kind": "linear", "trained": "jointly with the LoRA graph",
                                   "thresholds": "per label, tuned on GoEmotions dev"}
    else:
        frozen = json.loads((WORK / "frozen_heads.json").read_text())
        metrics["goemotions_test_macro_f1"] = frozen["goemotions_test_macro_f1"]
        if "goemotions_head" in old_card:  # an MLP head from words_goemotions.py stays in heads.npz
            kept["goemotions_head"] = old_card["goemotions_head"]
            metrics["goemotions_test_macro_f1"] = old_card["metrics"]["goemotions_test_macro_f1"]
        heads = {"emotion": tuned, "sentiment": tuned, "goemotions": {"inputs": [["encoder.onnx", "alone"]], "normalise": True}}
        features = {"emotion": "tuned ctx", "sentiment": "tuned ctx", "goemotions": "frozen alone"}
    np.savez_compressed(heads_path, **arrays)
    skip = ("threads", "limit", "no_write", "force")
    retrain = ("flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_finetune.py "
               + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in skip))
    if not multitask:
        retrain = ("flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_minilm.py frozen heads && "
                   + retrain + " && flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_goemotions.py")
    write_card(
        features=features,
        metrics=metrics,
        heads=heads,
        extra=kept | {"context_previous": args.previous,
               "retrain": retrain + " && flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_blend.py",
               "finetune": {"tuned_blocks": args.layers, "lora_rank": args.lora, "lora_alpha": args.lora_alpha, "epoch": epoch, "epochs": args.epochs, "lr": args.lr,
                            "batch": args.batch, "class_weights": "sqrt inverse frequency",
                            "sentiment_loss_weight": args.sentiment_weight,
                            "goemotions_per_epoch": args.goemotions_per_epoch, "goemotions_loss_weight": args.goemotions_weight,
                            "ekman_loss_weight": args.ekman_weight, "history": history,
                            "cpu_seconds": round(time.process_time() - t_start)}},
    )
    log.info("done in %.0f CPU s", time.process_time() - t_start)


if __name__ == "__main__":
    main()
