"""The promotion rule of a retraining run, without training anything: the margin on the holdout
F1 macro (``margin_verdict``), and the decision made with the policy locked (``_decide``)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from retraining.models import Promotion, RetrainPolicy, RetrainRun
from retraining.services import _decide, margin_verdict
from tests.api.factories import ready_dataset, ready_model


@pytest.mark.parametrize(
    ("new", "old", "margin", "promote"),
    [
        (0.80, 0.70, 0.0, True),  # any gain above 0
        (0.70, 0.70, 0.0, False),  # a tie keeps the champion, even with no margin
        (0.69, 0.70, 0.0, False),
        (0.80, 0.70, 0.10, True),  # the gain reaches the margin
        (0.3, 0.2, 0.1, True),  # 0.3 - 0.2 == 0.09999999999999998: equal but for rounding
        (0.79, 0.70, 0.10, False),
        (0.70, 0.80, -0.2, False),  # a negative margin never lets a worse model in
    ],
)
def test_the_gain_must_be_above_zero_and_reach_the_margin(new, old, margin, promote):
    assert margin_verdict(new=new, old=old, margin=margin)[0] is promote


def test_the_reason_says_what_was_compared():
    assert margin_verdict(new=0.9, old=0.75, margin=0.05) == (
        True,
        "holdout F1 macro 0.9000 vs champion 0.7500 (+0.1500 ≥ margin 0.05)",
    )
    assert margin_verdict(new=0.76, old=0.75, margin=0.05) == (
        False,
        "holdout F1 macro 0.7600 vs champion 0.7500 (+0.0100); needs a gain of at least 0.05 and above 0: "
        "champion kept",
    )


@pytest.fixture
def policy_and_models(alice):
    dataset = ready_dataset(alice)
    champion, challenger = ready_model(alice, dataset=dataset), ready_model(alice, dataset=dataset)
    policy = RetrainPolicy.objects.create(
        owner=alice, name="nightly", dataset_params={}, labels_since=timezone.now(), margin=0.05, champion=champion
    )
    run = RetrainRun.objects.create(policy=policy, owner=alice, trigger=RetrainRun.Trigger.MANUAL)
    return policy, run, champion, challenger


def decide(policy, run, champion, challenger, champion_f1, challenger_f1):
    return _decide(
        policy=policy,
        run=run,
        champion=champion,
        challenger=challenger,
        champion_metrics=champion_f1 if isinstance(champion_f1, dict) else {"f1_macro": champion_f1},
        challenger_metrics={"f1_macro": challenger_f1},
    )


@pytest.mark.django_db
def test_a_challenger_over_the_margin_becomes_champion_with_a_promotion_row(policy_and_models):
    policy, run, champion, challenger = policy_and_models
    decision, reason = decide(policy, run, champion, challenger, 0.70, 0.80)
    assert decision == RetrainRun.Decision.PROMOTED and reason.endswith("(+0.1000 ≥ margin 0.05)")
    policy.refresh_from_db()
    assert policy.champion == challenger
    promotion = Promotion.objects.get(policy=policy)
    assert (promotion.action, promotion.model, promotion.previous, promotion.run) == (
        Promotion.Action.PROMOTE,
        challenger,
        champion,
        run,
    )


@pytest.mark.django_db
def test_a_challenger_under_the_margin_leaves_everything_as_it_was(policy_and_models):
    policy, run, champion, challenger = policy_and_models
    decision, reason = decide(policy, run, champion, challenger, 0.70, 0.74)
    assert decision == RetrainRun.Decision.KEPT and reason.endswith("champion kept")
    policy.refresh_from_db()
    assert policy.champion == champion and not Promotion.objects.exists()


@pytest.mark.django_db
def test_no_champion_or_one_that_cannot_be_scored_is_replaced(policy_and_models):
    policy, run, champion, challenger = policy_and_models
    decision, reason = decide(policy, run, champion, challenger, {"error": "lacks the model's columns x"}, 0.1)
    assert decision == RetrainRun.Decision.PROMOTED
    assert reason == "the champion could not be evaluated (lacks the model's columns x): promoted"

    RetrainPolicy.objects.filter(pk=policy.pk).update(champion=None)
    decision, reason = decide(policy, run, None, champion, {}, 0.5)
    assert (decision, reason) == (
        RetrainRun.Decision.PROMOTED,
        f"no champion yet: promoted ({champion.version_label}, holdout F1 macro 0.5000)",
    )


@pytest.mark.django_db
def test_a_champion_changed_while_the_run_trained_is_not_overruled(policy_and_models, alice):
    policy, run, champion, challenger = policy_and_models
    chosen_by_hand = ready_model(alice, dataset=champion.dataset)
    RetrainPolicy.objects.filter(pk=policy.pk).update(champion=chosen_by_hand)
    decision, reason = decide(policy, run, champion, challenger, 0.1, 0.9)
    assert (decision, reason) == (
        RetrainRun.Decision.KEPT,
        "the champion changed while this run trained; not promoted",
    )
    assert RetrainPolicy.objects.get(pk=policy.pk).champion == chosen_by_hand
