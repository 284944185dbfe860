"""Quality of offline campaign reconstruction, against two kinds of truth.

* :func:`jailbreak_communities`: the in-the-wild jailbreak prompts
  (``shared/data/jailbreak_llms``) whose authors grouped them into template
  *communities*; clusters are scored by ARI and NMI on the rows in communities of at
  least ``min_size`` members (every prompt is clustered; only those rows are scored).
* :func:`simulation_match`: simulated traffic (:mod:`evaluation.simulate`); per true
  campaign, the reported campaign with the highest account Jaccard, its prompt
  recall; per reported campaign, its share of bystander accounts (accounts of no true
  campaign); and where the benign look-alikes ended up. The issue's targets read off
  its ``summary``: the worst true campaign's best Jaccard (>= 0.85) and the largest
  bystander share of a reported campaign (<= 5%).
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from promptprint.records import PromptRecord, parse_timestamp
from promptprint.reconstruct.pipeline import Reconstruction

if TYPE_CHECKING:
    from promptprint.reconstruct.corpus import Corpus
    from promptprint.reconstruct.pipeline import LexicalView

JAILBREAK_FILE = "jailbreak_llms/jailbreak_prompts_2023_12_25.jsonl.gz"


@dataclasses.dataclass(frozen=True)
class JailbreakRows:
    records: list[PromptRecord]
    community: np.ndarray  # community id, -1 = none


def load_jailbreak(data_dir: Path, limit: int | None = None) -> JailbreakRows:
    """Every prompt of the 2023-12-25 release as a record (account = source), in file order."""
    records: list[PromptRecord] = []
    community: list[int] = []
    with gzip.open(Path(data_dir) / JAILBREAK_FILE, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            created = row.get("created_at") or "2023-01-01T00:00:00Z"
            records.append(
                PromptRecord(f"jb-{row['row']}", f"src:{row['source']}", f"platform:{row['platform']}", parse_timestamp(created), row["prompt"])
            )
            community.append(-1 if row["community_id"] is None else int(row["community_id"]))
            if limit is not None and len(records) >= limit:
                break
    return JailbreakRows(records, np.asarray(community, dtype=np.int64))


@dataclasses.dataclass(frozen=True)
class ClusterScore:
    ari: float
    nmi: float
    scored_rows: int
    communities: int
    clusters: int


def score_clusters(labels: np.ndarray, community: np.ndarray, min_size: int = 5) -> ClusterScore:
    """ARI/NMI of ``labels`` against ``community`` on rows of communities >= min_size."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    counts = collections.Counter(community[community >= 0].tolist())
    mask = np.array([c >= 0 and counts[c] >= min_size for c in community.tolist()])
    truth, found = community[mask], labels[mask]
    return ClusterScore(
        ari=float(adjusted_rand_score(truth, found)),
        nmi=float(normalized_mutual_info_score(truth, found)),
        scored_rows=int(mask.sum()),
        communities=len(set(truth.tolist())),
        clusters=len(set(labels.tolist())),
    )


def simulation_match(result: Reconstruction, sim_dir: Path) -> dict[str, Any]:
    """Per true campaign: best reconstructed campaign by account Jaccard, its prompt
    recall and precision; per look-alike family: the best rank and score it got."""
    def lines(name: str) -> list[dict[str, Any]]:
        with open(Path(sim_dir) / name, encoding="utf-8") as fh:
            return [json.loads(x) for x in fh if x.strip()]

    accounts_truth = lines("truth.jsonl")
    prompts_truth = lines("prompts_truth.jsonl")
    true_accounts: dict[str, set[str]] = collections.defaultdict(set)
    for row in accounts_truth:
        if row["label"] == "campaign":
            true_accounts[row["campaign_id"]].add(row["account_id"])
    operators = set().union(*true_accounts.values()) if true_accounts else set()
    true_prompts: dict[str, set[str]] = collections.defaultdict(set)
    kind_of: dict[str, str] = {}
    family_of: dict[str, str] = {}
    for row in prompts_truth:
        kind_of[row["prompt_id"]] = row["kind"]
        family_of[row["prompt_id"]] = row.get("family_id") or ""
        if row["label"] == "campaign":
            true_prompts[row["campaign_id"]].add(row["prompt_id"])
    corpus = result.corpus
    found = []
    for c in result.campaigns:
        prompts = {corpus.prompt_ids[r] for r in c.prompt_rows.tolist()}
        found.append((c, {a.account_id for a in c.accounts}, prompts))
    per_campaign = {}
    for cid in sorted(true_accounts):
        best = max(found, key=lambda f: len(f[1] & true_accounts[cid]) / len(f[1] | true_accounts[cid]), default=None)
        if best is None:
            per_campaign[cid] = None
            continue
        c, accounts, prompts = best
        per_campaign[cid] = {
            "campaign_id": c.campaign_id,
            "rank": c.rank,
            "score": c.score,
            "account_jaccard": round(len(accounts & true_accounts[cid]) / len(accounts | true_accounts[cid]), 4),
            "prompt_recall": round(len(prompts & true_prompts[cid]) / len(true_prompts[cid]), 4),
            "prompt_precision": round(len(prompts & true_prompts[cid]) / len(prompts), 4),
            "true_accounts": len(true_accounts[cid]),
            "found_accounts": len(accounts),
        }
    bystanders = {c.campaign_id: round(len(accounts - operators) / len(accounts), 4) for c, accounts, _ in found}
    jaccards = [float(v["account_jaccard"]) if v else 0.0 for v in per_campaign.values()]  # type: ignore[arg-type]
    summary = {
        "worst_jaccard": min(jaccards, default=0.0),
        "mean_jaccard": round(float(np.mean(jaccards)), 4) if jaccards else 0.0,
        "max_bystander_share": max(bystanders.values(), default=0.0),
        "reported": len(found),
    }
    campaign_ids = {v["campaign_id"] for v in per_campaign.values() if v}
    lookalikes = []
    for c, accounts, prompts in found:
        if c.campaign_id in campaign_ids:
            continue
        kinds = collections.Counter(kind_of.get(p, "?") for p in prompts)
        lookalikes.append({"campaign_id": c.campaign_id, "rank": c.rank, "score": c.score, "accounts": len(accounts),
                           "prompts": len(prompts), "kinds": dict(kinds.most_common(3))})
    return {"summary": summary, "campaigns": per_campaign, "bystander_share": bystanders, "others": lookalikes}


def synthetic_corpus(prompts: int, *, seed: int = 0, dimension: int = 384, days: int = 30) -> tuple["Corpus", dict[int, set[int]]]:
    """A corpus of the given size for scale runs: synthetic words and synthetic vectors.

    20% of the prompts belong to campaigns (one per 20,000 prompts, at least 5; each
    runs two templates of ~35 fixed words around a payload, through 40-200 accounts);
    the rest are ordinary prompts of 15-60 Zipf-distributed words from 30,000 words.
    Vectors: a campaign template's prompts lie near its centre (cosine ~0.8), ordinary
    prompts near one of 2,000 topic centres (~0.5). Returns the corpus and, per
    campaign, the account codes it used (the truth for a recovery count).
    """
    from promptprint.reconstruct.corpus import Corpus

    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(30_000)]
    zipf = 1.0 / np.arange(1, len(words) + 1)
    cumulative = np.cumsum(zipf / zipf.sum())

    def draw(lengths: np.ndarray) -> list[str]:
        """One Zipf text per length, drawn a batch at a time (one numpy call per batch,
        not per prompt: the per-prompt calls were most of the generation time)."""
        out: list[str] = []
        for start in range(0, len(lengths), 65_536):
            part = lengths[start : start + 65_536]
            idx = np.minimum(np.searchsorted(cumulative, rng.random(int(part.sum()))), len(words) - 1)
            tokens = [words[i] for i in idx.tolist()]
            ends = np.cumsum(part).tolist()
            out.extend(" ".join(tokens[e - length : e]) for e, length in zip(ends, part.tolist()))
        return out

    n_campaigns = max(5, prompts // 20_000)
    campaign_prompts = prompts // 5
    ordinary_accounts = max(50, prompts // 20)
    texts: list[str] = []
    accounts = np.empty(prompts, dtype=np.int32)
    centres_of = np.empty(prompts, dtype=np.int64)
    truth: dict[int, set[int]] = {}
    topics = rng.normal(size=(2000 + 2 * n_campaigns, dimension)).astype(np.float32)
    next_account = ordinary_accounts
    per_campaign = np.full(n_campaigns, campaign_prompts // n_campaigns)
    frequent = words[:5000]
    i = 0
    for c in range(n_campaigns):
        size = int(per_campaign[c])
        n_acc = int(min(max(40, size // 15), 200, size))
        members = np.arange(next_account, next_account + n_acc, dtype=np.int32)
        next_account += n_acc
        truth[c] = set(members.tolist())
        templates = [
            " ".join(frequent[j] for j in rng.integers(0, 5000, 25)) + " {} " + " ".join(frequent[j] for j in rng.integers(0, 5000, 10))
            for _ in range(2)
        ]
        payloads = draw(rng.integers(5, 30, size))
        half = size // 2
        texts.extend(templates[0 if j < half else 1].format(payload) for j, payload in enumerate(payloads))
        positions = np.arange(size)
        accounts[i : i + size] = members[positions % n_acc]
        centres_of[i : i + size] = 2000 + 2 * c + (positions >= half)
        i += size
    rest = prompts - i
    texts.extend(draw(rng.integers(15, 60, rest)))
    accounts[i:] = rng.integers(0, ordinary_accounts, rest)
    centres_of[i:] = rng.integers(0, 2000, rest)
    created = np.sort(rng.integers(0, days * 86_400_000, prompts)) + 1_767_225_600_000  # from 2026-01-01
    order = rng.permutation(prompts)  # campaigns interleaved with the rest over the period
    texts = [texts[k] for k in order.tolist()]
    accounts, centres_of = accounts[order], centres_of[order]
    vectors = np.empty((prompts, dimension), dtype=np.float32)  # made in the final order: no permuted copy
    for start in range(0, prompts, 65536):
        stop = min(prompts, start + 65536)
        centre = topics[centres_of[start:stop]]
        centre /= np.linalg.norm(centre, axis=1, keepdims=True)
        noise = rng.standard_normal((stop - start, dimension), dtype=np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        campaign = (centres_of[start:stop] >= 2000)[:, None]
        v = np.where(campaign, centre * 1.6 + noise, centre + noise)
        vectors[start:stop] = v / np.linalg.norm(v, axis=1, keepdims=True)
    corpus = Corpus(
        prompt_ids=[f"s-{k:07d}" for k in range(prompts)],
        accounts=accounts,
        orgs=np.zeros(prompts, dtype=np.int32),
        created_at_ms=created.astype(np.int64),
        texts=texts,
        vectors=vectors,
        account_names=[f"acct-{k}" for k in range(next_account)],
        org_names=[""],
    )
    return corpus, truth


def synthetic_lexical_view(corpus: "Corpus") -> "LexicalView":
    """A stand-in lexical view for scale runs: MinHash of each text's hashed word
    3-grams, no skeletons and no tracker. A prompt's template id is a hash of its
    first six words (the tracker's head anchor, in one line: synthetic campaign
    templates open with fixed words, ordinary prompts with Zipf draws), so attribution,
    which works on template ids, has its input. It exercises the same vectorized graph
    and attribution code at a fraction of the per-prompt Python cost."""
    import zlib

    from promptprint.reconstruct.minhash import sketches
    from promptprint.reconstruct.pipeline import LexicalView
    from promptprint.templates.tracker import TemplateTracker

    parts, sizes_list = [], []
    for start in range(0, len(corpus.texts), 4096):  # a batch of sets at a time: bounded memory
        sets = []
        for text in corpus.texts[start : start + 4096]:
            w = text.split()
            grams = {hash(" ".join(w[i : i + 3])) & 0x7FFFFFFFFFFFFFFF for i in range(len(w) - 2)}
            sets.append(np.fromiter(grams, dtype=np.uint64, count=len(grams)))
        parts.append(sketches(sets))
        sizes_list.extend(len(x) for x in sets)
    hashes = np.fromiter((zlib.crc32(t.encode()) for t in corpus.texts), dtype=np.int64, count=len(corpus.texts))
    heads = np.fromiter((zlib.crc32(" ".join(t.split()[:6]).encode()) + 1 for t in corpus.texts), dtype=np.int64, count=len(corpus.texts))
    sizes = np.asarray(sizes_list, dtype=np.int32)
    return LexicalView(np.concatenate(parts), sizes, hashes, heads, TemplateTracker(), heads)
