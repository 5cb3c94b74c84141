"""Text data: tokenizer, vocabulary, encoding, the aclImdb layout, label<TAB>text files, and
malformed inputs (one-line DataErrors naming the file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tempcheck.data.text import (
    PAD,
    UNK,
    build_vocab,
    encode,
    load_vocab,
    save_vocab,
    tokenize,
)
from tempcheck.data.text_sources import load_imdb_source, load_textfile_source
from tempcheck.errors import ConfigError, DataError
from tempcheck.registry import load_dataset

POS_WORDS = ["great", "wonderful", "superb", "moving", "brilliant"]
NEG_WORDS = ["awful", "boring", "dull", "terrible", "waste"]


def _review(i: int, words: list[str]) -> str:
    return (f"Review {i}: this film was {words[i % 5]}!<br /><br />Really "
            f"{words[(i + 2) % 5]}, I'd say. Don't miss the {words[(i + 1) % 5]} ending.")


def make_imdb(root: Path, n_train: int = 12, n_test: int = 6) -> Path:
    """A generated aclImdb folder: n reviews per class and split (+ an ignored unsup folder)."""
    acl = root / "aclImdb"
    for split, n in (("train", n_train), ("test", n_test)):
        for label, words in (("pos", POS_WORDS), ("neg", NEG_WORDS)):
            folder = acl / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(
                    _review(i, words), encoding="utf-8")
    (acl / "train" / "unsup").mkdir()
    (acl / "train" / "unsup" / "0_0.txt").write_text("ignored", encoding="utf-8")
    return acl


def test_tokenizer_lowercases_strips_breaks_and_keeps_punctuation():
    text = "Great film!<br />I DON'T regret it... 10/10"
    assert tokenize(text) == ["great", "film", "!", "i", "don't", "regret", "it", ".", ".", ".",
                              "10", "/", "10"]
    assert tokenize(text, keep_punctuation=False) == ["great", "film", "i", "don't", "regret",
                                                      "it", "10", "10"]
    assert tokenize("Café  naïve") == ["café", "naïve"]


def test_vocab_is_frequency_ranked_with_deterministic_ties_and_caps():
    docs = [["b", "a", "c", "a"], ["c", "d", "b", "e"], ["a"]]
    assert build_vocab(docs, vocab_size=100) == [PAD, UNK, "a", "b", "c", "d", "e"]
    assert build_vocab(reversed(docs), vocab_size=100) == build_vocab(docs, vocab_size=100)
    assert build_vocab(docs, vocab_size=4) == [PAD, UNK, "a", "b"]
    assert build_vocab(docs, vocab_size=100, min_count=2) == [PAD, UNK, "a", "b", "c"]


def test_encode_truncates_pads_and_maps_unknowns():
    vocab = [PAD, UNK, "a", "b"]
    x = encode([["a", "b", "z"], ["b", "a", "b", "a", "b"]], vocab, 4)
    assert x.dtype == torch.int64
    assert x.tolist() == [[2, 3, 1, 0], [3, 2, 3, 2]]
    assert encode([["b", "a", "b", "a", "a"]], vocab, 2, truncate="tail").tolist() == [[2, 2]]


def test_vocab_roundtrip(tmp_path):
    vocab = [PAD, UNK, "don't", "!", "naïve"]
    save_vocab(tmp_path / "vocab.txt", vocab)
    assert load_vocab(tmp_path / "vocab.txt") == vocab
    (tmp_path / "bad.txt").write_text("hello\n", encoding="utf-8")
    with pytest.raises(DataError, match="bad.txt"):
        load_vocab(tmp_path / "bad.txt")


@pytest.mark.parametrize("point_at", ["parent", "aclImdb"])
def test_imdb_layout_loads(tmp_path, point_at):
    acl = make_imdb(tmp_path)
    data = load_imdb_source(data_dir=acl if point_at == "aclImdb" else tmp_path, split_seed=3,
                            max_len=16, vocab_size=30, val_fraction=0.25)
    assert data.kind == "text" and data.num_classes == 2 and data.class_names == ["neg", "pos"]
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 12)
    assert data.train.x.shape == (18, 16) and data.train.x.dtype == torch.int64
    assert data.test.y.tolist() == [0] * 6 + [1] * 6  # neg files first, each in sorted order
    assert data.val.y.sum().item() == 3  # stratified
    vocab = data.extra["vocab"]
    assert vocab[:2] == [PAD, UNK] and len(vocab) <= 30
    assert "<br" not in " ".join(vocab) and "ignored" not in vocab
    assert data.extra["model_kwargs"] == {"vocab_size": len(vocab), "max_len": 16, "pad_id": 0}
    assert (data.in_channels, data.image_size, data.mean, data.std) == (0, 0, (), ())
    again = load_imdb_source(data_dir=tmp_path, split_seed=3, max_len=16, vocab_size=30,
                             val_fraction=0.25)
    assert torch.equal(again.train.x, data.train.x) and again.extra["vocab"] == vocab


def test_vocabulary_comes_from_the_training_split_only(tmp_path):
    acl = make_imdb(tmp_path)
    (acl / "test" / "pos" / "99_9.txt").write_text("zyzzyva only in test", encoding="utf-8")
    data = load_imdb_source(data_dir=tmp_path, max_len=8)
    assert "zyzzyva" not in data.extra["vocab"]
    assert 1 in data.test.x[-1].tolist()  # it is encoded as <unk>


def test_imdb_limits_are_class_balanced(tmp_path):
    make_imdb(tmp_path)
    data = load_imdb_source(data_dir=tmp_path, train_limit=10, test_limit=4, val_fraction=0.2)
    assert len(data.train) + len(data.val) == 10 and len(data.test) == 4
    assert data.test.y.sum().item() == 2


def test_imdb_malformed_inputs_name_the_file(tmp_path):
    with pytest.raises(DataError, match="holds no IMDB data"):
        load_imdb_source(data_dir=tmp_path)
    acl = make_imdb(tmp_path)
    bad = acl / "train" / "neg" / "5_1.txt"
    bad.write_bytes(b"caf\xe9 latin-1")
    with pytest.raises(DataError, match="5_1.txt.*not UTF-8"):
        load_imdb_source(data_dir=tmp_path)
    bad.write_text("   \n", encoding="utf-8")
    with pytest.raises(DataError, match="empty review .*5_1.txt"):
        load_imdb_source(data_dir=tmp_path)
    bad.unlink()
    for f in (acl / "test" / "pos").iterdir():
        f.unlink()
    (acl / "test" / "pos").rmdir()
    with pytest.raises(DataError, match="test/pos"):
        load_imdb_source(data_dir=tmp_path)
    with pytest.raises(DataError, match="data_dir"):
        load_imdb_source(data_dir=None)
    with pytest.raises(ConfigError, match="max_length"):
        load_imdb_source(data_dir=tmp_path, max_length=5)


def _tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    return path


def _rows(n: int) -> list[tuple[str, str]]:
    labels = ["sports", "politics", "science"]
    return [(labels[i % 3], f"text number {i} about {labels[i % 3]} things") for i in range(n)]


def test_textfile_with_train_and_test_files(tmp_path):
    _tsv(tmp_path / "train.tsv", _rows(30))
    _tsv(tmp_path / "test.tsv", _rows(9))
    data = load_textfile_source(data_dir=tmp_path, max_len=10, val_fraction=0.2)
    assert data.class_names == ["politics", "science", "sports"]
    assert data.num_classes == 3 and len(data.test) == 9 and len(data.train) + len(data.val) == 30
    assert data.train.x.shape[1] == 10


def test_textfile_single_file_is_split_with_a_seed(tmp_path):
    path = _tsv(tmp_path / "all.tsv", [(str(i % 2), f"{'yes' if i % 2 else 'no'} {i}")
                                       for i in range(40)])
    a = load_textfile_source(data_dir=path, split_seed=0, max_len=4, test_fraction=0.25)
    b = load_textfile_source(data_dir=path, split_seed=1, max_len=4, test_fraction=0.25)
    assert len(a.test) == 10 and a.class_names == ["0", "1"]
    assert not torch.equal(a.test.x, b.test.x)
    assert torch.equal(a.test.x, load_textfile_source(data_dir=path, split_seed=0, max_len=4,
                                                      test_fraction=0.25).test.x)


def test_textfile_malformed_lines_name_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("pos\tgood\nneg bad without a tab\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.tsv:2: expected 'label<TAB>text'"):
        load_textfile_source(data_dir=tmp_path)
    path.write_text("pos\t  \n", encoding="utf-8")
    with pytest.raises(DataError, match="train.tsv:1"):
        load_textfile_source(data_dir=tmp_path)
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no examples"):
        load_textfile_source(data_dir=tmp_path)
    path.write_bytes(b"pos\t\xff\xfe\n")
    with pytest.raises(DataError, match="train.tsv is not UTF-8"):
        load_textfile_source(data_dir=tmp_path)
    _tsv(path, _rows(6))
    _tsv(tmp_path / "test.tsv", [("cooking", "a new label")])
    with pytest.raises(DataError, match="'cooking' does not occur"):
        load_textfile_source(data_dir=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_textfile_source(data_dir=tmp_path / "nope")


def test_registered_by_name(tmp_path):
    make_imdb(tmp_path)
    data = load_dataset("imdb", data_dir=tmp_path, split_seed=0, download=False, max_len=8)
    assert data.name == "imdb"
