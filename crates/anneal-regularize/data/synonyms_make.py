#!/usr/bin/env python3
"""Builds synonyms.tsv.gz (beside this file) from WordNet 3.0 as Debian ships it
(`apt-get install wordnet-base`: /usr/share/wordnet/data.{noun,verb,adj,adv}).

One line per single-word lemma that has a synonym: the lemma, a tab, and its synonyms
separated by spaces -- every other single-word lemma sharing one of its synsets (any part
of speech, as the EDA paper's `wordnet.synsets(word)` does), in the order the synsets list
them, without repeats. Lemmas are lower-cased; adjective markers such as "(a)" are
removed; multi-word lemmas (with "_") and lemmas with characters other than letters,
apostrophes and hyphens are left out. The gzip header carries no time stamp, so
rerunning the script rebuilds the same bytes.

Run: python3 synonyms_make.py [--wordnet /usr/share/wordnet]
"""
import argparse
import gzip
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
WORD = re.compile(r"^[a-z][a-z'-]*$")


def synsets(path):
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):  # the licence header
                continue
            fields = line.split(" ")
            count = int(fields[3], 16)
            words = []
            for i in range(count):
                w = re.sub(r"\([a-z]+\)$", "", fields[4 + 2 * i]).lower()
                if WORD.match(w) and w not in words:
                    words.append(w)
            yield words


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--out", default=os.path.join(HERE, "synonyms.tsv.gz"))
    a = ap.parse_args()
    table = {}
    for pos in ("noun", "verb", "adj", "adv"):
        for words in synsets(os.path.join(a.wordnet, f"data.{pos}")):
            for w in words:
                syns = table.setdefault(w, [])
                syns.extend(s for s in words if s != w and s not in syns)
    lines = [f"{w}\t{' '.join(s)}\n" for w, s in sorted(table.items()) if s]
    with open(a.out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write("".join(lines).encode())
    print(f"{len(lines)} words with synonyms -> {a.out}")


if __name__ == "__main__":
    main()
