"""Fine-tune MiniLM (LoRA) on MELD with a dialogue-context layer over utterance embeddings.

``words_finetune.py`` reads context as extra word pieces: every utterance is re-encoded with
its two previous turns (about three times the tokens), which caps throughput on a 2-core CPU
near 90 utterances/s. Here each utterance is encoded **alone, once**; the dialogue context
comes from one attention step over the neighbours' embeddings
(:mod:`affectlens.modalities.words.dialogue`: ``--previous`` turns before, ``--following``
after, each slot tagged with its offset and whether the speaker is the same). The LoRA updates,
the context layer and the emotion/sentiment heads are trained together, a batch being whole
dialogues. During training each neighbour is hidden with probability ``--context-dropout``, so
the model also copes with a missing or shorter context (a dialogue's edges, a live stream).

Writes ``emotion.onnx`` (LoRA graph, utterance alone) and the ``emotion_*``, ``sentiment_*`` and
``dialogue_*`` arrays of ``heads.npz`` into ``src/affectlens/models/text-emotion-minilm/`` and
updates the card; the GoEmotions head (``words_goemotions.py``) is kept.

    flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_dialogue.py
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

from affectlens.modalities.words.context import DialogueWindow, dialogue_window
from affectlens.modalities.words.corpora import MELD_EMOTIONS, load_meld

sys.path.insert(0, str(Path(__file__).resolve().parent))
from words_bert import MiniLM  # noqa: E402
from words_finetune import Top, fp16_rounded, lower_states, tokenize  # noqa: E402
from words_minilm import MODEL_DIR, WORK, base_safetensors, write_card  # noqa: E402
from words_onnx import export_encoder  # noqa: E402

log = logging.getLogger("words_dialogue")
SPLITS = ("train", "dev", "test")


class DialogueAttention(torch.nn.Module):
    """Torch twin of :func:`affectlens.modalities.words.dialogue.attend` (same arrays, same maths)."""

    def __init__(self, slots: int, dim: int = 128, hidden: int = 384) -> None:
        super().__init__()
        self.q = torch.nn.Linear(hidden, dim)
        self.k = torch.nn.Linear(hidden, dim)
        self.v = torch.nn.Linear(hidden, dim)
        self.rel_k = torch.nn.Parameter(torch.zeros(2 * slots, dim))
        self.rel_v = torch.nn.Parameter(torch.zeros(2 * slots, dim))
        self.null_k = torch.nn.Parameter(torch.zeros(dim))
        self.o = torch.nn.Linear(dim, hidden)
        torch.nn.init.zeros_(self.o.weight)  # starts as the identity: context is learned, not imposed
        self.dim = dim

    def forward(self, u: torch.Tensor, index: torch.Tensor, relation: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        scale = self.dim ** -0.5
        q = self.q(u)
        neighbours = u[index]
        k = self.k(neighbours) + self.rel_k[relation]
        v = self.v(neighbours) + self.rel_v[relation]
        scores = torch.einsum("nd,nsd->ns", q, k) * scale
        scores = scores.masked_fill(~valid, float("-inf"))
        null = (q @ self.null_k) * scale
        weights = torch.softmax(torch.cat([null[:, None], scores], dim=1), dim=1)
        return u + self.o(torch.einsum("ns,nsd->nd", weights[:, 1:], v))

    def arrays(self) -> dict[str, np.ndarray]:
        def f32(t: torch.Tensor) -> np.ndarray:
            return t.detach().numpy().astype(np.float32)

        return {"dialogue_q_W": f32(self.q.weight), "dialogue_q_b": f32(self.q.bias),
                "dialogue_k_W": f32(self.k.weight), "dialogue_k_b": f32(self.k.bias),
                "dialogue_v_W": f32(self.v.weight), "dialogue_v_b": f32(self.v.bias),
                "dialogue_rel_k": f32(self.rel_k), "dialogue_rel_v": f32(self.rel_v),
                "dialogue_null_k": f32(self.null_k), "dialogue_o_W": f32(self.o.weight), "dialogue_o_b": f32(self.o.bias)}


class DialogueModel(torch.nn.Module):
    """LoRA MiniLM on each utterance alone -> mean pooling -> dialogue attention -> heads."""

    def __init__(self, base: MiniLM, *, lora: int, alpha: float, slots: int, dim: int, blocks: int = 6) -> None:
        super().__init__()
        self.top = Top(base, 0, tuned=0, lora=lora, alpha=alpha)
        self.top.blocks = self.top.blocks[:blocks]  # a shallower encoder: fewer FLOPs per utterance
        self.context = DialogueAttention(slots, dim)

    def encode(self, states: list[torch.Tensor], rows: list[int], sub_batch: int = 16) -> torch.Tensor:
        """Pooled embeddings of ``rows`` (in that order), encoded in length-sorted sub-batches."""
        order = sorted(range(len(rows)), key=lambda r: len(states[rows[r]]))
        out = [None] * len(rows)
        for k in range(0, len(order), sub_batch):
            part = order[k:k + sub_batch]
            t = max(len(states[rows[r]]) for r in part)
            x = torch.zeros((len(part), t, 384))
            mask = torch.zeros((len(part), t), dtype=torch.long)
            for r, p in enumerate(part):
                s = states[rows[p]]
                x[r, : len(s)] = s.float()
                mask[r, : len(s)] = 1
            x = self.top.drop(x)  # the embedding dropout the cached states skipped
            bias = MiniLM.attention_bias(mask)
            for block in self.top.blocks:
                x = block(x, bias)
            pooled = MiniLM.pool(x, mask)
            for r, p in enumerate(part):
                out[p] = pooled[r]
        return torch.stack(out)

    def forward(self, states, rows: list[int], window: DialogueWindow, drop_context: float = 0.0):
        """Emotion and sentiment logits for ``rows``, which must hold whole dialogues."""
        u = self.encode(states, rows)
        local = {g: i for i, g in enumerate(rows)}
        index = torch.tensor([[local.get(int(j), 0) for j in window.index[g]] for g in rows], dtype=torch.long)
        relation = torch.from_numpy(window.relation[rows])
        valid = torch.from_numpy(window.valid[rows].copy())
        if drop_context > 0:
            valid &= torch.rand(valid.shape) >= drop_context
        h = self.top.drop(self.context(u, index, relation, valid))
        return self.top.emotion(h), self.top.sentiment(h)


def dialogue_batches(dialogues: list[str], target: int, shuffle: bool) -> list[list[int]]:
    """Rows grouped into batches of whole dialogues, about ``target`` utterances each."""
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(dialogues):
        groups.setdefault(d, []).append(i)
    order = list(groups.values())
    if shuffle:
        random.shuffle(order)
    out, current = [], []
    for g in order:
        current.extend(g)
        if len(current) >= target:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


@torch.no_grad()
def evaluate(model: DialogueModel, states, window: DialogueWindow, dialogues: list[str]) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    emo = np.zeros((len(states), len(MELD_EMOTIONS)), dtype=np.float32)
    sen = np.zeros((len(states), 3), dtype=np.float32)
    for rows in dialogue_batches(dialogues, 256, shuffle=False):
        e, s = model(states, rows, window)
        emo[rows], sen[rows] = e.numpy(), s.numpy()
    return emo, sen


def run_dir(blocks: int, smoke: bool) -> Path:
    """Where a run keeps its best checkpoint and scores (gitignored work_data); a smoke run never
    overwrites a real one."""
    return WORK / ("dialogue_run" + ("" if blocks == 6 else f"_{blocks}blocks") + ("_smoke" if smoke else ""))


def save_run(folder: Path, args: argparse.Namespace, history: list[dict], metrics: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    record = {"args": settings, "history": history} | ({"metrics": metrics} if metrics else {})
    (folder / "result.json").write_text(json.dumps(record, indent=2))


def rounded(model: DialogueModel) -> DialogueModel:
    """A copy whose LoRA tensors hold the float16 values that ship."""
    import copy

    out = copy.deepcopy(model)
    out.top = fp16_rounded(model.top)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lora", type=int, default=16)
    parser.add_argument("--lora-alpha", type=float, default=16.0)
    parser.add_argument("--previous", type=int, default=3)
    parser.add_argument("--following", type=int, default=1)
    parser.add_argument("--dim", type=int, default=128, help="width of the context attention")
    parser.add_argument("--blocks", type=int, default=6, help="encoder blocks kept (MiniLM has 6; fewer run faster)")
    parser.add_argument("--context-dropout", type=float, default=0.15)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch", type=int, default=32, help="utterances per batch (whole dialogues)")
    parser.add_argument("--sentiment-weight", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--limit", type=int, default=0, help="first N utterances per split (smoke test)")
    parser.add_argument("--no-write", action="store_true", help="train and score; keep the run in work_data only")
    parser.add_argument("--from-run", type=Path, help="ship a finished --no-write run (its folder) without training")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    history: list[dict] = []
    if args.from_run:  # the run's own settings, so the card's retrain line reproduces it
        saved = json.loads((args.from_run / "result.json").read_text())
        history = saved["history"]
        for key in ("lora", "lora_alpha", "previous", "following", "dim", "context_dropout", "epochs", "lr", "batch",
                    "sentiment_weight", "seed", "blocks"):
            setattr(args, key, saved["args"].get(key, 6 if key == "blocks" else None))
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    t_start = time.process_time()
    base = MiniLM.from_safetensors(base_safetensors()).eval()
    data = {}
    for split in SPLITS:
        meld = load_meld(split)
        items, emo, sen = tokenize(split, previous=0)
        n = args.limit or len(items)
        window = dialogue_window(n, meld.speakers[:n], meld.dialogues[:n], previous=args.previous, following=args.following)
        data[split] = (lower_states(base, items[:n], 0), emo[:n], sen[:n], window, meld.dialogues[:n])
        log.info("%s: %d utterances", split, n)
    states, emo, sen, window, dialogues = data["train"]
    freq = np.maximum(np.bincount(emo, minlength=len(MELD_EMOTIONS)) / len(emo), 1e-3)
    weights = torch.tensor((1 / np.sqrt(freq)) / (1 / np.sqrt(freq)).mean(), dtype=torch.float32)
    model = DialogueModel(base, lora=args.lora, alpha=args.lora_alpha, slots=len(window.offsets), dim=args.dim,
                          blocks=args.blocks)
    trainable = [p for p in model.parameters() if p.requires_grad]
    log.info("training %d parameters", sum(p.numel() for p in trainable))
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    # Batches of whole dialogues: their number varies a little with the shuffle, hence the margin.
    steps = int(1.02 * args.epochs * len(dialogue_batches(dialogues, args.batch, shuffle=False))) + 8
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1,
                                                anneal_strategy="linear")
    emo_loss = torch.nn.CrossEntropyLoss(weight=weights)
    sen_loss = torch.nn.CrossEntropyLoss()
    best = None
    out_dir = run_dir(args.blocks, smoke=bool(args.limit))
    if args.from_run:
        model.load_state_dict(torch.load(args.from_run / "model.pt"))
        top = max(history, key=lambda r: r["dev_weighted_f1"])
        best = (top["dev_weighted_f1"], top["epoch"], model)
    for epoch in range(1, 0 if args.from_run else args.epochs + 1):
        model.train()
        t0, total = time.time(), 0.0
        for rows in dialogue_batches(dialogues, args.batch, shuffle=True):
            e, s = model(states, rows, window, drop_context=args.context_dropout)
            loss = emo_loss(e, torch.from_numpy(emo[rows])) + args.sentiment_weight * sen_loss(s, torch.from_numpy(sen[rows]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched.last_epoch < steps - 1:
                sched.step()
            total += float(loss.detach()) * len(rows)
        shipped = rounded(model)
        d_states, d_emo, d_sen, d_window, d_dialogues = data["dev"]
        e_dev, s_dev = evaluate(shipped, d_states, d_window, d_dialogues)
        dev_f1 = float(f1_score(d_emo, e_dev.argmax(1), average="weighted"))
        record = {"epoch": epoch, "loss": round(total / len(emo), 4), "dev_weighted_f1": round(dev_f1, 4),
                  "dev_sentiment_weighted_f1": round(float(f1_score(d_sen, s_dev.argmax(1), average="weighted")), 4),
                  "seconds": round(time.time() - t0)}
        history.append(record)
        log.info("epoch %d: %s", epoch, record)
        if best is None or dev_f1 > best[0]:
            best = (dev_f1, epoch, shipped)
            save_run(out_dir, args, history)
            torch.save(shipped.state_dict(), out_dir / "model.pt")  # a crash later keeps the best epoch
    dev_f1, epoch, model = best
    t_states, y_test, sen_test, t_window, t_dialogues = data["test"]
    e_test, s_test = evaluate(model, t_states, t_window, t_dialogues)
    e_past, _ = evaluate(model, t_states, t_window.previous_only(), t_dialogues)
    e_alone, _ = evaluate(model, t_states, t_window.empty(), t_dialogues)
    test_wf1 = round(float(f1_score(y_test, e_test.argmax(1), average="weighted")), 4)
    metrics = {
        "meld_test_weighted_f1": test_wf1,  # words_blend.py replaces it with the blended figure
        "meld_test_macro_f1": round(float(f1_score(y_test, e_test.argmax(1), average="macro")), 4),
        "meld_test_accuracy": round(float((e_test.argmax(1) == y_test).mean()), 4),
        "meld_test_weighted_f1_unblended": test_wf1,
        "meld_test_weighted_f1_past_only_unblended": round(float(f1_score(y_test, e_past.argmax(1), average="weighted")), 4),
        "meld_test_weighted_f1_no_context_unblended": round(float(f1_score(y_test, e_alone.argmax(1), average="weighted")), 4),
        "meld_sentiment_test_weighted_f1": round(float(f1_score(sen_test, s_test.argmax(1), average="weighted")), 4),
        "meld_dev_weighted_f1": round(dev_f1, 4),
    }
    log.info("chosen epoch %d: %s", epoch, metrics)
    save_run(out_dir, args, history, metrics)
    np.save(out_dir / "test_logits.npy", e_test)
    d_states, _, _, d_window, d_dialogues = data["dev"]
    np.save(out_dir / "dev_logits.npy", evaluate(model, d_states, d_window, d_dialogues)[0])
    if args.no_write or args.limit:
        torch.save(model.state_dict(), out_dir / "model.pt")
        return
    args.no_write, args.from_run = False, None
    full = MiniLM.from_safetensors(base_safetensors()).eval()
    for i, block in enumerate(model.top.blocks):
        full.encoder.layer[i] = block.eval()
    full.encoder.layer = full.encoder.layer[: args.blocks]
    info = export_encoder(full, base_safetensors(), MODEL_DIR / "emotion.onnx")
    log.info("exported tuned graph: %s", info)
    heads_path = MODEL_DIR / "heads.npz"
    with np.load(heads_path) as old:
        arrays = {k: old[k] for k in old.files}
    arrays.update(model.context.arrays())
    for head in ("emotion", "sentiment"):
        layer = getattr(model.top, head)
        arrays[f"{head}_W"] = layer.weight.detach().numpy().astype(np.float32)
        arrays[f"{head}_b"] = layer.bias.detach().numpy().astype(np.float32)
    np.savez_compressed(heads_path, **arrays)
    old_card = json.loads((MODEL_DIR / "card.json").read_text())
    tuned = {"inputs": [["emotion.onnx", "alone"]], "normalise": False, "dialogue": True}
    skip = ("threads", "limit", "no_write", "from_run")
    retrain = ("flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_dialogue.py "
               + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in skip)
               + " && flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_blend.py"
               + " && flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_goemotions.py --graph emotion.onnx")
    metrics["goemotions_test_macro_f1"] = old_card["metrics"]["goemotions_test_macro_f1"]
    write_card(
        features={"emotion": "tuned alone + dialogue context layer", "sentiment": "tuned alone + dialogue context layer",
                  "goemotions": old_card["features"]["goemotions"]},
        metrics=metrics,
        heads={"emotion": tuned, "sentiment": tuned, "goemotions": old_card["heads"]["goemotions"]},
        extra={k: old_card[k] for k in ("goemotions_head",) if k in old_card} | {
            "context_previous": args.previous,
            "context": {"kind": "dialogue", "previous": args.previous, "following": args.following},
            "retrain": retrain,
            "finetune": {"encoder_blocks": args.blocks, "lora_rank": args.lora, "lora_alpha": args.lora_alpha, "epoch": epoch, "epochs": args.epochs,
                         "lr": args.lr, "batch": args.batch, "context_dim": args.dim,
                         "context_dropout": args.context_dropout, "class_weights": "sqrt inverse frequency",
                         "sentiment_loss_weight": args.sentiment_weight, "history": history,
                         "cpu_seconds": round(time.process_time() - t_start)}},
    )
    log.info("done in %.0f CPU s", time.process_time() - t_start)


if __name__ == "__main__":
    main()
