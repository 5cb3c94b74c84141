"""Text classification data: IMDB (aclImdb) and generic ``label<TAB>text`` files, tokenised and
encoded to fixed-length token ids (docs/theory.md §8).

Pipeline, all deterministic:

1. **Read.** IMDB: ``<root>/train|test/pos|neg/*.txt`` (labels neg = 0, pos = 1; ``train/unsup``
   is ignored), files in sorted order; ``data_dir`` may be the ``aclImdb`` folder or its parent.
   Text file: one example per line, ``label<TAB>text`` (first tab splits; blank lines skipped;
   no header). Files must be UTF-8; a missing folder, an empty review, a non-UTF-8 file or a bad
   line is a one-line :class:`DataError` naming the file (and line).
2. **Tokenise** (:func:`tokenize`): HTML line breaks ``<br />`` become spaces, text is
   lower-cased, and split by the regex ``\\w+(?:'\\w+)*|[^\\w\\s]``: words (letters, digits,
   underscore, Unicode-aware, with inner apostrophes kept: "don't") and each other non-space
   character as its own token (punctuation kept: "!" is a strong sentiment cue). With
   ``keep_punctuation=False`` only the words are kept.
3. **Vocabulary** (:func:`build_vocab`) from the *training split only* (validation and test
   never leak into it): ``<pad>`` = 0, ``<unk>`` = 1, then tokens with count ≥ ``min_count`` by
   decreasing count, ties broken alphabetically, up to ``vocab_size`` entries in all.
4. **Encode** (:func:`encode`): unknown tokens → 1, truncate to ``max_len`` (keep the head, or
   the tail with ``truncate="tail"``), right-pad with 0 → ``(N, L)`` int64.

Validation is carved from the training data with ``split_seed`` (stratified per class).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .base import DatasetSplits, Split

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_WORD = re.compile(r"\w+(?:'\w+)*")
IMDB_CLASSES = ("neg", "pos")


@dataclass(frozen=True)
class TextOptions:
    """``data.options`` of the text datasets.

    Attributes:
        vocab_size: vocabulary size including ``<pad>`` and ``<unk>``.
        max_len: sequence length L (truncate / pad to it).
        min_count: minimum training-split count for a token to enter the vocabulary.
        keep_punctuation: keep punctuation tokens (see :func:`tokenize`).
        truncate: ``"head"`` keeps the first ``max_len`` tokens, ``"tail"`` the last.
        val_fraction: share of the training data held out for validation (stratified).
        test_fraction: ``textfile`` without a test file: share of the file used for testing.
        train_limit, test_limit: keep at most this many training / test examples, a seeded
            class-balanced subset (quick runs); ``None`` keeps all. Applied before the
            validation split.
        train_file, test_file: ``textfile`` names inside ``data_dir`` (``test_file`` optional;
            when ``data_dir`` is itself a file it is the training file).
    """

    vocab_size: int = 20_000
    max_len: int = 256
    min_count: int = 1
    keep_punctuation: bool = True
    truncate: str = "head"
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    train_limit: int | None = None
    test_limit: int | None = None
    train_file: str = "train.tsv"
    test_file: str | None = "test.tsv"

    def __post_init__(self) -> None:
        if self.vocab_size < 3:
            raise ConfigError(f"data.options.vocab_size must be >= 3, got {self.vocab_size}")
        if self.max_len < 1 or self.min_count < 1:
            raise ConfigError("data.options.max_len and min_count must be >= 1")
        if self.truncate not in ("head", "tail"):
            raise ConfigError(f"data.options.truncate must be head or tail, got {self.truncate!r}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"data.options.{name} must be in [0, 1), got {value}")


def parse_text_options(options: dict) -> TextOptions:
    """Build :class:`TextOptions` from ``data.options`` (the one option parser,
    :func:`tempcheck.config.parse_options`); an unknown key is a ConfigError."""
    from ..config import parse_options

    return parse_options(TextOptions, dict(options), "data.options")


# -- tokens and vocabulary ----------------------------------------------------------------------

def tokenize(text: str, *, keep_punctuation: bool = True) -> list[str]:
    """Lower-cased word and punctuation tokens of ``text`` (see the module docstring)."""
    text = _BREAK.sub(" ", text).lower()
    return (_TOKEN if keep_punctuation else _WORD).findall(text)


def build_vocab(token_lists: Iterable[Sequence[str]], *, vocab_size: int,
                min_count: int = 1) -> list[str]:
    """``[<pad>, <unk>, most frequent tokens ...]``, at most ``vocab_size`` entries; ties in
    count are broken alphabetically so the vocabulary does not depend on file order."""
    counts = Counter(tok for tokens in token_lists for tok in tokens)
    counts.pop(PAD, None)
    counts.pop(UNK, None)
    ranked = sorted((c for c in counts.items() if c[1] >= min_count), key=lambda c: (-c[1], c[0]))
    return [PAD, UNK] + [tok for tok, _ in ranked[: max(0, vocab_size - 2)]]


def encode(token_lists: Sequence[Sequence[str]], vocab: Sequence[str], max_len: int, *,
           truncate: str = "head") -> torch.Tensor:
    """Token ids ``(N, max_len)`` int64: unknown → ``<unk>`` (1), right-padded with 0."""
    index = {tok: i for i, tok in enumerate(vocab)}
    out = np.zeros((len(token_lists), max_len), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        kept = tokens[:max_len] if truncate == "head" else tokens[-max_len:]
        out[row, : len(kept)] = [index.get(tok, UNK_ID) for tok in kept]
    return torch.from_numpy(out)


def save_vocab(path: str | Path, vocab: Sequence[str]) -> None:
    """Write the vocabulary, one token per line (UTF-8; line i is token id i)."""
    Path(path).write_text("".join(f"{tok}\n" for tok in vocab), encoding="utf-8")


def load_vocab(path: str | Path) -> list[str]:
    """Read a vocabulary written by :func:`save_vocab`; it must start with <pad>, <unk>."""
    path = Path(path)
    try:
        vocab = path.read_text(encoding="utf-8").split("\n")[:-1]
    except FileNotFoundError:
        raise DataError(f"vocabulary file {path} does not exist") from None
    except UnicodeDecodeError:
        raise DataError(f"vocabulary file {path} is not UTF-8 text") from None
    if vocab[:2] != [PAD, UNK]:
        raise DataError(f"vocabulary file {path} must start with {PAD} and {UNK}")
    return vocab


# -- reading files ------------------------------------------------------------------------------

def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def imdb_root(data_dir: str | Path) -> Path:
    """The aclImdb folder: ``data_dir`` itself or ``data_dir/aclImdb``."""
    base = Path(data_dir)
    for root in (base, base / "aclImdb"):
        if (root / "train").is_dir() and (root / "test").is_dir():
            return root
    raise DataError(f"{base} holds no IMDB data: expected aclImdb/train/{{pos,neg}} and "
                    "aclImdb/test/{pos,neg} (data_dir may be aclImdb or its parent)")


def read_imdb_split(root: Path, split: str) -> tuple[list[str], list[int]]:
    """Texts and labels (neg = 0, pos = 1) of ``root/split``, files in sorted name order."""
    texts, labels = [], []
    for label, name in enumerate(IMDB_CLASSES):
        folder = root / split / name
        if not folder.is_dir():
            raise DataError(f"missing IMDB folder {folder}")
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise DataError(f"IMDB folder {folder} holds no .txt reviews")
        for path in files:
            text = _read_utf8(path)
            if not text.strip():
                raise DataError(f"empty review {path}")
            texts.append(text)
            labels.append(label)
    return texts, labels


def read_label_text_file(path: Path) -> tuple[list[str], list[str]]:
    """Texts and string labels of a ``label<TAB>text`` file."""
    if not path.is_file():
        raise DataError(f"text file {path} does not exist")
    texts, labels = [], []
    for number, line in enumerate(_read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        label, tab, text = line.partition("\t")
        if not tab or not label.strip() or not text.strip():
            raise DataError(f"{path}:{number}: expected 'label<TAB>text', got {line[:40]!r}")
        labels.append(label.strip())
        texts.append(text)
    if not texts:
        raise DataError(f"text file {path} holds no examples")
    return texts, labels


def _label_order(labels: Iterable[str]) -> list[str]:
    """Class names sorted numerically when every label is an integer, else alphabetically."""
    unique = set(labels)
    try:
        return sorted(unique, key=int)
    except ValueError:
        return sorted(unique)


# -- splits -------------------------------------------------------------------------------------

def stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices (kept, held out) with ``round(fraction · n_c)`` of each class held out."""
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n = int(round(len(idx) * fraction))
        held.append(idx[:n])
        kept.append(idx[n:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def balanced_subset(y: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of at most ``limit`` examples, as even across classes as possible."""
    if limit is None or limit >= len(y):
        return np.arange(len(y))
    if limit < 1:
        raise ConfigError(f"a text train_limit / test_limit must be >= 1, got {limit}")
    rng = np.random.default_rng(seed)
    pools = [list(rng.permutation(np.flatnonzero(y == c))) for c in np.unique(y)]
    picked: list[int] = []
    while len(picked) < limit:  # round-robin over classes until the limit is reached
        for pool in pools:
            if pool and len(picked) < limit:
                picked.append(pool.pop())
    return np.sort(np.asarray(picked, dtype=np.int64))


def build_text_splits(
    name: str, train_texts: list[str], train_y: np.ndarray, test_texts: list[str],
    test_y: np.ndarray, class_names: list[str], opts: TextOptions, split_seed: int,
) -> DatasetSplits:
    """Limit, split validation off, tokenise, build the vocabulary on train, encode."""
    tr = balanced_subset(train_y, opts.train_limit, split_seed)
    te = balanced_subset(test_y, opts.test_limit, split_seed + 1)
    train_texts, train_y = [train_texts[i] for i in tr], train_y[tr]
    test_texts, test_y = [test_texts[i] for i in te], test_y[te]
    keep, val = stratified_holdout(train_y, opts.val_fraction, split_seed)

    def tokens(texts: list[str]) -> list[list[str]]:
        return [tokenize(t, keep_punctuation=opts.keep_punctuation) for t in texts]

    train_tokens = tokens([train_texts[i] for i in keep])
    vocab = build_vocab(train_tokens, vocab_size=opts.vocab_size, min_count=opts.min_count)

    def split(token_lists: list[list[str]], labels: np.ndarray) -> Split:
        x = encode(token_lists, vocab, opts.max_len, truncate=opts.truncate)
        return Split(x, torch.from_numpy(labels.astype(np.int64)))

    return DatasetSplits(
        name=name,
        train=split(train_tokens, train_y[keep]),
        val=split(tokens([train_texts[i] for i in val]), train_y[val]),
        test=split(tokens(test_texts), test_y),
        num_classes=len(class_names), in_channels=0, image_size=0, mean=(), std=(),
        class_names=list(class_names), kind="text",
        extra={
            "vocab": vocab,
            "model_kwargs": {"vocab_size": len(vocab), "max_len": opts.max_len,
                             "pad_id": PAD_ID},
            "tokenizer": {"lowercase": True, "keep_punctuation": opts.keep_punctuation,
                          "truncate": opts.truncate, "min_count": opts.min_count},
        },
    )


# -- the two sources ----------------------------------------------------------------------------

def load_imdb(*, data_dir: str | Path, split_seed: int = 0, **options: object) -> DatasetSplits:
    """IMDB movie reviews (Maas et al. 2011): 2 classes, 25,000 train / 25,000 test."""
    opts = parse_text_options(dict(options))
    root = imdb_root(data_dir)
    train_texts, train_y = read_imdb_split(root, "train")
    test_texts, test_y = read_imdb_split(root, "test")
    return build_text_splits("imdb", train_texts, np.asarray(train_y), test_texts,
                             np.asarray(test_y), list(IMDB_CLASSES), opts, split_seed)


def load_textfile(*, data_dir: str | Path, split_seed: int = 0,
                  **options: object) -> DatasetSplits:
    """``label<TAB>text`` data: ``data_dir/train_file`` (+ ``test_file`` when present), or
    ``data_dir`` itself as the one file, split into train / test with ``split_seed``."""
    opts = parse_text_options(dict(options))
    base = Path(data_dir)
    if base.is_file():
        train_path, test_path = base, None
    elif base.is_dir():
        train_path = base / opts.train_file
        test_path = base / opts.test_file if opts.test_file else None
        if test_path is not None and not test_path.is_file():
            test_path = None
    else:
        raise DataError(f"text data {base} does not exist")
    train_texts, train_labels = read_label_text_file(train_path)
    classes = _label_order(train_labels)
    if len(classes) < 2:
        raise DataError(f"{train_path} has a single label {classes[0]!r}; need at least two")
    index = {c: i for i, c in enumerate(classes)}
    train_y = np.asarray([index[label] for label in train_labels])
    if test_path is not None:
        test_texts, test_labels = read_label_text_file(test_path)
        unseen = sorted(set(test_labels) - set(classes))
        if unseen:
            raise DataError(f"{test_path}: label {unseen[0]!r} does not occur in {train_path}")
        test_y = np.asarray([index[label] for label in test_labels])
    else:
        if opts.test_fraction <= 0:
            raise ConfigError("textfile without a test file needs data.options.test_fraction > 0")
        keep, held = stratified_holdout(train_y, opts.test_fraction, split_seed + 7)
        test_texts, test_y = [train_texts[i] for i in held], train_y[held]
        train_texts, train_y = [train_texts[i] for i in keep], train_y[keep]
    return build_text_splits(base.stem if base.is_file() else base.name, train_texts, train_y,
                             test_texts, test_y, classes, opts, split_seed)
