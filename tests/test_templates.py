"""The template view: skeletons, online clustering, windowed activity, the campaign score,
banks and the embedding batcher. Real texts from ../shared/data where it matters."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from promptprint.templates.banks import Banks
from promptprint.vectors.batching import BatchingEmbedder
from promptprint.templates.scoring import BankHit, assess
from promptprint.errors import InvalidArgument, NotFound
from promptprint.text.skeleton import signature, skeleton_tokens
from promptprint.templates.tracker import Event, TemplateTracker

T0 = 1_770_000_000_000
MIN = 60_000

ANALYST = "You are an expert data analyst. Reason step by step about the following task and give your final answer after 'ANSWER:'.\n\nTask: {}"
SUMMARY = "Give a 3-bullet summary of this:\n\n{}"


def _record(tracker: TemplateTracker, text: str, account: str, t: int, org: str = "") -> int:
    return tracker.record(signature(text), Event(t, account, org))


def test_skeleton_masks_slots_and_cosmetics() -> None:
    tokens = skeleton_tokens("[req 7f3a9c1e] Whаt is 17+4? See https://x.io/a or mail bob@x.io ```print(1)```")
    assert tokens == ["what", "is", "<num>", "<num>", "see", "<url>", "or", "mail", "<email>", "<code>"]
    assert signature("What is 17+4 plus some more words here").shingles == signature("what is 3+9 plus some more words here").shingles


def test_templates_cluster_across_payloads_and_noise(alpaca_texts: list[str]) -> None:
    tracker = TemplateTracker()
    ids = {
        _record(tracker, ANALYST.format(payload), f"a{i}", T0 + i * MIN)
        for i, payload in enumerate(alpaca_texts[:40])
    }
    assert len(ids) == 1
    (template_id,) = ids
    noisy = "#4821: " + ANALYST.format(alpaca_texts[50]).replace("a", "\u0430", 3).replace(" ", " \u200b", 5)
    assert _record(tracker, noisy, "z", T0 + 50 * MIN) == template_id
    # a one-line template around long pasted passages clusters by its anchor
    passages = [t for t in alpaca_texts if len(t.split()) > 25][:10]
    summary_ids = {_record(tracker, SUMMARY.format(p), f"s{i}", T0 + i) for i, p in enumerate(passages)}
    assert len(summary_ids) == 1 and summary_ids != ids
    # unrelated prompts do not join
    assert _record(tracker, alpaca_texts[100], "u", T0) not in ids | summary_ids


def test_short_prompts_carry_no_template() -> None:
    tracker = TemplateTracker()
    assert _record(tracker, "continue", "a", T0) == 0
    assert tracker.match(signature("thanks!")) is None


def test_activity_counts_and_window_expiry() -> None:
    tracker = TemplateTracker(window_ms=60 * MIN)
    for i in range(6):
        _record(tracker, ANALYST.format(f"count the primes below {10 * i} and explain why"), f"a{i % 3}", T0 + i * MIN, org=f"o{i % 2}")
    template = tracker.match(signature(ANALYST.format("sum the squares from one to ten")))
    assert template is not None
    f = tracker.features(template, T0 + 10 * MIN, "a0")
    assert (f.volume, f.accounts, f.other_accounts, f.orgs, f.repeat_accounts, f.distinct_texts) == (6, 3, 2, 2, 3, 6)
    assert f.burst_accounts == 3 and f.first_seen_ms == T0 and f.last_seen_ms == T0 + 5 * MIN
    later = tracker.features(template, T0 + 63 * MIN + 1, "a0")  # the first three fell out of the hour
    assert (later.volume, later.accounts, later.repeat_accounts) == (2, 2, 0)


def test_score_separates_coordination_from_reach(alpaca_texts: list[str]) -> None:
    campaign, popular, org_app = TemplateTracker(), TemplateTracker(), TemplateTracker()
    public = "I want you to act as a travel guide. I will write you my location and you will suggest a place to visit near my location."
    for i in range(100):
        # 20 accounts in 20 orgs, five prompts each over two sittings, new payload every time, in bursts
        _record(campaign, ANALYST.format(alpaca_texts[i]), f"c{i % 20}", T0 + (i % 20) * 1000 + (i // 20) * 70 * MIN, org=f"co{i % 20}")
    for i in range(60):
        # 60 unrelated people paste the same public prompt once
        _record(popular, public, f"p{i}", T0 + i * 37 * MIN, org=f"po{i}")
        # one org's app, 3 accounts, new payload every time
        _record(org_app, ANALYST.format(alpaca_texts[i]), f"app{i % 3}", T0 + i * MIN, org="acme")
    now = T0 + 23 * 3600 * 1000
    probe = signature(ANALYST.format("a brand new task"))
    scores = {}
    for name, tracker, sig in (("campaign", campaign, probe), ("popular", popular, signature(public)), ("org_app", org_app, probe)):
        template = tracker.match(sig)
        assert template is not None
        scores[name] = assess(tracker.features(template, now, "newcomer"), None)
    assert scores["campaign"].flagged and scores["campaign"].score > 0.9
    assert not scores["popular"].flagged and scores["popular"].score == 0.0
    assert not scores["org_app"].flagged and scores["org_app"].score == 0.0
    assert any("repeatedly" in r for r in scores["campaign"].reasons)
    assert any("single org" in r for r in scores["org_app"].reasons)
    allowed = assess(campaign.features(campaign.match(probe), now, "x"), BankHit(1, "allow", "ours"))  # type: ignore[arg-type]
    assert allowed.score <= 0.05 and not allowed.flagged
    denied = assess(None, BankHit(2, "deny", "known"))
    assert denied.flagged and denied.score >= 0.95


def test_banks_persist_match_and_validate(tmp_path: Path) -> None:
    path = tmp_path / "banks.sqlite"
    banks = Banks(path)
    builtin = banks.entries("allow")
    assert len(builtin) >= 3 and all(e.source == "builtin" for e in builtin)
    react = "Answer the following questions as best you can. You have access to the following tools:\n\nweather: Get the weather.\n\nUse the following format:\n\nQuestion: the input question you must answer\nThought: you should always think about what to do\nAction: the action to take, should be one of [weather]\nAction Input: the input to the action\nObservation: the result of the action\n... (this Thought/Action/Action Input/Observation can repeat N times)\nThought: I now know the final answer\nFinal Answer: the final answer to the original input question\n\nBegin!\n\nQuestion: what's the weather in Paris?\nThought:"
    hit = banks.match(signature(react), None)
    assert hit is not None and hit.kind == "allow"
    entry = banks.add("deny", ANALYST.format("{task}"), note="campaign X")
    hit = banks.match(signature(ANALYST.format("what is the GDP of France?")), None)
    assert hit is not None and (hit.kind, hit.entry_id, hit.note) == ("deny", entry.entry_id, "campaign X")
    assert banks.match(signature("Write a haiku about the sea and the moon and the stars tonight"), None) is None
    with pytest.raises(InvalidArgument):
        banks.add("maybe", ANALYST)
    with pytest.raises(InvalidArgument):
        banks.add("deny", "too short")
    banks.close()
    reopened = Banks(path)  # persisted; built-ins are not seeded twice
    assert [e.entry_id for e in reopened.entries()] == [e.entry_id for e in builtin] + [entry.entry_id]
    reopened.remove(entry.entry_id)
    assert reopened.match(signature(ANALYST.format("what is the GDP of France?")), None) is None
    with pytest.raises(NotFound):
        reopened.remove(entry.entry_id)
    reopened.close()


def test_batching_embedder_coalesces_concurrent_calls() -> None:
    class Recorder:
        model_id, dimension = "recorder", 2

        def __init__(self) -> None:
            self.calls: list[int] = []

        def embed(self, texts):  # type: ignore[no-untyped-def]
            self.calls.append(len(texts))
            time.sleep(0.02)
            return np.array([[len(t), 0] for t in texts], dtype=np.float32)

    inner = Recorder()
    batcher = BatchingEmbedder(inner, max_batch=8, max_wait_ms=10)
    results: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        results[i] = batcher.embed(["x" * i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(1, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert all(results[i][0, 0] == i for i in range(1, 13))  # every caller gets its own row
    assert len(inner.calls) < 12 and max(inner.calls) <= 8


def test_background_chunks_never_ride_in_a_lookups_forward_pass() -> None:
    class Recorder:
        model_id, dimension = "recorder", 2

        def __init__(self) -> None:
            self.batches: list[list[str]] = []

        def embed(self, texts):  # type: ignore[no-untyped-def]
            self.batches.append(list(texts))
            time.sleep(0.03)
            return np.array([[len(t), 0] for t in texts], dtype=np.float32)

    inner = Recorder()
    batcher = BatchingEmbedder(inner, max_batch=8, max_wait_ms=20)
    backlog = [f"background {i}" for i in range(40)]
    worker = threading.Thread(target=batcher.embed_background, args=(backlog,))
    worker.start()
    lookups = []
    for i in range(6):
        time.sleep(0.01)
        lookups.append(batcher.embed([f"lookup {i}"]))
    worker.join()
    batcher.close()
    for batch in inner.batches:  # a pass is all background or all lookups, never both
        kinds = {t.split()[0] for t in batch}
        assert len(kinds) == 1, batch
    assert sum(len(b) for b in inner.batches if b[0].startswith("background")) == 40
    assert [v[0, 0] for v in lookups] == [len(f"lookup {i}") for i in range(6)]


def test_a_prompt_from_the_far_future_does_not_empty_the_windows() -> None:
    tracker = TemplateTracker(window_ms=24 * 60 * MIN)
    now = int(time.time() * 1000)
    for i in range(4):
        _record(tracker, ANALYST.format(f"question number {i} about the history of printing"), f"a{i}", now - i * MIN)
    _record(tracker, ANALYST.format("a question from the year 9999 about printing"), "evil", 253402300799000)
    template = tracker.match(signature(ANALYST.format("one more question about printing presses")))
    assert template is not None
    assert tracker.features(template, now, "x").volume == 5


def test_batching_embedder_chunks_large_calls_in_order() -> None:
    class Counter:
        model_id, dimension = "counter", 1

        def __init__(self) -> None:
            self.calls: list[int] = []

        def embed(self, texts):  # type: ignore[no-untyped-def]
            self.calls.append(len(texts))
            return np.array([[float(t)] for t in texts], dtype=np.float32)

    inner = Counter()
    batcher = BatchingEmbedder(inner, max_batch=8, max_wait_ms=0)
    out = batcher.embed([str(i) for i in range(20)])
    batcher.close()
    assert out[:, 0].tolist() == list(range(20)) and inner.calls == [8, 8, 4]


def test_forgotten_rows_leave_the_window_counts(alpaca_texts: list[str]) -> None:
    tracker = TemplateTracker()
    tid = 0
    for i, payload in enumerate(alpaca_texts[:6]):
        tid = tracker.record(signature(ANALYST.format(payload)), Event(T0 + i * MIN, f"acct-{i % 3}", "org-x" if i < 2 else "", 100 + i))
    template = tracker.template(tid)
    assert template is not None
    before = tracker.features(template, T0 + 10 * MIN, "probe")
    assert (before.volume, before.accounts, before.named_orgs) == (6, 3, 1)
    # acct-0 (rows 100 and 103) is deleted; org-x loses its only other member too (row 101)
    # three events out of each template the prompts joined: the shingle template and any instruction line
    views = 1 + len(tracker.line_templates(signature(ANALYST.format(alpaca_texts[0]))))
    assert tracker.forget_rows({100, 103, 101}) == 3 * views
    after = tracker.features(template, T0 + 10 * MIN, "probe")
    assert (after.volume, after.accounts, after.named_orgs) == (3, 2, 0)
    assert sorted(tracker.recent_rows(template, 10)) == [102, 104, 105]


def test_shingle_postings_rank_like_a_dict_across_merges_and_removals() -> None:
    """The array-backed postings against a plain dict oracle: same counts, same order,
    whether an entry sits in the arrays or in the table of new entries; removed
    templates never come back, before or after the arrays are compacted."""
    from promptprint.templates.postings import ShinglePostings

    rng = np.random.default_rng(3)
    vocabulary = rng.integers(0, 2**64 - 1, 400, dtype=np.uint64, endpoint=True)
    # the bucket directory's edges: the first and last buckets, a bucket boundary
    vocabulary[:4] = np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)
    postings = ShinglePostings(cap=4, merge_at=64)  # merges every few templates
    oracle: dict[int, list[int]] = {}
    live: set[int] = set()
    posted: dict[int, np.ndarray] = {}
    for tid in range(1, 301):
        shingles = posted[tid] = np.unique(rng.choice(vocabulary, int(rng.integers(6, 40)), replace=False))
        postings.add(tid, shingles)
        for key in shingles.tolist():
            posting = oracle.setdefault(key, [])
            if len(posting) < 4:
                posting.append(tid)
        live.add(tid)
        query = np.sort(rng.choice(vocabulary, 50, replace=False))
        counts: dict[int, int] = {}
        for key in query.tolist():
            for t in oracle.get(key, []):
                counts[t] = counts.get(t, 0) + 1
        expected = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)[:8]
        assert postings.ranked(query, 8) == expected
    for tid in range(1, 301, 3):  # remove a third: dead entries are compacted along the way
        postings.remove(tid, posted[tid])
        live.discard(tid)
    for _ in range(20):
        ranked = postings.ranked(np.sort(rng.choice(vocabulary, 80, replace=False)), 50)
        assert ranked and {tid for tid, _ in ranked} <= live
    assert len(postings) < sum(len(p) for p in oracle.values())  # the dead entries are gone


def test_activity_counters_match_a_recount_of_the_window(alpaca_texts: list[str]) -> None:
    """The incremental window counters against a recount from the raw events, through
    out-of-order arrivals, repeats, orgs and expiry."""
    from promptprint.templates.tracker import BUCKET_MS, org_key

    rng = np.random.default_rng(5)
    window = 90 * MIN
    tracker = TemplateTracker(window_ms=window)
    events: list[tuple[int, str, str, str]] = []  # arrival order, as the tracker keeps them
    now = T0
    template_id = 0
    for i in range(400):
        now += int(rng.integers(0, 2 * MIN))
        t = now - int(rng.integers(0, 5 * MIN))  # some arrive late
        account = f"a{int(rng.integers(0, 25))}"
        org = f"o{int(rng.integers(0, 4))}" if rng.random() < 0.5 else ""
        text = ANALYST.format(alpaca_texts[int(rng.integers(0, 60))])
        tid = _record(tracker, text, account, t, org)
        template_id = template_id or tid
        assert tid == template_id
        events.append((t, account, org_key(account, org), text))
        if i % 7:
            continue
        horizon = now - window
        while events and events[0][0] < horizon:  # the window drops its oldest arrivals
            events.pop(0)
        template = tracker.template(template_id)
        assert template is not None
        f = tracker.features(template, now, "a1", "o1")
        accounts = [e[1] for e in events]
        per_org = {o: sum(1 for e in events if e[2] == o) for o in {e[2] for e in events}}
        per_bucket: dict[int, set[str]] = {}
        for e in events:
            per_bucket.setdefault(e[0] // BUCKET_MS, set()).add(e[1])
        assert f.volume == len(events)
        assert f.accounts == len(set(accounts)) and f.other_accounts == len(set(accounts) - {"a1"})
        assert f.repeat_accounts == sum(1 for a in set(accounts) if accounts.count(a) >= 2)
        assert f.orgs == len(per_org) and f.named_orgs == sum(1 for o in per_org if not o.startswith("\x00"))
        assert f.top_org_volume == max(per_org.values())
        assert f.distinct_texts == len({signature(e[3]).text_hash for e in events})
        assert f.burst_accounts == max(len(s) for s in per_bucket.values())
        assert f.first_seen_ms == events[0][0]
    # quiet hours after the traffic: one prompt per 20 minutes, then nothing; the busy
    # buckets leave with their events and an empty window keeps nothing behind
    for k in range(12):
        now += 20 * MIN
        assert _record(tracker, ANALYST.format(alpaca_texts[k]), f"q{k}", now) == template_id
    template = tracker.template(template_id)
    assert template is not None
    assert tracker.features(template, now, "a1").burst_accounts == 1
    assert tracker.features(template, now + window + 1, "a1").volume == 0
    activity = template.peek_activity()
    assert (len(activity), activity.buckets, activity.accounts, activity.texts) == (0, {}, {}, {})


def _oracle_founder(shingles: np.ndarray, head: int, tail: int, limit: int) -> list[int]:
    """Template's founder sample as it was written in numpy."""
    if len(shingles) <= limit:
        return shingles.tolist()
    anchors = [a for a in (head, tail) if a]
    keep = np.ones(len(shingles), dtype=bool)
    for anchor in anchors:
        keep &= shingles != np.uint64(anchor)
    rest = shingles[keep][: limit - len(anchors)]
    return np.union1d(rest, np.array(anchors, dtype=np.uint64)).tolist()


def _oracle_best(query: np.ndarray, head: int, tail: int, cores: list[np.ndarray], heads: list[int], tails: list[int]) -> int:
    """TemplateTracker._best's choice as it was written in Python."""
    from promptprint.templates.tracker import ABS_SHARED, JOIN_SHARE, MIN_CORE

    best, best_key = -1, None
    for i, core in enumerate(cores):
        values = set(core.tolist())
        shared = len(values & set(query.tolist()))
        if shared < MIN_CORE:
            continue
        head_hit = bool(heads[i]) and heads[i] == head and heads[i] in values
        tail_hit = bool(tails[i]) and tails[i] == tail and tails[i] in values
        containment = shared / len(core)
        if not (head_hit or tail_hit or shared >= ABS_SHARED or containment >= JOIN_SHARE):
            continue
        key = (head_hit, tail_hit, containment, shared)
        if best_key is None or key > best_key:
            best, best_key = i, key
    return best


def test_founder_sample_and_candidate_choice_in_c_match_their_python_definitions() -> None:
    """_shingles.founder_shingles and best_candidate against the Python they replaced, on
    random sets with anchors inside, outside, equal to each other or absent, cores that
    tie, and joins by anchor, by count and by share."""
    from promptprint.text import _shingles
    from promptprint.templates.tracker import ABS_SHARED, FOUNDER_SHINGLES, JOIN_SHARE, MIN_CORE

    rng = np.random.default_rng(11)
    vocabulary = np.unique(rng.integers(1, 2**64 - 1, 300, dtype=np.uint64))
    chosen = 0
    for trial in range(3000):
        shingles = np.unique(rng.choice(vocabulary, int(rng.integers(0, 120)), replace=False))
        pick = lambda: int(rng.choice(shingles)) if len(shingles) and rng.random() < 0.8 else int(rng.choice([0, int(vocabulary[0])]))  # noqa: E731
        head, tail = pick(), pick()
        if rng.random() < 0.1:
            tail = head
        founder = np.frombuffer(_shingles.founder_shingles(shingles, head, tail, FOUNDER_SHINGLES), dtype=np.uint64)
        assert founder.tolist() == _oracle_founder(shingles, head, tail, FOUNDER_SHINGLES)
        cores = [np.unique(rng.choice(vocabulary, int(rng.integers(1, 30)), replace=False)) for _ in range(int(rng.integers(0, 9)))]
        if cores and rng.random() < 0.5:
            cores[-1] = cores[0].copy()  # a tie: the first one met wins
        core_heads = [int(c[0]) if rng.random() < 0.5 else head for c in cores]
        core_tails = [int(c[-1]) if rng.random() < 0.5 else tail for c in cores]
        expected = _oracle_best(shingles, head, tail, cores, core_heads, core_tails)
        got = _shingles.best_candidate(shingles, head, tail, cores, core_heads, core_tails, MIN_CORE, ABS_SHARED, JOIN_SHARE)
        assert got == expected, trial
        chosen += expected >= 0
    assert chosen > 300  # joins happened, not only refusals


def test_one_ahead_runs_the_next_item_on_a_worker_and_keeps_order() -> None:
    """promptprint.executors.one_ahead: results in item order; items drawn on the caller's
    thread; fn on the worker, one item ahead of the caller; an empty input yields nothing."""
    from promptprint.executors import one_ahead

    caller = threading.get_ident()
    drawn: list[int] = []
    ran_on: set[int] = set()

    def items():  # type: ignore[no-untyped-def]
        for i in range(5):
            assert threading.get_ident() == caller
            drawn.append(i)
            yield i

    def square(i: int) -> int:
        ran_on.add(threading.get_ident())
        return i * i

    seen = []
    for item, result in one_ahead(square, items()):
        assert drawn[-1] == min(item + 1, 4)  # the next item was drawn and handed over first
        seen.append((item, result))
    assert seen == [(i, i * i) for i in range(5)] and drawn == list(range(5))
    assert caller not in ran_on
    assert list(one_ahead(square, [])) == []
