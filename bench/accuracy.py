"""Keyword policies accuracy on the development splits in ../shared/eval (never fitted to them).

    .venv/bin/python -m bench.accuracy [--eval DIR] [--examples 0]

Every line of each `*.dev.jsonl` goes through the seven keyword policies (bundled vocabulary, no
admin words). A message counts as flagged for a category when a policy of that category decides
WARN (a sanction) or, in the `+review` rows, WARN or REVIEW (sent to an admin, no sanction).

| file | positives | category (rules) |
|---|---|---|
| sms_spam.dev.jsonl | `ad` | ads: C1, C10 (digits masked as `x`: contact, phone, price cannot fire) |
| cold.dev.jsonl | `offensive` | offensive: C4, C5 (COLD is mostly bias, rarely a direct insult) |
| lccc.dev.jsonl | none (all `benign`) | any rule: the share of everyday chat flagged |

Precision = flagged positives / all flagged; recall = flagged positives / positives; FP rate =
flagged negatives / negatives. `--examples N` prints N flagged benign messages per file so a word
list change can be judged; do not copy dev texts into the word lists.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from policies.base import ChatMessage, Decision, MessageSource, PolicyContext, Verdict
from policies.content.keywords import keyword_policies

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = (ROOT.parent / "shared" / "eval", ROOT.parent.parent / "shared" / "eval")
CTX = PolicyContext(now=datetime(2026, 12, 4, 9, 0, tzinfo=UTC), timezone=UTC)

# file → (positive label, the rules of its category; None = any rule)
CATEGORIES: dict[str, tuple[str | None, frozenset[str] | None, str]] = {
    "sms_spam.dev.jsonl": ("ad", frozenset({"C1", "C10"}), "ads (C1, C10)"),
    "cold.dev.jsonl": ("offensive", frozenset({"C4", "C5"}), "offensive (C4, C5)"),
    "lccc.dev.jsonl": (None, None, "everyday chat (any rule)"),
}


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, positive: bool, flagged: bool) -> None:
        if positive:
            self.tp += flagged
            self.fn += not flagged
        else:
            self.fp += flagged
            self.tn += not flagged

    def row(self, name: str) -> str:
        pos, neg, flagged = self.tp + self.fn, self.fp + self.tn, self.tp + self.fp
        precision = f"{self.tp / flagged:7.1%}" if flagged and pos else "      -"
        recall = f"{self.tp / pos:7.1%}" if pos else "      -"
        fp_rate = f"{self.fp / neg:7.2%}" if neg else "      -"
        return f"{name:<38} {pos:>5} {neg:>5} | {precision} {recall} {fp_rate} | {self.tp:>4} {self.fp:>4}"


def eval_dir(given: str | None) -> Path:
    for path in [Path(given)] if given else CANDIDATES:
        if path.is_dir():
            return path
    raise SystemExit(f"no evaluation data in {given or ' or '.join(map(str, CANDIDATES))}")


def judge(text: str, policies: list) -> list[Decision]:  # type: ignore[type-arg]
    m = ChatMessage("a", "u", CTX.now, "text", text, MessageSource.ARCHIVE, chat_id="wr1")
    return [d for p in policies for d in p.evaluate(m, CTX)]


def run(args: argparse.Namespace) -> int:
    folder = eval_dir(args.eval)
    policies = keyword_policies()
    header = (
        f"{'category':<38} {'pos':>5} {'neg':>5} | {'prec':>7} {'recall':>7} {'FP rate':>7} | "
        f"{'TP':>4} {'FP':>4}"
    )
    print(header)
    print("-" * len(header))
    for name, (label, rules, title) in CATEGORIES.items():
        path = folder / name
        if not path.exists():
            print(f"{title:<38} (missing: {path})")
            continue
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        strict, loose = Tally(), Tally()
        negatives = any_warn = any_flag = 0  # negatives flagged by ANY rule (not only the category's)
        for row in rows:
            decisions = judge(row["text"], policies)
            relevant = [d for d in decisions if rules is None or d.rule_id in rules]
            positive = label is not None and row["label"] == label
            if not positive:
                negatives += 1
                any_warn += any(d.verdict is Verdict.WARN for d in decisions)
                any_flag += bool(decisions)
            warned = any(d.verdict is Verdict.WARN for d in relevant)
            strict.add(positive, warned)
            loose.add(positive, bool(relevant))
            for d in decisions:
                loose.rules[f"{d.rule_id}:{d.verdict.value}:{row['label']}"] += 1
            if relevant and not positive and len(loose.examples) < args.examples:
                first = relevant[0]
                loose.examples.append(f"{first.rule_id} {first.verdict.value} «{first.matched}»")
        print(strict.row(f"{title} warn"))
        print(loose.row(f"{title} warn+review"))
        if rules is not None and negatives:
            print(f"   its negatives flagged by any rule: warn {any_warn / negatives:.2%}, "
                  f"warn+review {any_flag / negatives:.2%}")  # fmt: skip
        if args.verbose:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(loose.rules.items()))
            print(f"   decisions by rule:verdict:label: {counts}")
        for example in loose.examples:
            print(f"   flagged benign: {example}")
    print("\nwarn = a sanction (strike); review = sent to an admin, no sanction. sms_spam ads have every")
    print("digit masked as x, so contact ids, phones and prices cannot count there; real traffic gives")
    print("the rules more to work with. Judging uses held-out data; these dev splits only show the trend.")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench.accuracy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--eval", help="folder of *.dev.jsonl (default: ../shared/eval)")
    p.add_argument("--examples", type=int, default=0, help="flagged benign messages to print per file")
    p.add_argument("--verbose", action="store_true", help="decision counts per rule, verdict and label")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
