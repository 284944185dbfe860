"""Campaign evidence that does not need a long wrapper: instruction lines, committed
accounts, linked templates, and the traps that must stay unflagged (real alpaca texts)."""

from __future__ import annotations

import types

import pytest

from promptprint.templates.scoring import CampaignAssessment, assess
from promptprint.templates.tracker import COMMITTED, Event, TemplateTracker
from promptprint.text.lines import instruction_line_keys
from promptprint.text.skeleton import signature

from conftest import FINAL_MARKED_WORDINGS, HASH_MARKED_WORDINGS

T0 = 1_767_225_600_000
MIN = 60_000
HOUR = 60 * MIN


def _paste(texts: list[str], i: int) -> str:
    """A long pasted document: a few alpaca texts run together."""
    return " ".join(texts[(i + k) % len(texts)] for k in range(6))


def _record(tracker: TemplateTracker, text: str, account: str, t: int, org: str = "") -> None:
    tracker.record(signature(text), Event(t, account, org))


def _assess(tracker: TemplateTracker, text: str, account: str, t: int) -> CampaignAssessment:
    """The strongest assessment over the prompt's shingle template and instruction lines."""
    sig = signature(text)
    views = [v for v in [tracker.match(sig), *tracker.line_templates(sig)] if v is not None]
    results = [assess(tracker.features(v, t, account), None) for v in views] or [assess(None, None)]
    return max(results, key=lambda a: (a.flagged, a.score))


class _LinkedTracker:
    """A tracker whose templates are linked by wording as a PromptIndex links them: the
    real model on the real linker, each recorded prompt's text kept as a store row."""

    def __init__(self, embedder) -> None:  # type: ignore[no-untyped-def]
        from promptprint.index.fingerprint import fingerprint_texts
        from promptprint.index.template_linker import TemplateLinker

        self.tracker = TemplateTracker()
        self._texts: dict[int, tuple[str, int, str]] = {}
        self.linker = TemplateLinker(self.tracker, self, lambda batch: fingerprint_texts(embedder.embed, batch))  # type: ignore[arg-type]

    def fetch(self, ids, with_text=False):  # type: ignore[no-untyped-def]
        """The store's fetch, for the linker."""
        return {
            i: types.SimpleNamespace(row_id=i, text=text, created_at_ms=t, org_id=org)
            for i in ids if i in self._texts for text, t, org in [self._texts[i]]
        }

    def send(self, text: str, account: str, org: str, t: int) -> None:
        """Record a prompt, then let the linker do what the thread would have done by the next one."""
        row = len(self._texts) + 1
        self._texts[row] = (text, t, org)
        self.tracker.record(signature(text), Event(t, account, org, row))
        self.linker.run_once()


def test_instruction_lines_need_a_short_line_set_off_from_a_long_body(alpaca_texts: list[str]) -> None:
    paste = _paste(alpaca_texts, 0)
    head, tail = instruction_line_keys("Condense the key claims:\n\n" + paste)
    assert head and not tail
    assert instruction_line_keys("CONDENSE the key   claims:\n\n" + _paste(alpaca_texts, 9))[0] == head  # the line, not the paste
    head2, tail2 = instruction_line_keys(paste + "\n\nWhat is the main argument of this text?")
    assert tail2 and not head2
    assert instruction_line_keys("Condense the key claims: " + paste) == (0, 0)  # one line: nothing set off
    assert instruction_line_keys("Condense the key claims:\n\nshort body") == (0, 0)  # no long paste
    assert instruction_line_keys("Summarize:\n\n" + paste) == (0, 0)  # one word says nothing
    # a long instruction over a short payload (a math problem) is a wrapper too: its
    # shingle template misses it, the payload being most of the prompt
    line = "Kindly find the answer to this question reasoning carefully - final answer goes after ####"
    problem = "Kelly has 8 chickens that lay 3 eggs each per day. If Kelly sells these eggs for $5 a dozen, how much money will she make in 4 weeks?"
    assert instruction_line_keys(line + "\n\n" + problem)[0]
    assert instruction_line_keys(line + "\n\n" + problem[:60]) == (0, 0)  # the body is shorter than the line


def test_short_wrapper_campaign_is_flagged_and_paste_instructions_are_not(alpaca_texts: list[str]) -> None:
    """A 4-word instruction over a different long paste each time, from 12 accounts that
    send little else, 8 prompts each over two sittings: flagged on its instruction line.
    60 ordinary users who each send "Summarize this text:" once among their own prompts:
    not flagged."""
    campaign, ordinary = TemplateTracker(), TemplateTracker()
    n = 0
    for sitting in range(2):
        for k in range(4):
            for a in range(12):
                t = T0 + sitting * 3 * HOUR + (k * 12 + a) * MIN
                _record(campaign, "Extract the main claims:\n\n" + _paste(alpaca_texts, n), f"c{a}", t, org=f"co{a // 2}")
                n += 1
    now = T0 + 7 * HOUR
    verdict = _assess(campaign, "Extract the main claims:\n\n" + _paste(alpaca_texts, 500), "newcomer", now)
    assert verdict.flagged and verdict.level == "flagged"
    assert verdict.features is not None and verdict.features.kind == "line"
    assert any("instruction line" in r for r in verdict.reasons)

    for u in range(60):
        base = T0 + u * 7 * MIN
        for j in range(5):  # their own questions
            _record(ordinary, alpaca_texts[(u * 5 + j) % len(alpaca_texts)], f"u{u}", base + j * MIN, org=f"uo{u}")
        _record(ordinary, "Summarize this text:\n\n" + _paste(alpaca_texts, u), f"u{u}", base + 6 * MIN, org=f"uo{u}")
    verdict = _assess(ordinary, "Summarize this text:\n\n" + _paste(alpaca_texts, 999), "newcomer", T0 + 9 * HOUR)
    assert not verdict.flagged


def test_a_class_pasting_one_assignment_is_watched_not_flagged(alpaca_texts: list[str]) -> None:
    """35 students, each under a personal org, paste one assignment with their own essay
    1-3 times within 90 minutes: early coordination (watch), never proof (flagged)."""
    tracker = TemplateTracker()
    assignment = (
        "HIST 210 short response. Read the prompt below and write 400 words arguing whether the printing press "
        "or the telegraph changed politics more. Cite two primary sources and give a counter-argument.\n\nMy essay:\n"
    )
    levels = set()
    for s in range(35):
        for draft in range(1 + s % 3):
            t = T0 + s * 2 * MIN + draft * 25 * MIN
            verdict = _assess(tracker, assignment + alpaca_texts[s * 3 + draft], f"s{s}", t)
            assert not verdict.flagged, verdict.reasons
            levels.add(verdict.level)
            _record(tracker, assignment + alpaca_texts[s * 3 + draft], f"s{s}", t, org=f"home{s}")
    assert "watch" in levels


def test_accounts_that_switch_templates_link_them_into_one_group(alpaca_texts: list[str]) -> None:
    """Eight dedicated accounts send template A, then all switch to an unrelated template
    B: A and B are linked, and B's evidence counts their commitment from the start."""
    tracker = TemplateTracker()
    a_text = "You are a meticulous grader. Score the following answer from 1 to 10 for accuracy and clarity, then explain.\n\nAnswer: {}"
    b_text = "Rewrite the passage below as a numbered list of atomic facts, one per line, with no commentary at all.\n\nPassage: {}"
    n = 0
    for a in range(8):
        for k in range(3):
            _record(tracker, a_text.format(alpaca_texts[n]), f"c{a}", T0 + (k * 8 + a) * MIN, org=f"o{a}")
            n += 1
    for a in range(8):
        for k in range(2):
            _record(tracker, b_text.format(alpaca_texts[n]), f"c{a}", T0 + HOUR + (k * 8 + a) * MIN, org=f"o{a}")
            n += 1
    template_b = tracker.match(signature(b_text.format("x y z")))
    assert template_b is not None
    group = tracker.group_templates(template_b.template_id)
    template_a = tracker.match(signature(a_text.format("x y z")))
    assert template_a is not None and template_a.template_id in group and len(group) == 2
    features = tracker.features(template_b, T0 + 2 * HOUR, "newcomer")
    assert features.group is not None and features.group.templates == 2
    assert features.group.committed_accounts >= 8  # committed on A, and on B too
    activity = template_b.peek_activity()
    assert all(activity.states.get(f"c{a}") == COMMITTED for a in range(8))


# An operation's paraphrases of one grading job, each its own lexical template.
ROTATED = [
    "You are a strict grader. Score the answer below from 1 to 10 for factual accuracy, then list each error you found.\n\nAnswer: {}",
    "Act as an exacting examiner: rate the following answer on a 1-10 scale for correctness and name every mistake in it.\n\nAnswer: {}",
    "Grade this response for accuracy using a ten point scale, and enumerate all the factual problems it contains.\n\nResponse: {}",
    "Please evaluate the answer that follows. Give it a score out of ten for how correct it is and itemize its errors.\n\nAnswer text: {}",
    "Assess the correctness of the reply below on a scale from one to ten, then write down every inaccuracy you can spot.\n\nReply: {}",
    "Rate the answer beneath for factual precision (1 = wrong, 10 = flawless) and produce a bullet list of its mistakes.\n\nAnswer: {}",
    "Judge how accurate the following response is. Output a number between 1 and 10 and then each error on its own line.\n\nResponse: {}",
    "Review the answer shown below like a fact checker: award a 1-10 accuracy score and catalogue the false statements.\n\nAnswer: {}",
]


def test_accounts_rotating_over_an_operations_templates_are_one_campaign_within_the_wave(alpaca_texts: list[str]) -> None:
    """Nine fresh accounts of an operation work one six-minute wave, each sending eight
    prompts, each prompt a paraphrase of one grading job taken in turn (eight lexical
    templates): no account uses any template twice. The templates link through the
    accounts that rotate over them, the accounts count as committed on each, and the
    wave is flagged before it ends. Nine users of a browser tool, each sending its
    prompts among as many of its own, rotating over the same paraphrases, are neither."""
    tracker = TemplateTracker()
    verdicts = []
    n = 0
    for k in range(8):
        for a in range(9):
            text = ROTATED[(a + 3 * k) % len(ROTATED)].format(alpaca_texts[n])
            t = T0 + (k * 9 + a) * 5_000
            verdicts.append(_assess(tracker, text, f"op{a}", t))
            _record(tracker, text, f"op{a}", t, org=f"throwaway{a}")
            n += 1
    assert any(v.flagged for v in verdicts[-9:])
    probe = tracker.match(signature(ROTATED[0].format("A new answer.")))
    assert probe is not None and len(tracker.group_templates(probe.template_id)) >= 4
    users = TemplateTracker()
    user_verdicts = []
    for k in range(8):
        for a in range(9):
            t = T0 + (k * 9 + a) * 20 * MIN
            own = alpaca_texts[500 + n]
            text = ROTATED[(a + 3 * k) % len(ROTATED)].format(alpaca_texts[n])
            _record(users, own, f"user{a}", t - MIN, org=f"home{a}")
            user_verdicts.append(_assess(users, text, f"user{a}", t))
            _record(users, text, f"user{a}", t, org=f"home{a}")
            n += 1
    assert not any(v.flagged for v in user_verdicts)


# A second operation's paraphrases of another job.
ROTATED_OTHER = [
    "Turn the passage below into three multiple-choice questions with four options each, marking the correct one.\n\nPassage: {}",
    "Write three quiz questions about the following text, each with four answer choices and the right one marked.\n\nText: {}",
    "From the passage that follows, create three multiple choice items (options A-D) and indicate which option is correct.\n\nPassage: {}",
    "Build a three-question multiple-choice quiz from this text; give four choices per question and flag the answer.\n\nSource text: {}",
]


def test_a_line_that_payloads_carry_joins_no_campaign(alpaca_texts: list[str]) -> None:
    """Two operations rotate over their own paraphrases; their payloads end with the
    line "No input" (an Alpaca item with an empty input), a tail line of its own that
    every account of both sends. The operations stay two groups and neither holds the
    line, which is a sliver of their templates (linked by its accounts only, never by
    its wording or its orgs): a prompt that ends with it is not assessed with either
    operation's templates (on a fresh test split the line joined fifty templates of
    several campaigns, and popular prompts ending with it were flagged through them)."""
    tracker = TemplateTracker()
    n = 0
    for k in range(8):
        for op, wordings in (("a", ROTATED), ("b", ROTATED_OTHER)):
            for a in range(6):
                text = wordings[(a + 3 * k) % len(wordings)].format(alpaca_texts[n]) + "\n\nNo input"
                _record(tracker, text, f"op{op}{a}", T0 + (k * 12 + a) * 5_000 + (op == "b") * 30_000, org=f"o{op}{a}")
                n += 1
    first = tracker.match(signature(ROTATED[0].format(alpaca_texts[900])))
    other = tracker.match(signature(ROTATED_OTHER[0].format(alpaca_texts[900])))
    assert first is not None and other is not None
    group = tracker.group_templates(first.template_id)
    assert len(group) >= 4 and other.template_id not in group
    probe = f"{_paste(alpaca_texts, 950)}\n\nNo input"
    line = tracker.line_templates(signature(probe))
    assert line and all(tracker.group_templates(view.template_id) == [view.template_id] for view in line)
    # a sliver of the operations' templates, never embedded for a link by wording
    assert all(view.sliver for view in line)
    assert not {view.template_id for view in line} & {tid for tid, _ in tracker.take_for_embedding(1000)}


def test_a_bystander_of_a_campaign_template_counts_less(alpaca_texts: list[str]) -> None:
    """An ordinary account with many prompts of its own that once sends a campaign's
    template is not flagged with it; a fresh account sending it is."""
    tracker = TemplateTracker()
    text = "You are an expert data analyst. Reason step by step about the following task and give your final answer after 'ANSWER:'.\n\nTask: {}"
    for i in range(100):
        _record(tracker, text.format(alpaca_texts[i]), f"c{i % 20}", T0 + (i % 20) * 1000 + (i // 20) * 70 * MIN, org=f"co{i % 20}")
    now = T0 + 6 * HOUR
    for j in range(12):
        _record(tracker, alpaca_texts[200 + j], "bystander", now - (j + 1) * MIN, org="b")
    probe = text.format("a brand new task")
    assert _assess(tracker, probe, "fresh", now).flagged
    bystander = _assess(tracker, probe, "bystander", now)
    assert not bystander.flagged and any("bystander" in r for r in bystander.reasons)
    # one prompt among five of its own (1/6 of its traffic): nothing while it is the only
    # one; a hydra relaying ordinary prompts beside its campaign work (2/7) is flagged
    for name, own, campaign in (("light", 5, 1), ("hydra", 5, 2)):
        for j in range(own):
            _record(tracker, alpaca_texts[300 + j], name, now - (j + 10) * MIN, org=name)
        for j in range(campaign):
            _record(tracker, text.format(alpaca_texts[400 + j]), name, now - j * MIN, org=name)
    assert not _assess(tracker, text.format(alpaca_texts[400]), "light", now).flagged
    assert _assess(tracker, text.format(alpaca_texts[401]), "hydra", now).flagged


def test_accounts_each_wording_one_instruction_their_own_way_are_linked(embedder, alpaca_texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Ten accounts, each with its own fixed paraphrase of one instruction over short
    payloads: alone each is one account's template; their instructions embedded (the real
    model, on the background path of a real PromptIndex's linker) link them, and the
    linked group is flagged. Ten benign accounts each reusing an unrelated personal
    wrapper stay apart."""
    wordings = [
        "Please solve this exercise showing every step and give just the number at the end after ####",
        "Go ahead and figure out the problem below with clear reasoning, finishing with a line #### N",
        "Quickly find the answer to the following problem reasoning carefully and end with #### answer",
        "Your task: work out the math problem below step by step and give only the final number after ####",
        "Now solve this exercise explaining each step, finishing with a line #### followed by the number",
        "I need you to calculate the result of this word problem, reasoning it through, then #### and the number",
        "Think through this arithmetic question one step at a time and close with #### plus the final answer",
        "Work the following problem out in steps; the last line must be #### then the numeric answer",
        "Compute the answer to the question below, show your working, and end on #### with the number",
        "Reason step by step about this math question and put the final number after #### on the last line",
    ]
    benign = [
        "Translate the following sentence into Spanish, keeping the tone informal",
        "Rewrite this paragraph so it sounds more formal and polite for a work email",
        "Give me three catchy titles for the blog post below about gardening",
        "List the ingredients mentioned in this recipe as a shopping list",
        "Turn these meeting notes into a short summary with action items",
        "Write a haiku inspired by the following travel diary entry",
        "Explain the following error message to a beginner programmer",
        "Suggest a witty reply to this message from my friend",
        "Convert this list of dates into ISO 8601 format",
        "Check this cover letter for spelling mistakes and awkward phrases",
    ]
    linked = _LinkedTracker(embedder)
    tracker = linked.tracker
    n = 0
    # a power user whose own wrapper says what the campaign's instructions say, among as
    # many prompts of his own: close in meaning, but not single-minded, so never linked
    lookalike = "Solve this math exercise step by step and give the final number after ####"
    for k in range(6):
        for a, (wording, wrapper) in enumerate(zip(wordings, benign)):
            sends = [
                (f"{wording}:\n\n{alpaca_texts[n]}", f"c{a}", f"co{a}"),
                (f"{wrapper}:\n\n{alpaca_texts[n + 1]}", f"b{a}", f"bo{a}"),
            ]
            if a < 4:  # the power user works alongside, half his prompts his wrapper
                sends.append((f"{lookalike}:\n\n{alpaca_texts[n + 2]}" if a % 2 else alpaca_texts[n + 2], "power", "po"))
            for text, account, org in sends:
                linked.send(text, account, org, T0 + k * 40 * MIN + a * MIN)
                n += 2
    assert linked.linker.linked >= 5
    campaign = tracker.match(signature(f"{wordings[0]}:\n\nA new problem about apples and pears."))
    assert campaign is not None
    features = tracker.features(campaign, T0 + 5 * HOUR, "newcomer")
    assert features.group is not None and features.group.templates >= 5 and features.group.worded_alike
    assert assess(features, None).flagged
    wrapper = tracker.match(signature(f"{benign[0]}:\n\nwhere is the train station"))
    assert wrapper is not None and len(tracker.group_templates(wrapper.template_id)) == 1
    assert not assess(tracker.features(wrapper, T0 + 5 * HOUR, "newcomer"), None).flagged
    power = tracker.match(signature(f"{lookalike}:\n\nA train leaves at noon at 60 mph; when does it arrive?"))
    assert power is not None and power.template_id not in tracker.group_templates(campaign.template_id)
    assert not _assess(tracker, f"{lookalike}:\n\nHow many legs do 3 spiders have?", "power", T0 + 5 * HOUR).flagged


# A browser extension many unrelated users send, and a scripted job a campaign's accounts send.
TOOL = "Sent from the WriteWell browser extension. Improve the clarity, grammar and tone of the selected text below and keep its meaning.\n\nSelected text: {}"
JOB = "You are a data labeler. Classify the sentiment of the review below as positive, negative or mixed and justify it in one sentence.\n\nReview: {}"


def _assert_tool_apart_job_flagged(
    tracker: TemplateTracker, tool_verdicts: list[CampaignAssessment], campaign: TemplateTracker,
    job_verdicts: list[CampaignAssessment], committed_jobs: int,
) -> None:
    """No tool user committed or flagged; the job's accounts committed and flagged."""
    tool_template = tracker.match(signature(TOOL.format("x")))
    assert tool_template is not None and tool_template.peek_activity().committed == 0
    assert not any(v.flagged for v in tool_verdicts)
    job_template = campaign.match(signature(JOB.format("x")))
    assert job_template is not None and job_template.peek_activity().committed >= committed_jobs
    assert any(v.flagged for v in job_verdicts)


def test_accounts_that_come_back_day_after_day_are_persistent(alpaca_texts: list[str]) -> None:
    """Twelve accounts fire two prompts of one template a day, in one sitting, and send
    nothing else: no window shows them keep at it, but the account book remembers they
    came back, so by the third day they are committed and the template is flagged.
    Twelve users of a browser tool do the same on their tool days, with as many prompts
    of their own on the days between: back too, but not single-minded, never committed."""
    campaign, tool = TemplateTracker(), TemplateTracker()
    helper = "Sent from the QuickAsk browser extension. Answer the user's selection below in plain language, briefly.\n\nSelection: {}"
    n = 0
    verdicts = []
    for day in range(3):
        for sitting in range(2):
            for a in range(12):
                t = T0 + day * 26 * HOUR + a * 3 * MIN + sitting * 5 * MIN
                verdicts.append((day, _assess(campaign, JOB.format(alpaca_texts[n]), f"c{a}", t)))
                _record(campaign, JOB.format(alpaca_texts[n]), f"c{a}", t, org=f"co{a}")
                # the tool users: tool days 0 and 2, their own questions on day 1
                _record(tool, helper.format(alpaca_texts[n]) if day != 1 else alpaca_texts[500 + n], f"u{a}", t, org=f"uo{a}")
                n += 1
    assert not any(v.flagged for day, v in verdicts if day == 0)  # one sitting proves nothing
    assert any(v.flagged for day, v in verdicts if day == 2)
    template = campaign.match(signature(JOB.format("x")))
    assert template is not None and template.peek_activity().committed >= 10
    tool_template = tool.match(signature(helper.format("x")))
    assert tool_template is not None and tool_template.peek_activity().committed == 0
    assert not _assess(tool, helper.format("what is a leap year"), "newcomer", T0 + 3 * 26 * HOUR).flagged


def test_an_instruction_and_its_translation_link_across_languages(embedder, alpaca_texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Accounts each keeping to one translation of an instruction: the model (trained on
    English) puts two translations lower than two paraphrases, so a pair in which either
    is not English has its own threshold. Each template is one dedicated account's; real
    model, real linker."""
    from promptprint.index.fingerprint import fingerprint_texts
    from promptprint.templates.tracker import SEMANTIC_CROSS_LINGUAL_COSINE, SEMANTIC_LINK_COSINE
    from promptprint.text.language import language

    # one instruction in Spanish and in German (the adversarial simulator's socratic_math)
    spanish = (
        "Resuelve el problema de abajo como lo haría un tutor socrático: hazte las preguntas guía que un estudiante "
        'debería hacerse, responde cada una y da la respuesta final en la última línea como "Final: <número>".'
    )
    german = (
        "Löse die folgende Aufgabe wie ein sokratischer Tutor: Stelle dir die Leitfragen, die sich ein Schüler stellen "
        'sollte, beantworte jede davon und gib das Endergebnis in der letzten Zeile als "Final: <Zahl>" an.'
    )
    assert (language(spanish), language(german), language("Summarize:")) == ("other", "other", "")
    assert language("Solve the problem below and give the final number on the last line") == "en"
    close = float(fingerprint_texts(embedder.embed, [spanish])[0] @ fingerprint_texts(embedder.embed, [german])[0])
    assert SEMANTIC_CROSS_LINGUAL_COSINE <= close < SEMANTIC_LINK_COSINE  # why the pair needs its own threshold

    linked = _LinkedTracker(embedder)
    tracker = linked.tracker
    n = 0
    for k in range(6):
        for account, wording in (("es", spanish), ("de", german)):
            linked.send(f"{wording}:\n\n{alpaca_texts[n]}", account, f"org-{account}", T0 + k * 10 * MIN + (account == "de") * MIN)
            n += 1
    template = tracker.match(signature(f"{spanish}:\n\nUn problema nuevo sobre peras."))
    translated = tracker.match(signature(f"{german}:\n\nEine neue Aufgabe."))
    assert template is not None and translated is not None and template.template_id != translated.template_id
    assert translated.template_id in tracker.group_templates(template.template_id)


@pytest.mark.parametrize(("start_hours", "joins"), [(8.5, True), (12.5, False)])
def test_an_account_keeping_to_its_own_translation_joins_the_wave_of_its_campaign(
    embedder, alpaca_texts: list[str], start_hours: float, joins: bool  # type: ignore[no-untyped-def]
) -> None:
    """A campaign's accounts each keep their own wording: three work in a first wave, two
    four hours later (linked to the first by wording). An account keeping to a Spanish
    translation starts ``start_hours`` after the first wave: the only instruction it
    embeds close to (0.46) is a first-wave account's, more than SEMANTIC_NEAR_HOURS from
    it, but the campaign's second wave is within them at 8.5 hours, and it joins the
    campaign; at 12.5 hours nothing of the campaign is near, and it stays alone. Real
    model, real linker."""
    wordings = [
        "Your task: work out the math problem below step by step and give only the final number after ####",
        "Please solve this exercise showing every step and give just the number at the end after ####",
        "Now solve this exercise explaining each step, finishing with a line #### followed by the number",
        "Go ahead and figure out the problem below with clear reasoning, finishing with a line #### N",
        "Quickly find the answer to the following problem reasoning carefully and end with #### answer",
    ]
    spanish = "Resuelve este ejercicio mostrando cada paso y da solo el número al final después de ####"
    linked = _LinkedTracker(embedder)
    tracker = linked.tracker
    n = 0
    schedule = [(a, wording, 0.0 if a < 3 else 4.0) for a, wording in enumerate(wordings)] + [(5, spanish, start_hours)]
    for a, wording, hours in schedule:
        for k in range(6):
            linked.send(f"{wording}:\n\n{alpaca_texts[n]}", f"c{a}", f"co{a}", T0 + int(hours * HOUR) + k * 8 * MIN + a * MIN)
            n += 1
    first = tracker.match(signature(f"{wordings[0]}:\n\nA new problem about apples and pears."))
    late = tracker.match(signature(f"{spanish}:\n\nUn problema nuevo sobre peras."))
    assert first is not None and late is not None
    group = tracker.group_templates(first.template_id)
    assert len(group) >= 5  # the two waves are one campaign
    assert (late.template_id in group) is joins


@pytest.mark.parametrize("embedded_meanwhile", [True, False])
def test_an_account_keeping_to_its_own_wording_links_with_the_siblings_of_a_later_wave(
    embedder, alpaca_texts: list[str], embedded_meanwhile: bool  # type: ignore[no-untyped-def]
) -> None:
    """An account keeping to its own wording works a first wave alone; its campaign's
    other accounts, each with its own wording, arrive in a wave 30 hours later, and it
    works that wave too. It joins them. Its instruction was embedded in the first wave
    and dropped once out of use, when other templates were embedded in between (an
    unrelated operation at hour 26, ``embedded_meanwhile``); it is embedded again when it
    comes back. (Before, a template was embedded once in its life: it never linked again.)
    Real model, real linker."""
    wordings = [
        "Your task: work out the math problem below step by step and give only the final number after ####",
        "Please solve this exercise showing every step and give just the number at the end after ####",
        "Now solve this exercise explaining each step, finishing with a line #### followed by the number",
        "Go ahead and figure out the problem below with clear reasoning, finishing with a line #### N",
    ]
    own = "Quickly find the answer to the following problem reasoning carefully and end with #### answer"
    unrelated = "Rewrite the customer review below as a formal complaint letter addressed to the store manager"
    linked = _LinkedTracker(embedder)
    tracker = linked.tracker
    n = 0
    schedule = [("own", own, 0.0)]
    if embedded_meanwhile:
        schedule.append(("other", unrelated, 26.0))
    schedule += [("own", own, 30.0)] + [(f"c{a}", wording, 30.0) for a, wording in enumerate(wordings)]
    for a, (account, wording, hours) in enumerate(schedule):
        for k in range(6):
            linked.send(f"{wording}:\n\n{alpaca_texts[n]}", account, f"o-{account}", T0 + int(hours * HOUR) + k * 8 * MIN + a * MIN)
            n += 1
    first = tracker.match(signature(f"{wordings[0]}:\n\nA new problem about apples and pears."))
    returning = tracker.match(signature(f"{own}:\n\nA new problem about pears."))
    assert first is not None and returning is not None
    group = tracker.group_templates(first.template_id)
    assert len(group) >= len(wordings)
    assert returning.template_id in group
    other = tracker.match(signature(f"{unrelated}:\n\nThe shoes fell apart."))
    assert other is None or other.template_id not in group


def test_two_operations_wording_alike_at_the_same_hours_stay_apart_by_their_answer_markers(embedder, alpaca_texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Two operations word one math task alike and work the same minutes: one's parser
    wants the answer after ``####``, the other's after ``Final:``. Each is linked into a
    group of its own wordings, and no template of one joins the other's. Real model,
    real linker."""
    hashes, finals = HASH_MARKED_WORDINGS, FINAL_MARKED_WORDINGS
    linked = _LinkedTracker(embedder)
    tracker = linked.tracker
    n = 0
    for k in range(6):
        for a, wording in enumerate(hashes + finals):
            linked.send(f"{wording}\n\n{alpaca_texts[n]}", f"c{a}", f"co{a}", T0 + k * 8 * MIN + a * MIN)
            n += 1
    ids = [tracker.match(signature(f"{wording}\n\nA new problem about apples and pears.")) for wording in hashes + finals]
    assert all(t is not None for t in ids)
    groups = [set(tracker.group_templates(t.template_id)) for t in ids if t is not None]
    own = [{t.template_id for t in ids[:3] if t is not None}, {t.template_id for t in ids[3:] if t is not None}]
    assert groups[0] == own[0] and groups[3] == own[1]


def test_accounts_of_one_org_keeping_to_different_translations_are_linked(alpaca_texts: list[str]) -> None:
    """An operation gives each account one translation of its instruction (the model puts
    some of them too far apart to link by wording) and keeps its accounts in a few
    throw-away orgs that each hold accounts of several translations: dedicated accounts of
    one org working in the same hours link their templates, and the group spans the orgs.
    A company org whose service accounts each keep to a pipeline of their own links the
    same way, and stays one org's traffic: never flagged."""
    variants = [
        "Produce a high-quality training example. First restate the instruction below in your own words, then write an ideal, detailed response.",
        "Produza um exemplo de treinamento de alta qualidade. Primeiro reescreva a instrução abaixo com suas próprias palavras, depois escreva uma resposta ideal.",
        "高品質なトレーニング例を作成してください。まず下の指示を自分の言葉で言い換え、次に理想的で詳しい回答を書いてください。",
        "Erstelle ein hochwertiges Trainingsbeispiel. Formuliere zuerst die folgende Anweisung mit eigenen Worten um, schreibe dann eine ideale Antwort.",
        "Produis un exemple d'entraînement de haute qualité. Reformule d'abord l'instruction ci-dessous avec tes propres mots, puis rédige une réponse idéale.",
        "Genera un esempio di addestramento di alta qualità. Prima riformula l'istruzione qui sotto con parole tue, poi scrivi una risposta ideale.",
    ]
    pipelines = [
        "You are the billing assistant of Acme Corp. Extract the invoice number, the amount and the due date from the email below as JSON.",
        "You are the support triage bot of Acme Corp. Label the ticket below as bug, question or feature request and give one reason.",
        "You are Acme Corp's release-notes writer. Turn the merged pull request titles below into three short bullet points for customers.",
        "You are Acme Corp's HR assistant. Rewrite the job posting below in plain, inclusive language without changing the requirements.",
    ]
    # (variant, org) per campaign account: each org holds accounts of several translations
    members = [(0, "opA"), (1, "opA"), (2, "opA"), (1, "opB"), (3, "opB"), (4, "opB"), (2, "opC"), (4, "opC"), (5, "opC"), (0, "opC")]
    tracker = TemplateTracker(semantic_links=False)
    n = 0
    early: list[CampaignAssessment] = []
    for k in range(6):  # six prompts per account, ten minutes apart, the accounts interleaved
        for a, (variant, org) in enumerate(members):
            t = T0 + k * 10 * MIN + a * 20_000
            text = f"{variants[variant]}\n\nInstruction: {alpaca_texts[n]}"
            if k == 1:
                early.append(_assess(tracker, text, f"op{a}", t))
            _record(tracker, text, f"op{a}", t, org=org)
            for p, pipeline in enumerate(pipelines):
                _record(tracker, f"{pipeline}\n\n{alpaca_texts[1000 + n * 4 + p]}", f"acme-svc{p}", t + 5_000, org="acme")
            n += 1
    assert not any(v.flagged for v in early)  # one prompt of each: nothing links yet
    end = T0 + 60 * MIN
    last = _assess(tracker, f"{variants[3]}\n\nInstruction: {alpaca_texts[n]}", "op4", end)
    assert last.flagged, last.reasons
    assert last.features is not None and last.features.group.org_linked >= 2
    assert any("accounts of one org" in r for r in last.reasons)
    # (the Japanese has too few words for a shingle template of its own)
    shingles = [tracker.match(signature(f"{v}\n\nInstruction: x")) for i, v in enumerate(variants) if i != 2]
    ids = {t.template_id for t in shingles if t is not None}
    assert len(ids) == len(variants) - 1 and ids <= set(tracker.group_templates(min(ids)))

    pipeline = tracker.match(signature(f"{pipelines[0]}\n\nx"))
    assert pipeline is not None and len(tracker.group_templates(pipeline.template_id)) == len(pipelines)
    company = _assess(tracker, f"{pipelines[0]}\n\n{alpaca_texts[2000]}", "acme-svc0", end)
    assert company.features is not None and company.features.group.top_org_volume == company.features.group.volume
    assert not company.flagged and company.score == 0.0


def test_a_campaign_account_sending_most_of_the_volume_leaves_it_spread_over_orgs(alpaca_texts: list[str]) -> None:
    """Three dedicated accounts of three throw-away orgs fill one specific wrapper; one
    sends thirty prompts, the other two five each. By prompts, 75% of the template is one
    org, as an org's own app is; by its dedicated accounts it is three orgs, and it is
    flagged. The same three accounts in one org stay that org's traffic: not flagged."""
    wrapper = (
        "Produce a high-quality training example. First restate the instruction below in your own words, "
        "then write an ideal, detailed response, then a short list of common mistakes a weaker model would make."
    )

    def run(orgs: list[str]) -> CampaignAssessment:
        tracker = TemplateTracker(semantic_links=False)
        n = 0
        for k in range(30):
            t = T0 + k * 3 * MIN
            senders = [0] + ([1, 2] if k % 6 == 0 else [])
            for a in senders:
                _record(tracker, f"{wrapper}\n\nInstruction: {alpaca_texts[n]}", f"op{a}", t + a * 20_000, org=orgs[a])
                n += 1
        return _assess(tracker, f"{wrapper}\n\nInstruction: {alpaca_texts[n]}", "op1", T0 + 91 * MIN)

    spread = run(["opA", "opB", "opC"])
    assert spread.features is not None
    g = spread.features.group
    assert g.top_org_volume / g.volume >= 0.7 and g.committed_in_orgs == 3 and g.committed_top_org == 1
    assert spread.flagged, spread.reasons
    assert any("dedicated accounts are of other orgs" in r for r in spread.reasons)
    one_org = run(["acme", "acme", "acme"])
    assert not one_org.flagged and one_org.score == 0.0, one_org.reasons


def test_power_users_linked_on_their_first_prompts_are_not_flagged_once_they_show_their_own_traffic(alpaca_texts: list[str]) -> None:
    """Six power users in three orgs each open with a burst of their wrapper (one popular
    wrapper, three of their own): single-minded on their first prompts, so their
    templates link by org. Then each sends as much of their own as of the wrapper: a
    group held by wording or an org counts only accounts single-minded now, so it is
    not a campaign any more (counted as first judged, it scored as one)."""
    popular = "Rewrite the following for a non-technical audience, keeping every fact and number exactly as it is:"
    own = {
        "u1": "Turn the notes below into a friendly LinkedIn post with a short hook and three hashtags at the end:",
        "u3": "Make the following paragraph clearer and more concise without dropping any of its arguments:",
        "u4": "Convert the text below into a bulleted list of key takeaways, one line each, most important first:",
    }
    users = {"u0": ("org-a", popular), "u1": ("org-a", own["u1"]), "u2": ("org-b", popular),
             "u3": ("org-b", own["u3"]), "u4": ("org-c", own["u4"]), "u5": ("org-c", popular)}
    tracker = TemplateTracker(semantic_links=False)
    n = 0
    t = T0
    for k in range(6):  # the opening bursts: nothing but the wrapper
        for account, (org, wrapper) in users.items():
            t += MIN
            _record(tracker, f"{wrapper}\n\n{alpaca_texts[n]}", account, t, org=org)
            n += 1
    wrapper_template = tracker.match(signature(f"{popular}\n\nx"))
    assert wrapper_template is not None and len(tracker.group_templates(wrapper_template.template_id)) == 4
    opening = _assess(tracker, f"{popular}\n\n{alpaca_texts[n]}", "u0", t + MIN)
    assert opening.flagged  # on their first prompts they look like one operation
    for k in range(8):  # then their own traffic, as much as the wrapper
        for account, (org, wrapper) in users.items():
            t += 5 * MIN
            _record(tracker, alpaca_texts[3000 + n], account, t, org=org)
            if k % 2:
                _record(tracker, f"{wrapper}\n\n{alpaca_texts[n]}", account, t + MIN, org=org)
            n += 1
    later = _assess(tracker, f"{popular}\n\n{alpaca_texts[n]}", "u0", t + MIN)
    assert later.features is not None and later.features.group.templates == 4
    assert not later.flagged and later.features.group.committed_accounts == 0, later.reasons


def test_tool_users_whose_own_prompts_are_popular_copies_are_not_committed(alpaca_texts: list[str]) -> None:
    """Eight users of one browser extension each use it twice, three hours apart, and in
    between send two everyday prompts that many people send word for word (popular
    questions: they join shared templates too). The copies are not counted as shared
    traffic, so each user's window is half tool, half own: two uses in two sittings are
    not a commitment then, and the tool is not flagged. Eight scripted accounts that send
    the same two sittings of a job and nothing else are committed, and flagged."""
    popular = [alpaca_texts[900 + k] for k in range(2)]
    tracker, campaign = TemplateTracker(semantic_links=False), TemplateTracker(semantic_links=False)
    n = 0
    for k in range(30):  # the popular questions, word for word, from people of their own
        _record(tracker, popular[k % 2], f"crowd{k}", T0 + k * MIN, org=f"co{k}")
    tool_verdicts, job_verdicts = [], []
    for a in range(8):
        t = T0 + HOUR + a * 4 * MIN
        for step, text in enumerate([TOOL.format(alpaca_texts[n]), popular[0], popular[1], TOOL.format(alpaca_texts[n + 1])]):
            at = t + step * HOUR
            tool_verdicts.append(_assess(tracker, text, f"u{a}", at))
            _record(tracker, text, f"u{a}", at, org=f"uo{a}")
        for step in (0, 3):
            at, text = t + step * HOUR, JOB.format(alpaca_texts[n + step])
            job_verdicts.append(_assess(campaign, text, f"c{a}", at))
            _record(campaign, text, f"c{a}", at, org=f"jo{a}")
        n += 4
    _assert_tool_apart_job_flagged(tracker, tool_verdicts, campaign, job_verdicts, committed_jobs=6)


def test_a_tool_users_busy_day_is_not_a_commitment(alpaca_texts: list[str]) -> None:
    """Six users of one browser extension each have a busy hour: five tool prompts among
    four of their own (more than half their day, in one sitting). That is not a
    commitment, and the tool is not flagged. Six scripted accounts that send the job four
    times among one prompt of their own are committed, and flagged."""
    tracker, campaign = TemplateTracker(semantic_links=False), TemplateTracker(semantic_links=False)
    n = 0
    tool_verdicts, job_verdicts = [], []
    for a in range(6):
        t = T0 + a * 7 * MIN
        day = [TOOL.format(alpaca_texts[n + k]) if k % 2 == 0 else alpaca_texts[3000 + n + k] for k in range(9)]
        for step, text in enumerate(day):
            tool_verdicts.append(_assess(tracker, text, f"u{a}", t + step * MIN))
            _record(tracker, text, f"u{a}", t + step * MIN, org=f"uo{a}")
        script = [JOB.format(alpaca_texts[n + k]) for k in range(4)] + [alpaca_texts[4000 + n]]
        for step, text in enumerate(script):
            job_verdicts.append(_assess(campaign, text, f"c{a}", t + step * MIN))
            _record(campaign, text, f"c{a}", t + step * MIN, org=f"jo{a}")
        n += 9
    _assert_tool_apart_job_flagged(tracker, tool_verdicts, campaign, job_verdicts, committed_jobs=5)


def test_a_document_a_campaign_pasted_is_payload_for_a_user_who_pastes_it_too(embedder, alpaca_texts: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A short-wrapper campaign (12 accounts, one instruction line over a different
    document each time, a second line in its second sitting) has four of its accounts
    paste one public document in both sittings, which links the document's template into
    the campaign. A user then pastes that document under an instruction other people use
    too. Through CheckPrompt (a real index): the document's template is mostly constant
    and now comes under another line, so it is payload and the user is judged by his own
    line, not flagged. A campaign account pasting it under the campaign's line is flagged."""
    from promptprint.index.config import IndexConfig
    from promptprint.index.prompt_index import PromptIndex
    from promptprint.records import PromptRecord

    index = PromptIndex.open(IndexConfig(data_dir=tmp_path / "d", tier="fingerprint", semantic_links=False), embedder)
    lines = ["Extract the main claims:\n\n", "List every claim it makes:\n\n"]
    key_points = "Key points of this text, please:\n\n"
    document = _paste(alpaca_texts, 4000)
    try:
        for u in range(3):  # people who use the user's instruction too, each once
            index.check(PromptRecord(f"o-{u}", f"other{u}", f"oo{u}", T0 + u * MIN, key_points + _paste(alpaca_texts, 3000 + u)), store=True)
        n = 0
        for sitting in range(2):
            for k in range(4):
                for a in range(12):
                    t = T0 + HOUR + sitting * 3 * HOUR + (k * 12 + a) * MIN
                    pasted = a < 4 and k == 3
                    text = (lines[0] + document) if pasted else lines[sitting] + _paste(alpaca_texts, n)
                    index.check(PromptRecord(f"c-{n}", f"c{a}", f"co{a // 2}", t, text), store=True)
                    n += 1
        now = T0 + 8 * HOUR
        template = index._templates.match(signature(lines[0] + document))  # the document's template
        assert template is not None and len(index._templates.group_templates(template.template_id)) >= 2
        assert template.pasted_document(signature(key_points + document)) and not template.pasted_document()
        user = index.check(PromptRecord("u-1", "user", "uo", now, key_points + document), store=True)
        assert not user.campaign.flagged, user.campaign.reasons
        assert user.campaign.features is not None and user.campaign.features.kind == "line"
        member = index.check(PromptRecord("c-x", "c5", "co2", now + MIN, lines[1] + document), store=True)
        assert member.campaign.flagged and member.campaign.features is not None and member.campaign.features.kind == "line"
    finally:
        index.close()


def test_a_flagged_campaigns_dedicated_accounts_are_its_accounts_after_they_pivot(embedder, alpaca_texts: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An operation's first three accounts (one org) send its template in an evening
    sitting, before anything flags it (one org's traffic); the next morning twelve more join and it is flagged. Two
    days later the first three pivot to a new template, which has no evidence of its own
    yet. Through CheckPrompt (a real index): their new prompts are flagged, as the
    accounts of a campaign they were dedicated to when it was flagged, and
    GetAccountAssessment's verdict says so. A user who sent the campaign's template once
    among prompts of his own (not dedicated) is not marked; nor is anyone when the
    template is allow-listed before the pivot."""
    from promptprint.index.config import IndexConfig
    from promptprint.index.prompt_index import PromptIndex
    from promptprint.records import PromptRecord

    old = "You are an expert data analyst. Reason step by step about the following task and give your final answer after 'ANSWER:'.\n\nTask: {}"
    new = "Act as a meticulous grader. Rewrite the answer below into an ideal reference solution, then rate the original from 1 to 10.\n\nAnswer: {}"
    payloads = iter(alpaca_texts)

    def run(allow_first: bool) -> tuple[list[bool], bool, bool]:
        index = PromptIndex.open(IndexConfig(data_dir=tmp_path / f"d{allow_first}", tier="fingerprint", semantic_links=False), embedder)
        try:
            n = 0

            def send(account: str, t: int, text: str) -> bool:
                nonlocal n
                n += 1
                org = "o-first" if account.startswith("first") else f"o-{account}"  # the first three: one throw-away org
                return index.check(PromptRecord(f"p-{n}", account, org, t, text), store=True).campaign.flagged

            for k in range(6):  # the evening: three accounts, six prompts each
                for a in range(3):
                    assert not send(f"first{a}", T0 + 20 * HOUR + (k * 3 + a) * 2 * MIN, old.format(next(payloads)))
            for j in range(8):
                send("user", T0 + 21 * HOUR + j * 5 * MIN, next(payloads))
            send("user", T0 + 22 * HOUR, old.format(next(payloads)))
            flagged = []
            for k in range(4):  # the next morning: twelve more
                for a in range(12):
                    flagged.append(send(f"later{a}", T0 + 33 * HOUR + (k * 12 + a) * 2 * MIN, old.format(next(payloads))))
            assert any(flagged)
            if allow_first:
                index.add_bank_entry("allow", old.format(""), "our own evaluation harness")
            pivot = [send(f"first{a}", T0 + 70 * HOUR + a * MIN, new.format(next(payloads))) for a in range(3)]
            user = send("user", T0 + 70 * HOUR + 5 * MIN, next(payloads))
            verdict = index.assess_account("first0")
            return pivot, user, verdict.flagged and any("dedicated to campaign group" in r for r in verdict.reasons)
        finally:
            index.close()

    assert run(allow_first=False) == ([True, True, True], False, True)
    assert run(allow_first=True) == ([False, False, False], False, False)


@pytest.mark.parametrize(("lag_minutes", "linked_in_the_sitting"), [(1, True), (10, False)])
def test_a_fast_replay_has_its_links_by_wording_about_when_live_traffic_would(
    embedder, alpaca_texts: list[str], tmp_path, lag_minutes: int, linked_in_the_sitting: bool  # type: ignore[no-untyped-def]
) -> None:
    """Four campaign accounts, each its own wording of one instruction, work one sitting,
    a prompt each every two minutes, checked through a real index as fast as a replay
    sends them. Live, a template is linked within a second of qualifying (its fourth
    prompt); a replay waits for the link once the template has waited ``link_lag_ms`` of
    the traffic's own clock. At the default minute the sitting's later prompts are judged
    with the group, as live; at ten minutes the whole sitting was judged without it. (The
    linker's thread is stopped, so only the replay's wait links.)"""
    from promptprint.index.config import IndexConfig
    from promptprint.index.prompt_index import PromptIndex
    from promptprint.records import PromptRecord

    assert IndexConfig(data_dir=tmp_path).link_lag_ms == MIN  # the default
    wordings = [
        "Your task: work out the math problem below step by step and give only the final number after ####",
        "Please solve this exercise showing every step and give just the number at the end after ####",
        "Now solve this exercise explaining each step, finishing with a line #### followed by the number",
        "Go ahead and figure out the problem below with clear reasoning, finishing with a line #### N",
    ]
    index = PromptIndex.open(IndexConfig(data_dir=tmp_path / "d", tier="fingerprint", link_lag_ms=lag_minutes * MIN), embedder)
    try:
        assert index._linker is not None
        index._linker.close()
        last = []
        n = 0
        for k in range(8):
            for a, wording in enumerate(wordings):
                record = PromptRecord(f"c-{n}", f"c{a}", f"co{a}", T0 + k * 2 * MIN + a * 10_000, f"{wording}\n\n{alpaca_texts[n]}")
                verdict = index.check(record, store=True)
                n += 1
                if k == 7:
                    last.append(verdict)
        grouped = [v.campaign.features is not None and v.campaign.features.group.templates > 1 for v in last]
        assert all(grouped) is linked_in_the_sitting, [v.campaign.reasons for v in last]
    finally:
        index.close()


def test_accounts_that_word_every_prompt_afresh_are_one_campaign_by_what_they_ask(  # type: ignore[no-untyped-def]
    embedder, alpaca_texts: list[str], gsm8k_questions: list[str], own_texts: list[str], tmp_path
) -> None:
    """Eight new accounts (an org each) work one evening, seven prompts each, and every
    prompt words the operation's instruction afresh (a paraphrasing model in the loop)
    over a math question of one dataset: no wording repeats as a template would. Through
    CheckPrompt (a real index, the real model on its linker): each account gets a task
    once five of its prompts ask for one thing over one kind of payload, the tasks link
    by what they ask, and the accounts' later prompts are flagged as the group's;
    GetAccountAssessment flags them too. In the same hours, eight ordinary users asking
    seven unrelated things each get no task, and neither do six people who each ask for
    grammar fixes in their own words every time, over texts of their own."""
    from promptprint.index.config import IndexConfig
    from promptprint.index.prompt_index import PromptIndex
    from promptprint.records import PromptRecord
    from promptprint.text.lines import instruction_and_payload

    openers = ["", "Hi, ", "Please ", "For my dataset, ", "Okay, ", "Quick one: ", "I'd like you to ", "Now "]
    verbs = [
        "write three different solutions to", "give two independent ways to solve", "produce alternative approaches for",
        "come up with several methods that solve", "show multiple solution paths for", "work out in more than one way",
        "offer a few distinct ways of answering", "list some separate strategies for",
    ]
    objects = ["the word problem below", "this math question", "the following exercise", "this task", "the problem that follows"]
    formats = ["and answer in JSON.", "as a JSON array of strings.", "returning a JSON list.", "formatted as JSON with a solutions key."]
    asks = ["Could you", "Please", "Hey, can you", "I need you to", "Quick favour:", "Pls", "Can u", ""]
    fixes = ["fix the grammar in", "correct any grammar mistakes in", "proofread and fix", "clean up the grammar of", "go over"]
    texts = ["this paragraph of mine", "what I wrote", "the following", "my draft below", "this text"]
    payloads, questions, pastes = iter(alpaca_texts), iter(gsm8k_questions), iter(own_texts)
    index = PromptIndex.open(IndexConfig(data_dir=tmp_path / "d", tier="fingerprint"), embedder)
    try:
        n = 0
        verdicts: dict[str, list[bool]] = {}

        def send(account: str, t: int, text: str) -> None:
            nonlocal n
            n += 1
            verdict = index.check(PromptRecord(f"p-{n}", account, f"o-{account}", t, text), store=True)
            verdicts.setdefault(account, []).append(verdict.campaign.flagged)

        for k in range(7):
            for a in range(8):
                t = T0 + 20 * HOUR + (k * 8 + a) * 3 * MIN
                i = k * 8 + a
                wording = f"{openers[i % 8]}{verbs[(i * 3 + k) % 8]} {objects[(i + a) % 5]} {formats[(i + k) % 4]}"
                send(f"camp{a}", t, f"{wording}\n\n{next(questions)}")
                send(f"user{a}", t + MIN, next(payloads))
                if a < 6 and k < 6:
                    ask = f"{asks[(k + a) % 8]} {fixes[(k + 2 * a) % 5]} {texts[(2 * k + a) % 5]}".strip()  # never twice alike
                    send(f"writer{a}", t + 2 * MIN, f"{ask}\n\n{next(pastes)}")
        assert instruction_and_payload("Could you fix the grammar in this? my essay") == ("Could you fix the grammar in this?", "my essay")
        assert all(verdicts[f"camp{a}"][-1] for a in range(8)), verdicts
        assert not any(any(verdicts[f"user{a}"]) for a in range(8))
        assert not any(any(verdicts[f"writer{a}"]) for a in range(6))
        assert sum(index._templates.task_of(f"camp{a}") is not None for a in range(8)) >= 6, [index._templates.task_of(f"camp{a}") for a in range(8)]
        assert not any(index._templates.task_of(f"{who}{a}") for who in ("user", "writer") for a in range(6)), [(w, a) for w in ("user", "writer") for a in range(6) if index._templates.task_of(f"{w}{a}")]
        assessment = index.assess_account("camp3")
        assert assessment.flagged, assessment.reasons
    finally:
        index.close()
